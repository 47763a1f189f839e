// Tina's column normalisation (tina/post_train_hf/grpo.py; reference/tina-recipe.md §1.3), in its
// order: answer→$answer$ solution when there is no solution; question/prompt→problem; drop messages;
// DeepScaleR keeps its worked solution as solution_archive and grades against $answer$; Tina's
// 2thought recipe (II-Thought) takes the problem from messages[0].content and the gold from the JSON
// verification_info's answer.value. open-r1 names the problem column instead (dataset_prompt_column).
//
// A row that does not fit the mapping (no problem / solution column, a problem that is not a
// non-empty string, a solution or answer that is not a string or a finite number) is an ERROR naming
// the row's file and line, not a skipped row: a dataset whose columns do not fit is the wrong dataset
// or the wrong dataset_id, and silently dropping its rows would change what the run trains on.
// (Lines that are not JSON objects at all are skipped and counted by the readers instead.)
import type { Row } from './jsonl.js';
import { rowOrigin } from './provenance.js';

export interface TinaRow extends Row {
  problem: string;
  solution: string;
}

function wrapDollar(v: unknown): string {
  return '$' + String(v) + '$';
}

const isGold = (v: unknown): v is string | number =>
  typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
const describe = (v: unknown): string =>
  v === null
    ? 'null'
    : v === undefined
      ? 'nothing'
      : Array.isArray(v)
        ? 'an array'
        : typeof v === 'string'
          ? 'an empty string'
          : typeof v === 'number'
            ? String(v)
            : `a ${typeof v}`;

export type ColumnMapping = 'auto' | 'tina' | 'deepscaler' | 'ii_thought';

export interface ColumnOptions {
  /** Which of Tina's mappings (default 'auto': 'deepscaler' when the id contains it, else 'tina'). */
  mapping?: ColumnMapping;
  /** The problem column (open-r1's dataset_prompt_column); null/undefined = Tina's problem/question/prompt. */
  promptColumn?: string | null;
}

/** Map one row; errors name the row (index, and file:line when a reader made it) and the columns it does have. */
export function mapTinaRow(row: Row, datasetId: string, index = 0, opts: ColumnOptions = {}): TinaRow {
  const origin = rowOrigin(row);
  const where = `dataset ${datasetId} row ${index}${origin ? ` (${origin})` : ''}`;
  const has = `(has: ${Object.keys(row).join(', ') || 'no columns'})`;
  const mapping =
    opts.mapping === undefined || opts.mapping === 'auto'
      ? datasetId.toLowerCase().includes('deepscaler')
        ? 'deepscaler'
        : 'tina'
      : opts.mapping;
  const r: Row = { ...row };
  if (mapping === 'ii_thought') mapIiThought(r, where, has);
  if (opts.promptColumn) {
    if (!(opts.promptColumn in r))
      throw new Error(`${where}: no column "${opts.promptColumn}" (data.prompt_column) ${has}`);
    r.problem = r[opts.promptColumn];
  }
  if (!('solution' in r) && 'answer' in r) {
    if (!isGold(r.answer))
      throw new Error(`${where}: column "answer" must be a string or a number, got ${describe(r.answer)}`);
    r.solution = wrapDollar(r.answer);
    delete r.answer;
  }
  if (!('problem' in r)) {
    if ('question' in r) {
      r.problem = r.question;
      delete r.question;
    } else if ('prompt' in r) {
      r.problem = r.prompt;
      delete r.prompt;
    }
  }
  delete r.messages;
  if (mapping === 'deepscaler') {
    if (!('answer' in r)) throw new Error(`${where}: DeepScaleR rows need an "answer" column ${has}`);
    if (!isGold(r.answer))
      throw new Error(`${where}: column "answer" must be a string or a number, got ${describe(r.answer)}`);
    r.solution_archive = r.solution;
    r.solution = wrapDollar(r.answer);
    delete r.answer;
  }
  if (r.problem === undefined) throw new Error(`${where}: no string problem/question/prompt column ${has}`);
  if (typeof r.problem !== 'string' || r.problem.trim() === '')
    throw new Error(
      `${where}: the problem (column problem/question/prompt) must be a non-empty string, got ${typeof r.problem === 'string' ? 'an empty string' : describe(r.problem)}`,
    );
  if (r.solution === undefined || r.solution === null) throw new Error(`${where}: no solution/answer column ${has}`);
  if (!isGold(r.solution) || (typeof r.solution === 'string' && r.solution.trim() === '')) {
    throw new Error(`${where}: column "solution" must be a non-empty string or a number, got ${describe(r.solution)}`);
  }
  r.solution = String(r.solution);
  return r as TinaRow;
}

export function mapTinaColumns(rows: readonly Row[], datasetId: string, opts: ColumnOptions = {}): TinaRow[] {
  return rows.map((row, i) => mapTinaRow(row, datasetId, i, opts));
}

/** Tina's 2thought mapping: problem = messages[0].content, solution = "$" + verification_info.answer.value + "$". */
function mapIiThought(r: Row, where: string, has: string): void {
  const first = Array.isArray(r.messages) ? (r.messages[0] as { content?: unknown } | undefined) : undefined;
  if (!first || typeof first.content !== 'string')
    throw new Error(`${where}: the 2thought mapping needs messages[0].content (a string) ${has}`);
  let info: unknown = r.verification_info;
  if (typeof info === 'string') {
    try {
      info = JSON.parse(info);
    } catch (err) {
      throw new Error(`${where}: column "verification_info" is not JSON: ${(err as Error).message}`);
    }
  }
  const value = (info as { answer?: { value?: unknown } } | null)?.answer?.value;
  if (!isGold(value))
    throw new Error(`${where}: verification_info.answer.value must be a string or a number, got ${describe(value)}`);
  r.problem = first.content;
  r.solution = wrapDollar(value);
  delete r.verification_info;
}

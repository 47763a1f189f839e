// Tina's column normalisation (tina/post_train_hf/grpo.py; reference/tina-recipe.md §1.3), in its
// order: answer→$answer$ solution when there is no solution; question/prompt→problem; drop messages;
// DeepScaleR keeps its worked solution as solution_archive and grades against $answer$.
import type { Row } from './jsonl.js';

export interface TinaRow extends Row {
  problem: string;
  solution: string;
}

function wrapDollar(v: unknown): string {
  return '$' + String(v) + '$';
}

/** Map one row; errors name the row index and the columns it does have. */
export function mapTinaRow(row: Row, datasetId: string, index = 0): TinaRow {
  const r: Row = { ...row };
  if (!('solution' in r) && 'answer' in r) {
    r.solution = wrapDollar(r.answer);
    delete r.answer;
  }
  if (!('problem' in r)) {
    if ('question' in r) { r.problem = r.question; delete r.question; }
    else if ('prompt' in r) { r.problem = r.prompt; delete r.prompt; }
  }
  delete r.messages;
  if (datasetId.toLowerCase().includes('deepscaler')) {
    if (!('answer' in r)) throw new Error(`dataset ${datasetId} row ${index}: DeepScaleR rows need an "answer" column (has: ${Object.keys(row).join(', ')})`);
    r.solution_archive = r.solution;
    r.solution = wrapDollar(r.answer);
    delete r.answer;
  }
  if (typeof r.problem !== 'string') throw new Error(`dataset ${datasetId} row ${index}: no string problem/question/prompt column (has: ${Object.keys(row).join(', ')})`);
  if (r.solution === undefined || r.solution === null) throw new Error(`dataset ${datasetId} row ${index}: no solution/answer column (has: ${Object.keys(row).join(', ')})`);
  r.solution = String(r.solution);
  return r as TinaRow;
}

export function mapTinaColumns(rows: readonly Row[], datasetId: string): TinaRow[] {
  return rows.map((row, i) => mapTinaRow(row, datasetId, i));
}

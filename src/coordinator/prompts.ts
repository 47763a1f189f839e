// Prompt sources for training: a synthetic task (the tiny default) or a dataset with Tina's column
// mapping. Each yields PromptItems (token ids through the model's chat template, plus the gold
// solution the rewards need) from a seeded, checkpointable stream.
//
// A dataset is checked whole when it is loaded, before any step: every row is rendered and tokenized
// once, so a row longer than the prompt limit is truncated (TRL: its last max_prompt_length tokens)
// or skipped (data.overlong_prompts), and text the tokenizer cannot encode is refused or counted
// (data.unencodable_text), with a count and the first file:line. A run never aborts mid-way on a row.
import { basename } from 'node:path';
import { createTaskSampler, type TaskSamplerState } from '../data/tasks/index.js';
import { loadDataset, type LoadedDataset } from '../data/hf-dataset.js';
import { mapTinaColumns, type TinaRow } from '../data/tina-columns.js';
import { rowOrigin } from '../data/provenance.js';
import { buildTinaPrompt, renderChat, SYSTEM_PROMPTS, systemPromptFor } from '../data/prompts.js';
import { Rng } from '../util/rng.js';
import { createRepeatSampler, type RepeatSamplerState } from '../data/sampler.js';
import type { ModelTokenizer } from '../model/tokenizer.js';
import { describeLost, encodePrompt } from '../model/encodable.js';
import type { DataSection } from './config.js';
import type { PromptItem } from './grpo-loop.js';

export interface PromptSource {
  next(count: number): PromptItem[];
  state(): unknown;
  describe: string;
  /** Rows in the dataset (undefined for endless synthetic tasks). */
  size?: number;
  /** Malformed dataset lines that were skipped, for the run's log (file:line: why). */
  skipped?: string[];
}

/** What loading found, for the run's log and `check`. */
export interface PromptLoadReport {
  /** Lines of the log: skipped malformed lines, truncated / skipped over-long rows, lossy rows. */
  notes: string[];
  overlong: number;
  unencodable: number;
}

export interface PromptData {
  describe: string;
  size?: number;
  report: PromptLoadReport;
  /** A seeded stream over the prompts (from a checkpoint's sampler state when resuming). */
  source(seed: number, resume?: unknown): PromptSource;
}

export interface PromptLimits {
  /** Most prompt tokens: min(grpo.max_prompt_length, context − grpo.max_completion_length). */
  maxPromptTokens: number;
  /** Which knob sets the limit, for messages. */
  limitField: string;
}

type TaskData = Extract<DataSection, { source: 'task' }>;
type DatasetData = Extract<DataSection, { source: 'dataset' }>;
type RenderPrompt = (problem: string, target?: number) => string;

/** Load and check the prompts (the whole dataset, once). Throws naming file:line for refused text. */
export async function preparePrompts(
  data: DataSection,
  tok: ModelTokenizer,
  limits: PromptLimits,
): Promise<PromptData> {
  if (data.source === 'task') return taskPrompts(data, tok, limits.maxPromptTokens);
  return datasetPrompts(data, tok, limits);
}

/** A synthetic task: endless, nothing to check up front. */
function taskPrompts(data: TaskData, tok: ModelTokenizer, limit: number): PromptData {
  return {
    describe: `synthetic task '${data.task}' (train split)`,
    report: { notes: [], overlong: 0, unencodable: 0 },
    source: (seed, resume) => taskSource(data, tok, limit, seed, resume),
  };
}

function taskSource(data: TaskData, tok: ModelTokenizer, limit: number, seed: number, resume: unknown): PromptSource {
  const sampler = createTaskSampler(
    { family: data.task, levels: data.levels, split: 'train', seed },
    resume as TaskSamplerState | undefined,
  );
  let index = (resume as TaskSamplerState | undefined)?.drawn ?? 0;
  return {
    describe: `synthetic task '${data.task}' (train split)`,
    next(count) {
      const out: PromptItem[] = [];
      for (let i = 0; i < count; i++) {
        const item = sampler.next();
        const p = encodePrompt(
          tok,
          tok.applyChatTemplate([{ role: 'user', content: item.prompt }], { addGenerationPrompt: true }),
          limit,
        );
        out.push({ index: index++, ids: p.ids, text: item.prompt, promptText: p.text, solution: item.solution });
      }
      return out;
    },
    state: () => sampler.state(),
  };
}

/** A loaded, checked dataset: what its stream draws from. */
interface CheckedDataset {
  data: DatasetData;
  tok: ModelTokenizer;
  limit: number;
  describe: string;
  loaded: LoadedDataset;
  mapped: TinaRow[];
  /** Indices into `mapped` of the rows that train (over-long rows left out under "skip"). */
  keep: number[];
  render: RenderPrompt;
}

/** What the whole-dataset pass found: the rows kept, and counts with the first of each kind for the log. */
interface RowScan {
  keep: number[];
  overlong: number;
  firstOverlong: string;
  unencodable: number;
  firstLossy: string;
}

async function datasetPrompts(data: DatasetData, tok: ModelTokenizer, limits: PromptLimits): Promise<PromptData> {
  const limit = limits.maxPromptTokens;
  // A dataset with Tina's column mapping, system prompt rule and chat template (the model's own bos token).
  const id = data.dataset_id ?? basename(data.path);
  const loaded = await loadDataset(data.path, { split: 'train' });
  if (loaded.rows.length === 0)
    throw new Error(`data.path ${data.path}: no rows found (files: ${loaded.files.join(', ') || 'none'})`);
  const mapped = mapTinaColumns(loaded.rows, id, { mapping: data.column_mapping, promptColumn: data.prompt_column });
  const render = promptRenderer(data, tok, systemPromptOf(data, id));
  const scan = scanRows(data, tok, limit, loaded, mapped, render);
  if (scan.keep.length === 0)
    throw new Error(
      `data.path ${data.path}: all ${mapped.length} rows are longer than the prompt limit of ${limit} tokens (${limits.limitField}; first: ${scan.firstOverlong}) and data.overlong_prompts is "skip"`,
    );
  const notes = loadNotes(data, limits, loaded, scan);
  const describe = describeDataset(data, id, loaded, scan);
  const checked: CheckedDataset = { data, tok, limit, describe, loaded, mapped, keep: scan.keep, render };
  return {
    describe,
    size: scan.keep.length,
    report: { notes, overlong: scan.overlong, unencodable: scan.unencodable },
    source: (seed, resume) => datasetSource(checked, seed, resume),
  };
}

/** data.system_prompt_text, else the data.system_prompt rule ('auto' = by dataset id). */
function systemPromptOf(data: DatasetData, id: string): string {
  return (
    data.system_prompt_text ??
    (data.system_prompt === 'auto'
      ? systemPromptFor(id)
      : data.system_prompt === 'none'
        ? ''
        : SYSTEM_PROMPTS[data.system_prompt])
  );
}

// Tina's L1 recipes: a target length per row, asked for in the system prompt, given to the rewards.
// The whole-dataset check renders the longest ask (l1.max); a stream renders each row's own target.
function promptRenderer(data: DatasetData, tok: ModelTokenizer, system: string): RenderPrompt {
  return (problem: string, target?: number): string => {
    const sys = target === undefined ? system : `${system}\nThink for ${target} tokens.`;
    const messages = [
      ...(sys ? [{ role: 'system' as const, content: sys }] : []),
      { role: 'user' as const, content: problem },
    ];
    return data.chat_template_jinja !== undefined
      ? renderChat(messages, data.chat_template_jinja, { bosToken: tok.bosToken ?? '', eosToken: tok.eosToken ?? '' })
      : data.chat_template === 'model'
        ? tok.applyChatTemplate(messages, { addGenerationPrompt: true })
        : buildTinaPrompt(problem, sys, undefined, { bosToken: tok.bosToken ?? '', eosToken: tok.eosToken ?? '' });
  };
}

/** Render and tokenize every row once; throws for refused text (data.unencodable_text "error"). */
function scanRows(
  data: DatasetData,
  tok: ModelTokenizer,
  limit: number,
  loaded: LoadedDataset,
  mapped: readonly TinaRow[],
  render: RenderPrompt,
): RowScan {
  const l1 = data.l1_target_length;
  const where = (i: number): string => rowOrigin(loaded.rows[i]!) ?? `${data.path} row ${i}`;
  // Every row once: over-long and lossy rows are found now, not at the step that draws them.
  const keep: number[] = [];
  let overlong = 0,
    firstOverlong = '',
    unencodable = 0,
    firstLossy = '';
  mapped.forEach((row, i) => {
    const p = encodePrompt(tok, render(row.problem, l1 ? l1.max : undefined), limit);
    if (p.lost) {
      if (data.unencodable_text === 'error') {
        throw new Error(
          `${where(i)}: this model's tokenizer cannot encode the rendered prompt (${describeLost(p.lost)}); ` +
            'use a model whose tokenizer covers the text, fix the row, or set data.unencodable_text "warn" to train on the lossy tokenization',
        );
      }
      if (unencodable++ === 0) firstLossy = `${where(i)}: ${describeLost(p.lost)}`;
    }
    if (p.truncatedFrom !== undefined) {
      if (overlong++ === 0)
        firstOverlong = `${where(i)} (${p.truncatedFromAtLeast ? 'at least ' : ''}${p.truncatedFrom} tokens)`;
      if (data.overlong_prompts === 'skip') return;
    }
    keep.push(i);
  });
  return { keep, overlong, firstOverlong, unencodable, firstLossy };
}

/** The log lines of loading: malformed lines skipped, over-long rows truncated or skipped, lossy rows. */
function loadNotes(data: DatasetData, limits: PromptLimits, loaded: LoadedDataset, scan: RowScan): string[] {
  const limit = limits.maxPromptTokens;
  const { overlong, firstOverlong, unencodable, firstLossy } = scan;
  const notes = loaded.errors.length
    ? [
        `data: skipped ${loaded.errors.length} malformed line(s) of ${data.path} (first: ${loaded.errors[0]!.file}:${loaded.errors[0]!.line}: ${loaded.errors[0]!.message})`,
      ]
    : [];
  if (overlong) {
    notes.push(
      data.overlong_prompts === 'skip'
        ? `data: skipped ${overlong} row(s) longer than the prompt limit of ${limit} tokens (${limits.limitField}; data.overlong_prompts "skip"); first: ${firstOverlong}`
        : `data: truncated ${overlong} row(s) longer than the prompt limit of ${limit} tokens to their last ${limit} tokens (TRL left truncation, ${limits.limitField}; data.overlong_prompts "truncate"); first: ${firstOverlong}`,
    );
  }
  if (unencodable)
    notes.push(
      `data: warning: ${unencodable} row(s) hold text the tokenizer cannot encode and are trained on without it (data.unencodable_text "warn"); first: ${firstLossy}`,
    );
  return notes;
}

function describeDataset(data: DatasetData, id: string, loaded: LoadedDataset, scan: RowScan): string {
  const { keep, overlong } = scan;
  return `dataset ${id} (${keep.length} rows from ${loaded.files.length} file(s)${loaded.errors.length ? `, ${loaded.errors.length} malformed lines skipped` : ''}${overlong ? `, ${overlong} over-long ${data.overlong_prompts === 'skip' ? 'skipped' : 'truncated'}` : ''})`;
}

/** A seeded stream over the kept rows; with L1 targets, each row's own target from the seed. */
function datasetSource(ds: CheckedDataset, seed: number, resume: unknown): PromptSource {
  const { data, tok, limit, keep, mapped, render } = ds;
  const l1 = data.l1_target_length;
  const sampler = createRepeatSampler({
    numSamples: keep.length,
    repeatCount: 1,
    seed,
    state: resume as RepeatSamplerState | undefined,
  });
  return {
    describe: ds.describe,
    size: keep.length,
    skipped: ds.loaded.errors.map((e) => `${e.file}:${e.line}: ${e.message}`),
    next(count) {
      return sampler.take(count).map((k) => {
        const i = keep[k]!;
        const row = mapped[i]!;
        const target = l1 ? l1TargetLength(seed, i, l1.min, l1.max) : undefined;
        const p = encodePrompt(tok, render(row.problem, target), limit);
        return {
          index: i,
          ids: p.ids,
          text: row.problem,
          promptText: p.text,
          solution: row.solution,
          ...(target === undefined ? {} : { columns: { target_length: target } }),
        };
      });
    },
    state: () => sampler.state(),
  };
}

/** Load the prompts and open a stream over them (for callers that need both at once). */
export async function createPromptSource(
  data: DataSection,
  tok: ModelTokenizer,
  seed: number,
  resume?: unknown,
  limits: PromptLimits = { maxPromptTokens: Infinity, limitField: 'no limit' },
): Promise<PromptSource> {
  return (await preparePrompts(data, tok, limits)).source(seed, resume);
}

/** Tina's random.randint(min, max) per row, made reproducible: a stream derived from the seed and the row. */
export function l1TargetLength(seed: number, row: number, min: number, max: number): number {
  return min + (Rng.derive(seed, 'l1_target_length', row).nextU32() % (max - min + 1));
}

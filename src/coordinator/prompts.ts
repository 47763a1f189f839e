// Prompt sources for training: a synthetic task (the tiny default) or a dataset with Tina's column
// mapping. Each yields PromptItems (token ids through the model's chat template, plus the gold
// solution the rewards need) from a seeded, checkpointable stream.
import { basename } from 'node:path';
import { createTaskSampler, type TaskSamplerState } from '../data/tasks/index.js';
import { loadDataset } from '../data/hf-dataset.js';
import { mapTinaColumns } from '../data/tina-columns.js';
import { buildTinaPrompt, SYSTEM_PROMPTS, systemPromptFor } from '../data/prompts.js';
import { createRepeatSampler, type RepeatSamplerState } from '../data/sampler.js';
import type { ModelTokenizer } from '../model/tokenizer.js';
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

export async function createPromptSource(data: DataSection, tok: ModelTokenizer, seed: number, resume?: unknown): Promise<PromptSource> {
  if (data.source === 'task') {
    const sampler = createTaskSampler({ family: data.task, levels: data.levels, split: 'train', seed }, resume as TaskSamplerState | undefined);
    let index = (resume as TaskSamplerState | undefined)?.drawn ?? 0;
    return {
      describe: `synthetic task '${data.task}' (train split)`,
      next(count) {
        const out: PromptItem[] = [];
        for (let i = 0; i < count; i++) {
          const item = sampler.next();
          const text = tok.applyChatTemplate([{ role: 'user', content: item.prompt }], { addGenerationPrompt: true });
          out.push({ index: index++, ids: tok.encode(text), text: item.prompt, promptText: text, solution: item.solution });
        }
        return out;
      },
      state: () => sampler.state(),
    };
  }
  // A dataset with Tina's column mapping, system prompt rule and chat template (the model's own
  // bos token); the engine gets the whole prompt, the learner truncates to max_prompt_length (TRL 0.15).
  const id = data.dataset_id ?? basename(data.path);
  const loaded = await loadDataset(data.path, { split: 'train' });
  if (loaded.rows.length === 0) throw new Error(`data.path ${data.path}: no rows found (files: ${loaded.files.join(', ') || 'none'})`);
  const rows = mapTinaColumns(loaded.rows, id);
  const system = data.system_prompt === 'auto' ? systemPromptFor(id) : data.system_prompt === 'none' ? '' : SYSTEM_PROMPTS[data.system_prompt];
  const sampler = createRepeatSampler({ numSamples: rows.length, repeatCount: 1, seed, state: resume as RepeatSamplerState | undefined });
  return {
    describe: `dataset ${id} (${rows.length} rows from ${loaded.files.length} file(s)${loaded.errors.length ? `, ${loaded.errors.length} malformed lines skipped` : ''})`,
    size: rows.length,
    skipped: loaded.errors.map((e) => `${e.file}:${e.line}: ${e.message}`),
    next(count) {
      return sampler.take(count).map((i) => {
        const row = rows[i]!;
        const text = data.chat_template === 'model'
          ? tok.applyChatTemplate([...(system ? [{ role: 'system', content: system }] : []), { role: 'user', content: row.problem }], { addGenerationPrompt: true })
          : buildTinaPrompt(row.problem, system, undefined, { bosToken: tok.bosToken ?? '', eosToken: tok.eosToken ?? '' });
        return { index: i, ids: tok.encode(text), text: row.problem, promptText: text, solution: row.solution };
      });
    },
    state: () => sampler.state(),
  };
}

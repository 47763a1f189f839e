// Prompt sources for training: a synthetic task (the tiny default) or a dataset with Tina's column
// mapping. Each yields PromptItems (token ids through the model's chat template, plus the gold
// solution the rewards need) from a seeded, checkpointable stream.
import { basename } from 'node:path';
import { createTaskSampler, type TaskSamplerState } from '../data/tasks/index.js';
import { loadDataset } from '../data/hf-dataset.js';
import { mapTinaColumns } from '../data/tina-columns.js';
import { buildTinaPrompt, renderChat, SYSTEM_PROMPTS, systemPromptFor } from '../data/prompts.js';
import { Rng } from '../util/rng.js';
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
  const rows = mapTinaColumns(loaded.rows, id, { mapping: data.column_mapping, promptColumn: data.prompt_column });
  const system = data.system_prompt_text ?? (data.system_prompt === 'auto' ? systemPromptFor(id) : data.system_prompt === 'none' ? '' : SYSTEM_PROMPTS[data.system_prompt]);
  const sampler = createRepeatSampler({ numSamples: rows.length, repeatCount: 1, seed, state: resume as RepeatSamplerState | undefined });
  const l1 = data.l1_target_length;
  return {
    describe: `dataset ${id} (${rows.length} rows from ${loaded.files.length} file(s)${loaded.errors.length ? `, ${loaded.errors.length} malformed lines skipped` : ''})`,
    size: rows.length,
    skipped: loaded.errors.map((e) => `${e.file}:${e.line}: ${e.message}`),
    next(count) {
      return sampler.take(count).map((i) => {
        const row = rows[i]!;
        // Tina's L1 recipes: a target length per row, asked for in the system prompt, given to the rewards
        const target = l1 ? l1TargetLength(seed, i, l1.min, l1.max) : undefined;
        const sys = target === undefined ? system : `${system}\nThink for ${target} tokens.`;
        const messages = [...(sys ? [{ role: 'system' as const, content: sys }] : []), { role: 'user' as const, content: row.problem }];
        const text = data.chat_template_jinja !== undefined
          ? renderChat(messages, data.chat_template_jinja, { bosToken: tok.bosToken ?? '', eosToken: tok.eosToken ?? '' })
          : data.chat_template === 'model'
            ? tok.applyChatTemplate(messages, { addGenerationPrompt: true })
            : buildTinaPrompt(row.problem, sys, undefined, { bosToken: tok.bosToken ?? '', eosToken: tok.eosToken ?? '' });
        return { index: i, ids: tok.encode(text), text: row.problem, promptText: text, solution: row.solution, ...(target === undefined ? {} : { columns: { target_length: target } }) };
      });
    },
    state: () => sampler.state(),
  };
}

/** Tina's random.randint(min, max) per row, made reproducible: a stream derived from the seed and the row. */
export function l1TargetLength(seed: number, row: number, min: number, max: number): number {
  return min + (Rng.derive(seed, 'l1_target_length', row).nextU32() % (max - min + 1));
}

// Prompt sources for training: a synthetic task (the tiny default) or a dataset with Tina's column
// mapping. Each yields PromptItems (token ids through the model's chat template, plus the gold
// solution the rewards need) from a seeded, checkpointable stream.
import { createTaskSampler, type TaskSamplerState } from '../data/tasks/index.js';
import type { ModelTokenizer } from '../model/tokenizer.js';
import type { DataSection } from './config.js';
import type { PromptItem } from './grpo-loop.js';

export interface PromptSource {
  next(count: number): PromptItem[];
  state(): unknown;
  describe: string;
}

export function createPromptSource(data: DataSection, tok: ModelTokenizer, seed: number, resume?: unknown): PromptSource {
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
          out.push({ index: index++, ids: tok.encode(text), text: item.prompt, solution: item.solution });
        }
        return out;
      },
      state: () => sampler.state(),
    };
  }
  throw new Error(`data.source '${data.source}': dataset training is not wired into the coordinator yet; use data.source 'task'`);
}

// Supervised-data helpers: the completion forms a tiny model is pre-trained on before RL.
// Calibration (shared/reference/tiny-model-calibration.md): 40 % worked, 45 % bare \boxed{N},
// 15 % plain N — the model knows the worked format without preferring it, which leaves RL a
// format to discover (Tina's "format adaptation" in miniature).
import { Rng, type RngState } from '../../util/rng.js';
import { createTaskSampler, type TaskGenOptions, type TaskSamplerState } from './generate.js';
import type { TaskItem } from './types.js';

export type CompletionKind = 'worked' | 'boxed' | 'plain';

export interface MixProportions {
  worked: number;
  boxed: number;
  plain: number;
}
export const DEFAULT_MIX: Readonly<MixProportions> = { worked: 0.4, boxed: 0.45, plain: 0.15 };

/** The completion text (without EOS; the trainer appends it) of an item in the given form. */
export function completionFor(item: TaskItem, kind: CompletionKind): string {
  switch (kind) {
    case 'worked':
      return item.solution;
    case 'boxed':
      return `\\boxed{${item.answer}}`;
    case 'plain':
      return item.answer;
  }
}

function checkMix(p: MixProportions): void {
  for (const k of ['worked', 'boxed', 'plain'] as const) {
    if (!(Number.isFinite(p[k]) && p[k] >= 0)) throw new Error(`mix.${k} must be a finite number >= 0, got ${p[k]}`);
  }
  const sum = p.worked + p.boxed + p.plain;
  if (Math.abs(sum - 1) > 1e-9) throw new Error(`mix proportions must sum to 1, got ${sum}`);
}

/** Pick a completion form with the given proportions from one uniform draw u in [0, 1). */
export function pickKind(u: number, p: MixProportions): CompletionKind {
  if (u < p.worked) return 'worked';
  if (u < p.worked + p.boxed) return 'boxed';
  return 'plain';
}

export interface SupervisedExample {
  prompt: string;
  completion: string;
  kind: CompletionKind;
  item: TaskItem;
}

export interface SupervisedMixState {
  tasks: TaskSamplerState;
  kinds: RngState;
}

export interface SupervisedMixSampler {
  next(): SupervisedExample;
  state(): SupervisedMixState;
}

/** Endless supervised examples from the train split (by default) in the configured mix. */
export function createSupervisedMix(
  opts: Omit<TaskGenOptions, 'split'> & { split?: TaskGenOptions['split']; mix?: MixProportions },
  resumeFrom?: SupervisedMixState,
): SupervisedMixSampler {
  const mix = opts.mix ?? DEFAULT_MIX;
  checkMix(mix);
  const tasks = createTaskSampler({ ...opts, split: opts.split ?? 'train' }, resumeFrom?.tasks);
  const kinds = resumeFrom ? new Rng(resumeFrom.kinds) : Rng.derive(opts.seed, 'supervised-mix');
  return {
    next(): SupervisedExample {
      const item = tasks.next();
      const kind = pickKind(kinds.next(), mix);
      return { prompt: item.prompt, completion: completionFor(item, kind), kind, item };
    },
    state(): SupervisedMixState {
      return { tasks: tasks.state(), kinds: kinds.state() };
    },
  };
}

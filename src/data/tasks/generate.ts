// Seeded generation of task items for one split: fixed lists (held-out eval sets) and an endless
// sampler with checkpointable state (training streams).
import { Rng, type RngState } from '../../util/rng.js';
import { additionFamily, addition3Family } from './addition.js';
import { DEFAULT_HELDOUT_FRACTION, splitOf } from './split.js';
import type { TaskFamily, TaskItem, TaskSplit } from './types.js';

/** Every task family by name; 'addition' is the calibrated default. */
export const TASK_FAMILIES: Readonly<Record<string, TaskFamily>> = {
  addition: additionFamily,
  addition3: addition3Family,
};
export const DEFAULT_TASK_FAMILY = 'addition';

export function getTaskFamily(name: string): TaskFamily {
  const family = TASK_FAMILIES[name];
  if (!family) throw new Error(`unknown task family '${name}' (known: ${Object.keys(TASK_FAMILIES).join(', ')})`);
  return family;
}

export interface TaskGenOptions {
  /** Task family name (default 'addition'). */
  family?: string;
  /** Levels to draw from (default: the family's default levels, 2..5 for addition). */
  levels?: readonly number[];
  split: TaskSplit;
  seed: number;
  /** Held-out share of the problem space (default 0.1); must be the same for train and eval. */
  heldoutFraction?: number;
}

function resolve(opts: TaskGenOptions): { family: TaskFamily; levels: readonly number[]; frac: number } {
  const family = getTaskFamily(opts.family ?? DEFAULT_TASK_FAMILY);
  const levels = opts.levels ?? family.defaultLevels;
  if (levels.length === 0) throw new Error('levels: at least one level is required');
  for (const l of levels) {
    if (!family.levels.includes(l))
      throw new Error(`levels: ${l} not supported by '${family.name}' (${family.levels.join(', ')})`);
  }
  const frac = opts.heldoutFraction ?? DEFAULT_HELDOUT_FRACTION;
  if (!(frac > 0 && frac < 1)) throw new Error(`heldoutFraction must be in (0, 1), got ${frac}`);
  return { family, levels, frac };
}

// Rejection sampling against the split: at most this many draws per accepted item before we call
// the request impossible (the held-out side of a level holds ~10 % of its problems).
const MAX_DRAWS_PER_ITEM = 100_000;

function drawInSplit(
  family: TaskFamily,
  level: number,
  split: TaskSplit,
  frac: number,
  rng: Rng,
  seen: Set<string> | null,
): TaskItem {
  const nextInt = (n: number): number => rng.int(n);
  for (let tries = 0; tries < MAX_DRAWS_PER_ITEM; tries++) {
    const item = family.sample(level, nextInt);
    if (splitOf(item.problem, frac) !== split) continue;
    if (seen) {
      if (seen.has(item.problem)) continue;
      seen.add(item.problem);
    }
    return item;
  }
  throw new Error(`task '${family.name}' level ${level}: no new ${split} problem after ${MAX_DRAWS_PER_ITEM} draws`);
}

/**
 * A fixed list of `count` distinct problems from one split, levels cycled in order (so an eval set
 * is balanced across levels). Deterministic in (family, levels, split, seed, heldoutFraction).
 */
export function generateTaskItems(opts: TaskGenOptions & { count: number }): TaskItem[] {
  const { family, levels, frac } = resolve(opts);
  if (!Number.isInteger(opts.count) || opts.count < 0)
    throw new Error(`count must be a non-negative integer, got ${opts.count}`);
  for (const level of levels) {
    const perLevel = Math.ceil(opts.count / levels.length);
    // Expected size of this split at this level; refuse requests that cannot be met by a wide margin.
    const capacity = family.problemCount(level) * (opts.split === 'heldout' ? frac : 1 - frac);
    if (perLevel > capacity * 0.5) {
      throw new Error(
        `task '${family.name}' level ${level}: ${perLevel} distinct ${opts.split} problems requested, only ~${Math.floor(capacity)} exist`,
      );
    }
  }
  const rng = Rng.derive(opts.seed, 'task', family.name, opts.split);
  const seen = new Set<string>();
  const items: TaskItem[] = [];
  for (let i = 0; i < opts.count; i++)
    items.push(drawInSplit(family, levels[i % levels.length]!, opts.split, frac, rng, seen));
  return items;
}

export interface TaskSamplerState {
  rng: RngState;
  drawn: number;
}

/** An endless stream of problems from one split, level drawn uniformly; repeats are allowed. */
export interface TaskSampler {
  next(): TaskItem;
  /** Checkpointable state: a sampler rebuilt with it continues with the identical sequence. */
  state(): TaskSamplerState;
}

export function createTaskSampler(opts: TaskGenOptions, resumeFrom?: TaskSamplerState): TaskSampler {
  const { family, levels, frac } = resolve(opts);
  const rng = resumeFrom ? new Rng(resumeFrom.rng) : Rng.derive(opts.seed, 'task-stream', family.name, opts.split);
  let drawn = resumeFrom?.drawn ?? 0;
  return {
    next(): TaskItem {
      const level = levels[rng.int(levels.length)]!;
      drawn++;
      return drawInSplit(family, level, opts.split, frac, rng, null);
    },
    state(): TaskSamplerState {
      return { rng: rng.state(), drawn };
    },
  };
}

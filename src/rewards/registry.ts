// Reward function registry: configs name built-ins (with TRL/open-r1 names) or point at a custom
// module. Verifier-backed functions are imported on first use, so text-only scoring never loads the
// answer checker.
import { basename, extname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  formatReward,
  formatRewardOpenR1,
  formatRewardOpenR1Strict,
  tagCountReward,
  tagCountRewardOpenR1,
} from './format.js';
import { makeRepetitionPenaltyReward, reasoningStepsReward } from './heuristics.js';
import { TINA_REWARD_KWARGS, type RewardFunc, type RewardKwargs } from './types.js';

export const BUILTIN_REWARD_NAMES = [
  'accuracy',
  'accuracy_open_r1',
  'format',
  'format_open_r1',
  'format_566cfd1',
  'tag_count',
  'tag_count_open_r1',
  'reasoning_steps',
  'length',
  'length_l1_exact',
  'length_l1_max',
  'cosine',
  'repetition_penalty',
] as const;
/** Functions that score a whole group at once (their formula needs every completion of the group). */
export const GROUP_REWARD_NAMES: readonly string[] = ['length', 'length_l1_exact', 'length_l1_max'];
export type BuiltinRewardName = (typeof BUILTIN_REWARD_NAMES)[number];

export interface CustomRewardSpec {
  /** Path to an ES module (absolute, or relative to the base dir given to resolution). */
  custom: string;
  /** Name under which scores are reported; default: the file name without extension. */
  name?: string;
  /** Which export holds the function; default "default". */
  export?: string;
}
export type RewardFuncSpec = BuiltinRewardName | CustomRewardSpec;

/**
 * How a function must be run: 'item' functions score each completion on its own (a pool task);
 * 'group' functions (length) need every completion of a group together.
 */
export interface ResolvedRewardFunc {
  name: string;
  scope: 'item' | 'group';
  fn: RewardFunc;
}

export function isBuiltinRewardName(x: unknown): x is BuiltinRewardName {
  return typeof x === 'string' && (BUILTIN_REWARD_NAMES as readonly string[]).includes(x);
}

/** The score name a spec reports under. */
export function rewardFuncName(spec: RewardFuncSpec): string {
  if (typeof spec === 'string') return spec;
  return spec.name ?? basename(spec.custom, extname(spec.custom));
}

/** Make custom paths absolute against `baseDir` (a config's folder), so workers anywhere can load them. */
export function absolutizeSpec(spec: RewardFuncSpec, baseDir: string): RewardFuncSpec {
  if (typeof spec === 'string') return spec;
  return { ...spec, custom: isAbsolute(spec.custom) ? spec.custom : resolve(baseDir, spec.custom) };
}

const customCache = new Map<string, RewardFunc>();

async function loadCustom(spec: CustomRewardSpec): Promise<RewardFunc> {
  const path = isAbsolute(spec.custom) ? spec.custom : resolve(spec.custom);
  const exportName = spec.export ?? 'default';
  const key = path + '#' + exportName;
  const cached = customCache.get(key);
  if (cached) return cached;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`reward_funcs: cannot load custom reward module ${path}: ${(err as Error).message}`);
  }
  const fn = mod[exportName];
  if (typeof fn !== 'function') {
    throw new Error(
      `reward_funcs: custom reward module ${path} has no function export "${exportName}" (found ${Object.keys(mod).join(', ') || 'no exports'})`,
    );
  }
  customCache.set(key, fn as RewardFunc);
  return fn as RewardFunc;
}

/** Resolve one spec to a callable function with the config's per-function kwargs applied. */
export async function resolveRewardFunc(
  spec: RewardFuncSpec,
  kwargs: Partial<RewardKwargs> = {},
): Promise<ResolvedRewardFunc> {
  const k: RewardKwargs = { ...TINA_REWARD_KWARGS, ...kwargs };
  const name = rewardFuncName(spec);
  if (typeof spec !== 'string') return { name, scope: 'item', fn: await loadCustom(spec) };
  switch (spec) {
    case 'format':
      return { name, scope: 'item', fn: formatReward };
    case 'format_open_r1':
      return { name, scope: 'item', fn: formatRewardOpenR1 };
    case 'format_566cfd1':
      return { name, scope: 'item', fn: formatRewardOpenR1Strict };
    case 'tag_count':
      return { name, scope: 'item', fn: tagCountReward };
    case 'tag_count_open_r1':
      return { name, scope: 'item', fn: tagCountRewardOpenR1 };
    case 'reasoning_steps':
      return { name, scope: 'item', fn: reasoningStepsReward };
    case 'repetition_penalty':
      return { name, scope: 'item', fn: makeRepetitionPenaltyReward(k.repetition_n_grams, k.repetition_max_penalty) };
    case 'accuracy':
      return { name, scope: 'item', fn: (await import('./accuracy.js')).accuracyReward };
    case 'accuracy_open_r1':
      return { name, scope: 'item', fn: (await import('./accuracy.js')).accuracyRewardOpenR1 };
    case 'length':
      return { name, scope: 'group', fn: (await import('./accuracy.js')).lengthReward };
    case 'length_l1_exact':
      return { name, scope: 'group', fn: (await import('./accuracy.js')).l1ExactReward };
    case 'length_l1_max':
      return { name, scope: 'group', fn: (await import('./accuracy.js')).l1MaxReward };
    case 'cosine': {
      const { makeCosineReward } = await import('./accuracy.js');
      return {
        name,
        scope: 'item',
        fn: makeCosineReward({
          minValueWrong: k.cosine_min_value_wrong,
          maxValueWrong: k.cosine_max_value_wrong,
          minValueCorrect: k.cosine_min_value_correct,
          maxValueCorrect: k.cosine_max_value_correct,
          maxLen: k.cosine_max_len,
        }),
      };
    }
    default: {
      const never: never = spec;
      throw new Error(
        `reward_funcs: unknown reward function "${String(never)}"; known: ${BUILTIN_REWARD_NAMES.join(', ')}`,
      );
    }
  }
}

/** Resolve a whole list; duplicate score names are an error (their scores would collide). */
export async function resolveRewardFuncs(
  specs: readonly RewardFuncSpec[],
  kwargs: Partial<RewardKwargs> = {},
): Promise<ResolvedRewardFunc[]> {
  const seen = new Set<string>();
  for (const s of specs) {
    if (typeof s === 'string' && !isBuiltinRewardName(s)) {
      throw new Error(`reward_funcs: unknown reward function "${s}"; known: ${BUILTIN_REWARD_NAMES.join(', ')}`);
    }
    const n = rewardFuncName(s);
    if (seen.has(n)) throw new Error(`reward_funcs: two functions report as "${n}"; give custom ones distinct names`);
    seen.add(n);
  }
  return Promise.all(specs.map((s) => resolveRewardFunc(s, kwargs)));
}

/** TRL's weighted sum with NaN/None terms skipped (torch.nansum): an all-null row sums to 0. */
export function nansumWeighted(scores: readonly (number | null)[], weights: readonly number[]): number {
  let total = 0;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (s === null || s === undefined || Number.isNaN(s)) continue;
    total += weights[i]! * s;
  }
  return total;
}

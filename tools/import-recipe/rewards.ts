// The reward keys of a recipe: the reward functions (Tina's names, or open-r1's mapped to the variants
// with open-r1's definitions), their weights and keyword arguments, and the cosine length Tina's launch
// scripts passed on the command line rather than in the recipe.
import { isBuiltinRewardName } from '../../src/rewards/registry.js';
import { OPEN_R1_REWARDS, REFUSED_REWARDS, TINA_LAUNCH_COSINE_3584 } from '../recipe/sources.js';
import type { ImportContext, KeyHandler, KeyHandlers } from './context.js';
import type { RecipeReader } from './reader.js';
import { RecipeImportError } from './types.js';

const REWARD_FUNC_KEYS = ['rl_post_train_reward_funcs', 'reward_funcs'];
/** Keyword arguments of the reward functions, set as recipe keys (and script flags). */
const REWARD_KWARG_KEYS = [
  'cosine_min_value_wrong',
  'cosine_max_value_wrong',
  'cosine_min_value_correct',
  'cosine_max_value_correct',
  'cosine_max_len',
  'repetition_n_grams',
  'repetition_max_penalty',
];

/**
 * Runs before any other key is read: a recipe whose rewards loractor cannot run (generated code needs
 * a sandbox) is refused for that reason, whatever else it holds.
 */
export function refuseUnrunnableRewards(recipe: RecipeReader): void {
  for (const key of REWARD_FUNC_KEYS) {
    const e = recipe.entries.get(key);
    if (!e) continue;
    for (const f of recipe.strList(key, e.value))
      if (REFUSED_REWARDS[f]) recipe.fail(key, `reward function '${f}' is refused: it ${REFUSED_REWARDS[f]}`);
  }
}

const applyRewardFuncs: KeyHandler = (ctx, key, v) => {
  ctx.rewardFuncs = ctx.recipe.strList(key, v).map((f) => {
    const name = ctx.family === 'open-r1' ? (OPEN_R1_REWARDS[f] ?? f) : f;
    if (!isBuiltinRewardName(name)) ctx.recipe.fail(key, `unknown reward function '${f}'`);
    return name;
  });
};

const applyRewardWeights: KeyHandler = (ctx, key, v) => {
  if (!Array.isArray(v)) ctx.recipe.fail(key, `expected a list of numbers, got ${JSON.stringify(v)}`);
  ctx.rewards.reward_weights = (v as unknown[]).map((w) => ctx.recipe.num(key, w));
};

export const REWARD_KEY_HANDLERS: KeyHandlers = {
  rl_post_train_reward_funcs: applyRewardFuncs,
  reward_funcs: applyRewardFuncs,
  rl_post_train_reward_weights: applyRewardWeights,
  reward_weights: applyRewardWeights,
};

/** Copies a reward keyword argument; returns false for any other key. */
export function applyRewardKwarg(ctx: ImportContext, key: string, v: unknown): boolean {
  if (!REWARD_KWARG_KEYS.includes(key)) return false;
  ctx.rewards[key] = ctx.recipe.num(key, v);
  return true;
}

/** The reward functions; a recipe without any is refused. */
export function requireRewardFuncs(ctx: ImportContext): string[] {
  if (ctx.rewardFuncs === null)
    throw new RecipeImportError(
      `${ctx.recipe.src}: no reward functions (rl_post_train_reward_funcs or reward_funcs)`,
      'reward_funcs',
    );
  return ctx.rewardFuncs;
}

/**
 * cosine_max_len from --cosine-max-len, or 3584 as Tina's launch script passed it (--tina-launch);
 * without either, a recipe Tina launched that way gets a note saying how to reproduce it.
 */
export function applyLaunchCosine(ctx: ImportContext): void {
  const launchName = ctx.tinaName ?? '';
  if (ctx.opts.cosineMaxLen !== undefined) ctx.rewards.cosine_max_len = ctx.opts.cosineMaxLen;
  else if (ctx.opts.tinaLaunch && TINA_LAUNCH_COSINE_3584.has(launchName)) {
    ctx.rewards.cosine_max_len = 3584;
    ctx.notes.push(`cosine_max_len 3584 from Tina's launch script for '${launchName}'`);
  } else if (TINA_LAUNCH_COSINE_3584.has(launchName))
    ctx.notes.push(
      `note: Tina's launch script ran '${launchName}' with --cosine_max_len 3584; ` +
        'pass --tina-launch (or --cosine-max-len 3584) to reproduce it',
    );
}

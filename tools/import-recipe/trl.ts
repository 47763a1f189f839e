// TRL itself: the defaults of the TRL version a recipe's project pins (for the keys it leaves out), and
// the GRPOConfig knobs loractor implements under another name or refuses (src/rl/trl-knobs.ts).
import { TRL_GRPO_KNOBS, grpoKeyRefusal } from '../../src/rl/trl-knobs.js';
import { OPEN_R1_TRL, TINA_TRL } from '../recipe/sources.js';
import { trlDefaults } from '../recipe/trl-defaults.js';
import type { ImportContext, RewardFamily } from './context.js';
import type { RecipeReader } from './reader.js';
import { type ImportOptions, RecipeImportError } from './types.js';

/** loractor-only grpo knobs an imported recipe starts from (TRL has no such knob: its behaviour). */
const LORACTOR_ONLY_DEFAULTS: Record<string, unknown> = {
  stop_at_step: null,
  prompts_per_step: null,
  advantage_estimator: 'grpo',
  dynamic_sampling: 'off',
  max_staleness: 0,
};

/** TRL's vLLM importance-sampling knobs → loractor's engine-independent behaviour correction. */
const IS_KNOBS: Record<string, string> = {
  vllm_importance_sampling_correction: 'importance_sampling_correction',
  vllm_importance_sampling_mode: 'importance_sampling_mode',
  vllm_importance_sampling_cap: 'importance_sampling_clip_max',
  vllm_importance_sampling_clip_max: 'importance_sampling_clip_max',
  vllm_importance_sampling_clip_min: 'importance_sampling_clip_min',
};

/**
 * The grpo section a recipe starts from: the pinned (or --trl-version) TRL's defaults plus loractor's
 * own knobs at TRL's behaviour. Notes which version decided which keys.
 */
export function startingGrpo(
  recipe: RecipeReader,
  opts: ImportOptions,
  family: RewardFamily,
  notes: string[],
): Record<string, unknown> {
  const trlVersion = opts.trlVersion ?? (family === 'tina' ? TINA_TRL : OPEN_R1_TRL);
  let trl: ReturnType<typeof trlDefaults>;
  try {
    trl = trlDefaults(trlVersion);
  } catch (err) {
    throw new RecipeImportError(`${recipe.src}: ${(err as Error).message}`, '');
  }
  const pin = family === 'tina' ? "Tina's scripts/set/set_env.sh" : "open-r1's setup.py";
  const why = opts.trlVersion ? '' : ` (the version ${pin} pins; --trl-version to change)`;
  notes.push(`defaults of TRL ${trlVersion}${why} for keys the recipe leaves out: ${trl.decided.join(', ')}`);
  return { ...trl.defaults, ...LORACTOR_ONLY_DEFAULTS };
}

/**
 * A TRL GRPOConfig knob loractor implements under another name, or refuses: maps it, lists it as
 * ignored (at TRL's default it asks for nothing loractor lacks) or refuses it with the reason. Returns
 * false for any other key.
 */
export function applyTrlKnob(ctx: ImportContext, key: string, v: unknown): boolean {
  const knob = TRL_GRPO_KNOBS[key];
  if (knob?.kind === 'renamed' && IS_KNOBS[key]) {
    ctx.grpo[IS_KNOBS[key]!] = importanceSamplingValue(ctx.recipe, key, v);
    return true;
  }
  if (knob?.kind !== 'refused') return false;
  if (JSON.stringify(v) === JSON.stringify(knob.trlDefault)) {
    ctx.ignored.push({ key, why: `TRL's default (${JSON.stringify(v)}); ${knob.why}` });
    return true;
  }
  if (key === 'disable_dropout' && v === true) {
    ctx.disableDropout = true;
    ctx.notes.push(`${ctx.recipe.at(key)}: disable_dropout true → lora_dropout 0 (the base model has no dropout)`);
    return true;
  }
  return ctx.recipe.fail(key, grpoKeyRefusal(key)!);
}

function importanceSamplingValue(recipe: RecipeReader, key: string, v: unknown): unknown {
  if (key === 'vllm_importance_sampling_correction') {
    if (typeof v !== 'boolean') recipe.fail(key, `expected true or false, got ${JSON.stringify(v)}`);
    return v;
  }
  if (key === 'vllm_importance_sampling_mode') return v;
  return v === null ? null : recipe.num(key, v);
}

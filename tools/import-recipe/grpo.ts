// The GRPO algorithm keys of a recipe (TRL GRPOConfig and its TrainingArguments): mapped onto the grpo
// section, and the batch, whose per-process counts loractor folds with the process count.
import { TRL_REFUSED_LOSS_TYPES } from '../../src/rl/trl-knobs.js';
import { OPEN_R1_PROCESSES, TINA_PROCESSES } from '../recipe/sources.js';
import type { ImportContext, KeyHandler, KeyHandlers } from './context.js';

/** Number-valued GRPOConfig keys copied as they are (null kept: TRL's "unset"). */
const GRPO_NUMBER_KEYS = [
  'learning_rate',
  'warmup_ratio',
  'num_train_epochs',
  'weight_decay',
  'adam_beta1',
  'adam_beta2',
  'adam_epsilon',
  'max_grad_norm',
  'beta',
  'epsilon',
  'epsilon_high',
  'temperature',
  'top_p',
  'delta',
  'sapo_temperature_pos',
  'sapo_temperature_neg',
];
/** Integer-valued GRPOConfig keys copied as they are (null kept). */
const GRPO_INT_KEYS = [
  'warmup_steps',
  'max_steps',
  'per_device_train_batch_size',
  'num_generations',
  'max_prompt_length',
  'max_completion_length',
  'top_k',
  'num_iterations',
  'generation_batch_size',
  'max_num_gen_batches',
];

const copyValue: KeyHandler = (ctx, key, v) => {
  ctx.grpo[key] = v;
};

/** Keys checked or converted one by one (they take precedence over the plain number lists). */
export const GRPO_KEY_HANDLERS: KeyHandlers = {
  scale_reward: refuseScaleRewardTypo,
  model_post_train_type: (ctx, key, v) => {
    if (v !== 'grpo') ctx.recipe.fail(key, `only 'grpo' recipes can be imported, got ${JSON.stringify(v)}`);
  },
  lr_scheduler_type: (ctx, key, v) => {
    ctx.grpo[key] = String(v);
  },
  lr_scheduler_kwargs: (ctx, key, v) => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) ctx.recipe.fail(key, 'expected a mapping');
    ctx.grpo[key] = Object.fromEntries(
      Object.entries(v as object).map(([k, x]) => [k, ctx.recipe.num(`${key}.${k}`, x)]),
    );
  },
  max_steps: applyMaxSteps,
  gradient_accumulation_steps: (ctx, key, v) => {
    ctx.gradAccum = ctx.recipe.num(key, v, true);
  },
  seed: (ctx, key, v) => {
    ctx.grpo.seed = ctx.recipe.num(key, v, true);
  },
  loss_type: (ctx, key, v) => {
    const refused = typeof v === 'string' ? TRL_REFUSED_LOSS_TYPES[v] : undefined;
    if (refused)
      ctx.recipe.fail(key, `loss_type '${v}' (TRL ${refused.since}) is not implemented by loractor: ${refused.why}`);
    ctx.grpo[key] = v;
  },
  scale_rewards: copyValue,
  importance_sampling_level: copyValue,
  dynamic_sampling: copyValue,
  mask_truncated_completions: (ctx, key, v) => {
    if (typeof v !== 'boolean') ctx.recipe.fail(key, `expected true or false, got ${JSON.stringify(v)}`);
    ctx.grpo[key] = v;
  },
  steps_per_generation: (ctx, key, v) => {
    // TRL counts micro-batches per process; loractor folds the processes into the micro-batches.
    ctx.stepsPerGeneration = v === null ? null : ctx.recipe.num(key, v, true);
  },
  num_train_epochs: (ctx, key, v) => {
    ctx.grpo[key] = ctx.recipe.num(key, v);
  },
};

/** Copies a key of the plain number lists; returns false for any other key. */
export function applyListedGrpoKey(ctx: ImportContext, key: string, v: unknown): boolean {
  if (GRPO_NUMBER_KEYS.includes(key)) ctx.grpo[key] = v === null ? null : ctx.recipe.num(key, v);
  else if (GRPO_INT_KEYS.includes(key)) ctx.grpo[key] = v === null ? null : ctx.recipe.num(key, v, true);
  else return false;
  return true;
}

/**
 * Tina's Dr.GRPO recipe writes `scale_reward` (singular), which TRL 0.15.2 silently dropped: refused,
 * unless --as-tina-ran reproduces the run as it happened.
 */
function refuseScaleRewardTypo(ctx: ImportContext, key: string, v: unknown): void {
  if (ctx.opts.asTinaRan) {
    ctx.notes.push(
      `${ctx.recipe.at(key)} dropped as TRL 0.15.2 did (not a GRPOConfig field): ` +
        'scale_rewards stays true, so this trains plain GRPO',
    );
    return;
  }
  ctx.recipe.fail(
    key,
    "is not a GRPOConfig field: the field is 'scale_rewards' (plural). Tina's Dr.GRPO recipe has this typo " +
      'and TRL 0.15.2 silently discarded it, so that run kept scale_rewards=true. ' +
      `Write 'scale_rewards: ${JSON.stringify(v)}' to get what was meant, ` +
      'or pass --as-tina-ran to reproduce the run as it happened',
  );
}

function applyMaxSteps(ctx: ImportContext, key: string, v: unknown, comment: string): void {
  ctx.grpo.max_steps = ctx.recipe.num(key, v, true);
  // Tina wrote the manual stop into a comment: "use 1500 for lr scheduler but stop at 850 steps".
  const m = /stop at (\d+)/.exec(comment);
  if (m && ctx.opts.stopAtStep === undefined) {
    ctx.grpo.stop_at_step = Number(m[1]);
    ctx.notes.push(
      `${ctx.recipe.at(key)}: schedule horizon ${ctx.grpo.max_steps}; ` +
        `stop_at_step ${m[1]} taken from its comment "${comment.trim()}"`,
    );
  }
}

/**
 * TRL's batch is per process; loractor runs one learner, so the processes the recipe was launched on
 * become micro-batches (gradient_accumulation_steps, steps_per_generation) and the batch is noted.
 */
export function foldProcessesIntoBatch(ctx: ImportContext): void {
  const { grpo, gradAccum } = ctx;
  const procs = ctx.opts.numProcesses ?? (ctx.family === 'tina' ? TINA_PROCESSES : OPEN_R1_PROCESSES);
  grpo.gradient_accumulation_steps = gradAccum * procs;
  if (ctx.stepsPerGeneration !== null) grpo.steps_per_generation = ctx.stepsPerGeneration * procs;
  const G = grpo.num_generations as number;
  const completions = (grpo.per_device_train_batch_size as number) * gradAccum * procs;
  grpo.prompts_per_step = completions / G;
  ctx.notes.push(
    `batch: per_device_train_batch_size ${String(grpo.per_device_train_batch_size)} × ${procs} processes × ` +
      `gradient_accumulation_steps ${gradAccum} = ${completions} completions (${completions / G} prompts × G ${G}) ` +
      `per step; loractor folds the processes into gradient_accumulation_steps ${gradAccum * procs}`,
  );
}

/** --stop-at-step wins over a "stop at N" comment on max_steps. */
export function applyStopAtStep(ctx: ImportContext): void {
  if (ctx.opts.stopAtStep !== undefined) ctx.grpo.stop_at_step = ctx.opts.stopAtStep;
}

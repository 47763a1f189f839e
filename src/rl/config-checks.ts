// Cross-field checks on a parsed GRPO config (zod has done the per-field ones): batch and generation
// shape, schedule arguments, objective and behaviour-correction bounds, and start-up warnings for knobs
// that cannot act under the rest of the config. The schema lives in config-schema.ts; config.ts
// (resolveGrpoConfig) runs these checks.
import { grpoConfigSchema, type ConfigIssue, type GrpoConfig } from './config-schema.js';

/** Cross-field checks on a parsed config (zod has done the per-field ones). */
export function crossValidateGrpoConfig(
  c: GrpoConfig,
  datasetSize?: number,
): { issues: ConfigIssue[]; warnings: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const completions = c.per_device_train_batch_size * c.gradient_accumulation_steps;
  if (completions % c.num_generations !== 0) {
    issues.push({
      field: 'per_device_train_batch_size',
      message: `completions per step (${c.per_device_train_batch_size} × gradient_accumulation_steps ${c.gradient_accumulation_steps} = ${completions}) must be a multiple of num_generations (${c.num_generations})`,
    });
  } else if (c.prompts_per_step !== null && c.prompts_per_step !== completions / c.num_generations) {
    issues.push({
      field: 'prompts_per_step',
      message: `${c.prompts_per_step} disagrees with per_device_train_batch_size × gradient_accumulation_steps / num_generations = ${completions / c.num_generations}`,
    });
  }
  if (c.max_steps === 0 || c.max_steps < -1)
    issues.push({
      field: 'max_steps',
      message: `must be a positive integer or -1 (derive from the dataset), got ${c.max_steps}`,
    });
  if (c.max_steps === -1 && datasetSize === undefined)
    issues.push({
      field: 'max_steps',
      message: 'is -1 (derive from dataset size) but no dataset size was given; set max_steps',
    });
  const kw = c.lr_scheduler_kwargs;
  if (c.lr_scheduler_type === 'cosine_with_min_lr') {
    if (kw.min_lr_rate === undefined && kw.min_lr === undefined)
      issues.push({ field: 'lr_scheduler_kwargs', message: 'cosine_with_min_lr needs min_lr_rate or min_lr' });
    if (kw.min_lr_rate !== undefined && kw.min_lr !== undefined)
      issues.push({ field: 'lr_scheduler_kwargs', message: 'set only one of min_lr_rate and min_lr' });
    if (kw.min_lr !== undefined && kw.min_lr > c.learning_rate)
      issues.push({
        field: 'lr_scheduler_kwargs.min_lr',
        message: `${kw.min_lr} exceeds learning_rate ${c.learning_rate}`,
      });
  } else if (kw.min_lr_rate !== undefined || kw.min_lr !== undefined) {
    issues.push({
      field: 'lr_scheduler_kwargs',
      message: `min_lr_rate / min_lr only apply to cosine_with_min_lr, not ${c.lr_scheduler_type}`,
    });
  }
  if (kw.num_cycles !== undefined && c.lr_scheduler_type !== 'cosine' && c.lr_scheduler_type !== 'cosine_with_min_lr') {
    issues.push({
      field: 'lr_scheduler_kwargs.num_cycles',
      message: `only applies to cosine schedules, not ${c.lr_scheduler_type}`,
    });
  }
  if (c.epsilon_high !== null && c.epsilon_high < c.epsilon) {
    warnings.push({
      field: 'epsilon_high',
      message: `${c.epsilon_high} is below epsilon ${c.epsilon}; clip-higher usually means epsilon_high ≥ epsilon`,
    });
  }
  if (c.scale_rewards !== 'group' && c.scale_rewards !== true && c.advantage_estimator !== 'grpo') {
    warnings.push({
      field: 'scale_rewards',
      message: `is ignored by advantage_estimator '${c.advantage_estimator}' (it applies to 'grpo' only)`,
    });
  }
  if (c.max_staleness > 0 && !c.importance_sampling_correction) {
    warnings.push({
      field: 'importance_sampling_correction',
      message: `is off while max_staleness is ${c.max_staleness}: stale rollouts will be trained on uncorrected`,
    });
  }
  if (c.dynamic_sampling !== 'off' && c.advantage_estimator === 'reinforce_pp_baseline') {
    warnings.push({
      field: 'dynamic_sampling',
      message: 'reinforce_pp_baseline whitens over the batch; dropped groups change the batch statistics',
    });
  }
  checkGeneration(c, issues);
  checkObjective(c, issues, warnings);
  return { issues, warnings };
}

/** Completions per generation batch (TRL GRPOConfig.__post_init__ on one process). */
export function generationBatchSizeOf(c: GrpoConfig): number {
  return (
    c.generation_batch_size ?? c.per_device_train_batch_size * (c.steps_per_generation ?? c.gradient_accumulation_steps)
  );
}

function checkGeneration(c: GrpoConfig, issues: ConfigIssue[]): void {
  if (c.generation_batch_size !== null && c.steps_per_generation !== null) {
    issues.push({
      field: 'generation_batch_size',
      message: 'generation_batch_size and steps_per_generation cannot both be set (TRL): set one',
    });
    return;
  }
  if (c.generation_batch_size !== null && c.generation_batch_size % c.per_device_train_batch_size !== 0) {
    issues.push({
      field: 'generation_batch_size',
      message: `${c.generation_batch_size} must be a multiple of per_device_train_batch_size ${c.per_device_train_batch_size}`,
    });
    return;
  }
  const gen = generationBatchSizeOf(c);
  if (gen % c.num_generations !== 0) {
    issues.push({
      field: c.generation_batch_size !== null ? 'generation_batch_size' : 'steps_per_generation',
      message: `the generation batch (${gen} completions) must be a multiple of num_generations ${c.num_generations} (whole groups)`,
    });
  }
}

function checkObjective(c: GrpoConfig, issues: ConfigIssue[], warnings: ConfigIssue[]): void {
  const lo = c.importance_sampling_clip_min,
    hi = c.importance_sampling_clip_max;
  if (c.importance_sampling_correction) {
    if (lo !== null && hi !== null && lo >= hi)
      issues.push({
        field: 'importance_sampling_clip_min',
        message: `${lo} must be less than importance_sampling_clip_max ${hi}`,
      });
    if (c.importance_sampling_mode.endsWith('_truncate') && lo === null && hi === null) {
      issues.push({
        field: 'importance_sampling_clip_max',
        message: `importance_sampling_mode ${c.importance_sampling_mode} needs importance_sampling_clip_min or importance_sampling_clip_max (TRL)`,
      });
    }
  }
  const epsHigh = c.epsilon_high ?? c.epsilon;
  if (c.loss_type === 'cispo' && epsHigh < 1) {
    warnings.push({
      field: 'epsilon_high',
      message: `loss_type cispo caps the importance ratio at epsilon_high itself (TRL; ScaleRL suggests 5.0); ${epsHigh} caps every ratio below 1`,
    });
  }
  if (c.importance_sampling_level === 'sequence' && ['bnpo', 'dr_grpo', 'dapo', 'cispo'].includes(c.loss_type)) {
    warnings.push({
      field: 'importance_sampling_level',
      message: `sequence-level ratios with loss_type ${c.loss_type} weight each sequence by its length instead of the per-sequence objective; GSPO uses loss_type grpo (TRL warns the same)`,
    });
  }
  if (c.delta !== null && c.delta <= 1 + epsHigh) {
    warnings.push({
      field: 'delta',
      message: `${c.delta} is not above 1 + epsilon_high (${1 + epsHigh}): two-sided clipping then also caps ratios the ε-clip would keep (TRL recommends delta > 1 + ε)`,
    });
  }
}

let schemaDefaults: Record<string, unknown> | null = null;

/**
 * Knobs set to a non-default value that cannot act under the rest of the config: each gets a start-up
 * warning. (Against the defaults, not key presence: a config loaded through the root schema holds
 * every key, filled with its default.)
 */
export function inertKnobWarnings(input: Record<string, unknown>, c: GrpoConfig): ConfigIssue[] {
  const defaults = (schemaDefaults ??= grpoConfigSchema.parse({}) as Record<string, unknown>);
  const set = (k: string): boolean =>
    Object.hasOwn(input, k) && JSON.stringify(input[k]) !== JSON.stringify(defaults[k]);
  const out: ConfigIssue[] = [];
  const inert = (k: string, why: string): void => {
    if (set(k)) out.push({ field: k, message: `has no effect: ${why}` });
  };
  if (c.loss_type !== 'sapo') {
    inert('sapo_temperature_pos', `loss_type is ${c.loss_type}, not sapo`);
    inert('sapo_temperature_neg', `loss_type is ${c.loss_type}, not sapo`);
  }
  if (c.loss_type === 'cispo' || c.loss_type === 'sapo')
    inert('delta', `loss_type ${c.loss_type} has no clipped branch to cap`);
  if (c.loss_type === 'sapo') {
    inert('epsilon', 'loss_type sapo gates softly instead of clipping');
    inert('epsilon_high', 'loss_type sapo gates softly instead of clipping');
  }
  if (c.loss_type === 'cispo') inert('epsilon', 'loss_type cispo only caps from above (epsilon_high)');
  if (c.dynamic_sampling !== 'refill')
    inert('max_num_gen_batches', `dynamic_sampling is ${c.dynamic_sampling}, not refill`);
  if (!c.importance_sampling_correction) {
    for (const k of ['importance_sampling_mode', 'importance_sampling_clip_max', 'importance_sampling_clip_min'])
      inert(k, 'importance_sampling_correction is false');
  }
  return out;
}

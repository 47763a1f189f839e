// The GRPO / training knobs, with TRL GRPOConfig (and HF TrainingArguments) names, meanings and
// defaults where one exists. Defaults follow TRL unless a knob exists only in loractor; the text of
// each knob says where Tina differs. `resolveGrpoConfig` parses, cross-checks and derives the
// numbers the coordinator uses (warmup steps, prompts per step, stop step, ...).
// This module is the entry point: it holds GrpoConfigError, ResolvedGrpoConfig and resolveGrpoConfig,
// and re-exports the rest. The zod schema (each knob documented where declared), the
// lr_scheduler_kwargs schema, GrpoConfig / GrpoConfigInput and ConfigIssue live in config-schema.ts;
// the cross-field checks (crossValidateGrpoConfig, generationBatchSizeOf, inertKnobWarnings) in
// config-checks.ts.
import type { z } from 'zod';
import { normaliseScaleRewards, type ScaleRewards } from './advantages.js';
import type { BehaviourCorrection } from './behaviour-correction.js';
import type { GenerationPlan } from './generation-plan.js';
import { grpoKeyRefusal } from './trl-knobs.js';
import { warmupStepsFor, type LrSchedule } from './schedule.js';
import type { AdamWHyperparams } from './optimizer.js';
import { grpoConfigSchema, type ConfigIssue, type GrpoConfig } from './config-schema.js';
import { crossValidateGrpoConfig, generationBatchSizeOf, inertKnobWarnings } from './config-checks.js';

export {
  grpoConfigSchema,
  lrSchedulerKwargsSchema,
  type ConfigIssue,
  type GrpoConfig,
  type GrpoConfigInput,
} from './config-schema.js';
export { crossValidateGrpoConfig, generationBatchSizeOf, inertKnobWarnings } from './config-checks.js';

export class GrpoConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super('invalid GRPO config:\n' + issues.map((i) => `  ${i.field}: ${i.message}`).join('\n'));
    this.name = 'GrpoConfigError';
  }
}

export interface ResolvedGrpoConfig {
  /** The parsed config, its seed resolved (null → 42 here; runTraining passes the run's seed). */
  config: GrpoConfig & { seed: number };
  scaleRewards: ScaleRewards;
  epsilonHigh: number;
  completionsPerStep: number;
  promptsPerStep: number;
  /** Completions per generation batch (generation_batch_size) and the prompts that make it. */
  generationBatchSize: number;
  promptsPerGeneration: number;
  /** Which generation batch every micro-batch trains on (num_iterations, steps_per_generation). */
  plan: GenerationPlan;
  /** The behaviour-policy correction, or null when importance_sampling_correction is off. */
  correction: BehaviourCorrection | null;
  /** Schedule horizon (max_steps after resolving -1). */
  maxSteps: number;
  /** Optimizer steps actually run (stop_at_step, or maxSteps). */
  stopAtStep: number;
  schedule: LrSchedule;
  adamw: AdamWHyperparams;
  /** Things allowed but probably unintended. */
  warnings: ConfigIssue[];
}

/** A zod issue as ConfigIssues; an unknown key that is a TRL knob says what loractor does with it. */
function zodIssueToConfigIssues(i: z.ZodIssue): ConfigIssue[] {
  if (i.code === 'unrecognized_keys' && i.path.length === 0) {
    return i.keys.map((k) => ({ field: k, message: grpoKeyRefusal(k) ?? 'unknown key (not a GRPO knob)' }));
  }
  return [{ field: i.path.length ? i.path.join('.') : '(config)', message: i.message }];
}

/**
 * Parse (zod defaults and per-field checks), cross-validate and derive. `datasetSize` (number of
 * prompts) is needed only when max_steps is -1. Throws GrpoConfigError naming the fields.
 */
export function resolveGrpoConfig(input: unknown, opts: { datasetSize?: number } = {}): ResolvedGrpoConfig {
  const parsed = grpoConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new GrpoConfigError(parsed.error.issues.flatMap(zodIssueToConfigIssues));
  }
  const c = parsed.data;
  const { issues, warnings } = crossValidateGrpoConfig(c, opts.datasetSize);
  if (issues.length) throw new GrpoConfigError(issues);
  const completionsPerStep = c.per_device_train_batch_size * c.gradient_accumulation_steps;
  const promptsPerStep = completionsPerStep / c.num_generations;
  const generationBatchSize = generationBatchSizeOf(c);
  const plan: GenerationPlan = {
    gradientAccumulationSteps: c.gradient_accumulation_steps,
    stepsPerGeneration: generationBatchSize / c.per_device_train_batch_size,
    numIterations: c.num_iterations,
  };
  // An epoch is every prompt generated for once and trained on num_iterations times (TRL repeats each
  // prompt batch μ times in its sampler).
  const maxSteps =
    c.max_steps > 0
      ? c.max_steps
      : Math.ceil((c.num_train_epochs * opts.datasetSize! * c.num_iterations) / promptsPerStep);
  if (!(maxSteps > 0))
    throw new GrpoConfigError([
      { field: 'max_steps', message: `derived horizon is ${maxSteps} (dataset size ${opts.datasetSize})` },
    ]);
  const stopAtStep = c.stop_at_step ?? maxSteps;
  if (stopAtStep > maxSteps)
    throw new GrpoConfigError([
      { field: 'stop_at_step', message: `${stopAtStep} is beyond the schedule horizon max_steps ${maxSteps}` },
    ]);
  const warmupSteps = warmupStepsFor(maxSteps, c.warmup_ratio, c.warmup_steps);
  if (warmupSteps > maxSteps)
    throw new GrpoConfigError([
      {
        field: c.warmup_steps > 0 ? 'warmup_steps' : 'warmup_ratio',
        message: `${warmupSteps} warmup steps exceed max_steps ${maxSteps}`,
      },
    ]);
  const schedule: LrSchedule = { type: c.lr_scheduler_type, learningRate: c.learning_rate, maxSteps, warmupSteps };
  if (c.lr_scheduler_kwargs.min_lr_rate !== undefined) schedule.minLrRate = c.lr_scheduler_kwargs.min_lr_rate;
  if (c.lr_scheduler_kwargs.min_lr !== undefined) schedule.minLr = c.lr_scheduler_kwargs.min_lr;
  if (c.lr_scheduler_kwargs.num_cycles !== undefined) schedule.numCycles = c.lr_scheduler_kwargs.num_cycles;
  const inputObject = input !== null && typeof input === 'object' ? (input as Record<string, unknown>) : {};
  return {
    config: { ...c, seed: c.seed ?? 42 },
    scaleRewards: normaliseScaleRewards(c.scale_rewards),
    epsilonHigh: c.epsilon_high ?? c.epsilon,
    completionsPerStep,
    promptsPerStep,
    generationBatchSize,
    promptsPerGeneration: generationBatchSize / c.num_generations,
    plan,
    correction: c.importance_sampling_correction
      ? {
          mode: c.importance_sampling_mode,
          clipMin: c.importance_sampling_clip_min,
          clipMax: c.importance_sampling_clip_max,
        }
      : null,
    maxSteps,
    stopAtStep,
    schedule,
    adamw: {
      beta1: c.adam_beta1,
      beta2: c.adam_beta2,
      eps: c.adam_epsilon,
      weightDecay: c.weight_decay,
      maxGradNorm: c.max_grad_norm,
    },
    warnings: [...warnings, ...inertKnobWarnings(inputObject, c)],
  };
}

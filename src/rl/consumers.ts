// Where each GRPO knob goes: the resolved config split into what the learner, the rollout engines and
// the advantage actor are configured with. runTraining and the roles build their messages from these
// functions, and test/unit/config-knobs.test.ts checks through them that every knob changes a computation
// (so a knob that is parsed and then never read fails CI).
import type { PolicyLossOptions } from './loss.js';
import type { BehaviourCorrection } from './behaviour-correction.js';
import type { TruncationOptions } from './token-distribution.js';
import type { LrSchedule } from './schedule.js';
import type { AdamWHyperparams } from './optimizer.js';
import type { AdvantageEstimator, DynamicSampling, ScaleRewards } from './advantages.js';
import { maxStepsPerGeneration } from './generation-plan.js';
import type { ResolvedGrpoConfig } from './config.js';
import { Rng } from '../util/rng.js';

/** The learner's algorithm settings (part of its init message, actors/learner.ts LearnerInit). */
export interface LearnerAlgorithm {
  /** Left-truncate prompts to this many tokens for the log-prob pass (TRL max_prompt_length); 0 = off. */
  maxPromptLength: number;
  maxCompletionLength: number;
  /** The objective: loss_type, beta, epsilon(_high), delta, importance_sampling_level, SAPO temperatures. */
  objective: Omit<PolicyLossOptions, 'correction' | 'maxCompletionLength' | 'global'>;
  /** Behaviour-policy importance correction (TIS / MIS), or null (importance_sampling_correction false). */
  correction: BehaviourCorrection | null;
  /** TRL mask_truncated_completions: completions without an EOS are left out of the loss. */
  maskTruncatedCompletions: boolean;
  /** The rollouts' top-p / top-k: log-probs are taken under the same truncated distribution. */
  truncation: TruncationOptions;
  /** Rollouts from a policy more than this many versions older than the one being trained are refused. */
  maxStaleness: number;
  /** Log-probs under logits / temperature (TRL ≥ 0.16; 1 reproduces TRL 0.15.2 / Tina). */
  logprobTemperature: number;
  gradientAccumulationSteps: number;
  schedule: LrSchedule;
  adamw: AdamWHyperparams;
}

export function learnerAlgorithm(r: ResolvedGrpoConfig): LearnerAlgorithm {
  const g = r.config;
  return {
    maxPromptLength: g.max_prompt_length ?? 0,
    maxCompletionLength: g.max_completion_length,
    objective: {
      lossType: g.loss_type,
      beta: g.beta,
      epsilon: g.epsilon,
      epsilonHigh: r.epsilonHigh,
      delta: g.delta,
      importanceSamplingLevel: g.importance_sampling_level,
      sapoTemperaturePos: g.sapo_temperature_pos,
      sapoTemperatureNeg: g.sapo_temperature_neg,
    },
    correction: r.correction,
    maskTruncatedCompletions: g.mask_truncated_completions,
    truncation: { topP: g.top_p, topK: g.top_k ?? 0 },
    // A generation batch trained on over several steps (num_iterations, steps_per_generation) ages by those steps.
    maxStaleness: g.max_staleness + maxStepsPerGeneration(r.plan) - 1,
    logprobTemperature: g.temperature,
    gradientAccumulationSteps: g.gradient_accumulation_steps,
    schedule: r.schedule,
    adamw: r.adamw,
  };
}

/** Sampling parameters of the rollouts of `step` (each step its own seed, derived from the run's). */
export function rolloutSampling(
  r: ResolvedGrpoConfig,
  step: number,
): { temperature: number; top_p: number; top_k: number; max_tokens: number; seed: number } {
  const g = r.config;
  return {
    temperature: g.temperature,
    top_p: g.top_p,
    top_k: g.top_k ?? 0,
    max_tokens: g.max_completion_length,
    seed: Rng.derive(g.seed, 'rollout', step).nextU32(),
  };
}

/** The advantage actor's settings (admitGroups, minus the rewards and the pool). */
export function advantageSettings(r: ResolvedGrpoConfig): {
  groupSize: number;
  estimator: AdvantageEstimator;
  scale_rewards: ScaleRewards;
  dynamic_sampling: DynamicSampling;
  max_num_gen_batches: number;
} {
  const g = r.config;
  return {
    groupSize: g.num_generations,
    estimator: g.advantage_estimator,
    scale_rewards: r.scaleRewards,
    dynamic_sampling: g.dynamic_sampling,
    max_num_gen_batches: g.max_num_gen_batches,
  };
}

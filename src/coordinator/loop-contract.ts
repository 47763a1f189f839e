// The GRPO loop's contract: the roles as the loop sees them (GrpoRoles; roles.ts binds them to actors),
// its options, what each phase returns, the carry it checkpoints, and the trajectory records it emits.
// grpo-loop.ts runs the loop and re-exports these; its parts (loop-state.ts, produce-generation.ts,
// step-record.ts) read them from here.
import type { StepMetrics, EvalSummary } from '../report/metrics.js';
import type { AdmitGroupsResponse } from '../../protocols/advantage.js';
import type { GroupPool } from '../rl/dynamic-sampling.js';
import type { GenerationPlan } from '../rl/generation-plan.js';
import type { GenerationBatch, LoopCarry, StepInput } from './generation.js';
import type { PromptItem, RewardPhase, RolloutPhase } from './loop-types.js';

/** One line of rollouts.jsonl: a trajectory as trained on, with its provenance. */
export interface TrajectoryRecord {
  step: number;
  /** Index of the prompt in its dataset (or task stream) and of the sample within its group. */
  prompt_index: number;
  sample_index: number;
  policy_version: number;
  /** Versions between the policy that generated it and the one trained on it (0 in synchronous GRPO). */
  version_lag: number;
  actor?: string;
  engine?: string;
  sync_latency_ms?: number;
  finish_reason: string;
  completion_tokens: number;
  reward: number;
  rewards: Record<string, number | null>;
  advantage: number;
  text: string;
}

export interface LearnerPhase {
  loss: number;
  kl: number;
  grad_norm: number;
  learning_rate: number;
  tokens_per_s: number;
  version: number;
  skipped?: string;
  /** The step had no trajectories (dynamic sampling kept no group): the adapter is unchanged. */
  empty?: boolean;
  /** The loss's other metrics (TRL names: clip_ratio/*, entropy, sampling/*, …). */
  metrics?: Record<string, number>;
}

/** The roles as the loop sees them; `roles.ts` binds them to actors. */
export interface GrpoRoles {
  /** G completions per prompt from exactly adapter version `policyVersion` (the loop's choice). */
  generate(prompts: PromptItem[], step: number, policyVersion: number): Promise<RolloutPhase>;
  score(prompts: PromptItem[], rollout: RolloutPhase, step: number): Promise<RewardPhase>;
  /**
   * One generation round through dynamic sampling (the advantage actor): keep the groups it allows,
   * say whether another round is needed and, once the batch is complete, its advantages.
   */
  admit(
    rewards: RewardPhase,
    pool: GroupPool | undefined,
    targetGroups: number,
    step: number,
  ): Promise<AdmitGroupsResponse>;
  /** Old-policy log-probs of a generation batch's completions (the plan needs them), per micro-batch of the given sizes in training order. */
  oldLogprobs(batch: GenerationBatch, microBatchSizes: number[]): Promise<Float32Array[]>;
  train(input: StepInput, step: number): Promise<LearnerPhase>;
  /** Push `version` to every rollout actor, verified; `rejected` counts replies that failed verification (then republished). */
  sync(version: number): Promise<{ seconds: number; rejected: number }>;
  evaluate(version: number, step: number): Promise<EvalSummary>;
  /** Save everything needed to resume after `step` (with the loop's carry: generation batches in use, rollouts made ahead). */
  checkpoint(step: number, pending?: PendingRollout): Promise<string | undefined>;
}

/** The loop's carry between steps (generation batches in use, an async rollout made ahead): checkpointed so resume loses nothing. */
export type PendingRollout = LoopCarry;

export interface GrpoLoopOptions {
  firstStep: number;
  lastStep: number;
  /** Prompts per generation round (generation_batch_size / num_generations). */
  promptsPerGeneration: number;
  /** G (num_generations). */
  groupSize: number;
  /** Which generation batch each micro-batch trains on (num_iterations, steps_per_generation). */
  plan: GenerationPlan;
  /** Seed of the generation-batch shuffle (when a batch is spread over optimizer steps). */
  seed: number;
  nextPrompts(count: number): PromptItem[];
  evalEvery: number;
  checkpointEvery: number;
  /** Evaluate the starting policy before the first step. */
  evalBefore: boolean;
  /** 0 = synchronous GRPO; k ≥ 1 = generate step n+1 while training step n, rollouts ≤ k versions old. */
  maxStaleness: number;
  onStep(m: StepMetrics): void;
  /** Every trajectory of a finished step with its provenance (written to rollouts.jsonl). */
  onTrajectories?(records: TrajectoryRecord[]): void;
  onEval(e: EvalSummary): void;
  /** Lines for the run's log (dynamic sampling that could not fill a batch, …). */
  onLog?(line: string): void;
  shouldStop?(): boolean;
  /** Resume: the carry the interrupted run checkpointed with firstStep − 1. */
  pending?: PendingRollout;
  /** When to give up on a run instead of training on garbage (run.max_reward_failure_rate, ...). */
  abort?: AbortPolicy;
}

export interface AbortPolicy {
  /** Abort when more than this fraction of a step's completions could not be scored (timeouts, crashes). */
  maxRewardFailureRate: number;
  /** Abort after this many consecutive skipped updates (non-finite loss or gradients). */
  maxConsecutiveSkippedUpdates: number;
}

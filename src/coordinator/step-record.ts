// Phase 7 of a GRPO step: what the step leaves behind. Its metrics record (TRL's names where TRL has
// one), the trajectories of each generation batch it trained on first (rollouts.jsonl, with their
// provenance), and the retirement of batches no later step trains on.
import type { StepMetrics } from '../report/metrics.js';
import { lastStepOfGeneration, microBatchesOfStep } from '../rl/generation-plan.js';
import { generationMetrics, type GenerationBatch } from './generation.js';
import type { LearnerPhase, TrajectoryRecord } from './loop-contract.js';
import type { LoopState } from './loop-state.js';

/** The batches a step trained on (`used`, one per generation in `gens`) and the ones it produced. */
export interface StepBatches {
  gens: readonly number[];
  used: readonly GenerationBatch[];
  produced: readonly GenerationBatch[];
}

/** The step's metrics record, before its phase times and elapsed_s are added. */
export function stepMetrics(
  s: LoopState,
  { gens, used, produced }: StepBatches,
  learned: LearnerPhase,
  synced: { seconds: number; rejected: number },
): StepMetrics {
  const { step, version, o } = s;
  const rolloutVersion = Math.min(...used.map((b) => b.policyVersion));
  const gm = generationMetrics(used);
  const m: StepMetrics = {
    step,
    elapsed_s: 0,
    ...gm,
    reward: gm.reward!,
    reward_std: gm.reward_std ?? NaN,
    num_tokens: s.numTokens,
    kl: learned.kl,
    loss: learned.loss,
    learning_rate: learned.learning_rate,
    grad_norm: learned.grad_norm,
    ...(learned.metrics ?? {}),
    ...rolloutStats(produced),
    'learner/tokens_per_s': learned.tokens_per_s,
    'sync/latency_s': synced.seconds,
    // Sync replies that failed verification this step (each was republished and applied on retry).
    sync_rejected: synced.rejected + produced.reduce((a, b) => a + b.rollout.syncRejected, 0),
    policy_version: version,
    'rollout/policy_version': rolloutVersion,
    version_lag: version - 1 - rolloutVersion,
    max_staleness: o.maxStaleness,
    // 1 when the learner skipped the update (NaN/Inf loss or gradients, or nothing to train on; the adapter is unchanged).
    skipped_update: learned.skipped || learned.empty ? 1 : 0,
  };
  if (o.plan.numIterations > 1 || o.plan.stepsPerGeneration !== o.plan.gradientAccumulationSteps) {
    m.generation_batch = gens[gens.length - 1]!;
    m.iteration = microBatchesOfStep(o.plan, step).at(-1)!.iteration;
  }
  return m;
}

/** A generation batch's records are written once, at the first step that trains on it. */
export function recordTrajectories(s: LoopState, used: readonly GenerationBatch[]): void {
  for (const b of used.filter((x) => !x.recorded)) {
    s.o.onTrajectories?.(trajectoryRecords(b, s.step));
    b.recorded = true;
  }
}

/** Drops the generation batches no step after this one trains on. */
export function retireGenerations(s: LoopState): void {
  for (const g of [...s.buffer.keys()]) if (lastStepOfGeneration(s.o.plan, g) <= s.step) s.buffer.delete(g);
}

/** Rollout throughput of the generation batches produced this step (none when it reuses one). */
function rolloutStats(produced: readonly GenerationBatch[]): Record<string, number> {
  const out: Record<string, number> = {};
  if (produced.length === 0) return out;
  out['rollout/tokens_per_s'] = produced.reduce((a, b) => a + b.rollout.tokensPerSecond, 0) / produced.length;
  const ttft = produced.map((b) => b.rollout.timeToFirstTokenS).filter((v): v is number => v !== undefined);
  if (ttft.length) out['rollout/time_to_first_token_s'] = ttft.reduce((a, x) => a + x, 0) / ttft.length;
  return out;
}

function trajectoryRecords(b: GenerationBatch, step: number): TrajectoryRecord[] {
  return b.completions.map((c, i) => ({
    step,
    prompt_index: b.prompts[c.promptIndex]!.index,
    sample_index: c.sampleIndex,
    policy_version: c.policyVersion,
    version_lag: step - 1 - c.policyVersion,
    ...(c.actor !== undefined ? { actor: c.actor } : {}),
    ...(c.engine !== undefined ? { engine: c.engine } : {}),
    ...(c.syncLatencyMs !== undefined ? { sync_latency_ms: c.syncLatencyMs } : {}),
    finish_reason: c.finishReason,
    completion_tokens: c.tokenIds.length,
    reward: b.total[i]!,
    rewards: Object.fromEntries(Object.entries(b.perFunc).map(([k, v]) => [k, v[i] ?? null])),
    advantage: b.advantages[i]!,
    text: c.text,
  }));
}

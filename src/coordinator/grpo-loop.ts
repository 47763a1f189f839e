// The GRPO loop as the coordinator runs it on the main thread. Each step:
//   1. take B prompts (each will get G completions: TRL's RepeatRandomSampler)
//   2. rollout: G completions per prompt from the current policy version, with behaviour log-probs
//   3. reward: every reward function per completion, weighted total (NaN terms skipped)
//   4. advantage: group-normalised within each prompt's G completions
//   5. learner: policy + reference log-probs, GRPO loss, backward into LoRA, AdamW; publish version
//   6. weight sync: rollout (and evaluator) apply the new version, verified, before the next step
//   7. metrics for the step; periodic evaluation and checkpoint
// Async mode (maxStaleness ≥ 1): the rollout of step n+1 is started before the learner trains on step
// n, so generation overlaps training, and the learner's truncated importance-sampling correction
// accounts for the older policy with the behaviour log-probs. Which policy version a rollout uses is
// decided here, not by timing: the newest version published when the loop asks for it (the learner is
// idle then, or about to train), so step n+1's first round, asked during step n, comes from version
// n − 1 (one behind, within any maxStaleness ≥ 1), and rounds asked in line come from version n. The
// rollout actors apply exactly that version (the WeightStore keeps it resident while the learner
// publishes the next one), so a run is the same however slow its actors are, and a resumed run,
// which restores the loop's version and its carry, asks for the same versions as an uninterrupted one.
// Everything role-specific lives in the actors; this file only orders the phases and times them.
import type { StepMetrics, EvalSummary } from '../report/metrics.js';
import type { AdmitGroupsResponse } from '../../protocols/advantage.js';
import type { GroupPool } from '../rl/dynamic-sampling.js';
import {
  chunkBounds,
  generationsOfStep,
  lastStepOfGeneration,
  microBatchesOfStep,
  needsOldLogprobs,
  type GenerationPlan,
} from '../rl/generation-plan.js';
import {
  assembleGeneration,
  generationMetrics,
  stepInput,
  type GenerationBatch,
  type LoopCarry,
  type RoundResult,
  type StepInput,
} from './generation.js';
import type { CompletionRecord, PromptItem, RewardPhase, RolloutPhase } from './loop-types.js';

export type { CompletionRecord, PromptItem, RewardPhase, RolloutPhase };

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

/** The run stopped on purpose under its abort policy; the last good step is checkpointed first. */
export class RunAbortedError extends Error {
  constructor(
    message: string,
    readonly step: number,
  ) {
    super(message);
    this.name = 'RunAbortedError';
  }
}

export async function runGrpoLoop(
  roles: GrpoRoles,
  o: GrpoLoopOptions,
): Promise<{ lastStep: number; version: number }> {
  const t0 = Date.now();
  let version = o.firstStep - 1;
  if (o.evalBefore && o.evalEvery > 0) o.onEval(await roles.evaluate(version, o.firstStep - 1));
  let step = o.firstStep - 1;
  const async = o.maxStaleness > 0;
  const carry = o.pending && o.pending.step === o.firstStep ? o.pending : undefined;
  // Generation batches produced and still being trained on (num_iterations > 1, steps_per_generation > GA).
  const buffer = new Map<number, GenerationBatch>((carry?.buffer ?? []).map((b) => [b.index, b]));
  let nextGeneration =
    carry?.nextGeneration ?? Math.max(0, ...microBatchesOfStep(o.plan, o.firstStep).map((m) => m.generation));
  let numTokens = carry?.numTokens ?? 0;
  // The first round of the next generation batch, generated ahead in async mode.
  let prefetched: { prompts: PromptItem[]; rollout: Promise<RolloutPhase>; started: number } | null =
    carry?.prompts && carry.rollout
      ? { prompts: carry.prompts, rollout: Promise.resolve(carry.rollout), started: performance.now() }
      : null;
  // A batch spread over optimizer steps is shuffled first, so each step sees a mix of its groups (TRL).
  const shuffle = needsOldLogprobs({ ...o.plan, numIterations: 1 });
  let lastCheckpoint = o.firstStep - 1;
  let skippedInARow = 0;
  // Abort under the policy. After a finished step, checkpoint it as a stop would (with the carry);
  // mid-step, the prompts of the step are already drawn, so the last checkpoint stays the resume point.
  const abort = async (why: string, stepFinished: boolean): Promise<never> => {
    let where = lastCheckpoint > 0 ? ` (--resume continues from checkpoint-${lastCheckpoint})` : '';
    if (stepFinished && step > lastCheckpoint) {
      await roles.checkpoint(step, await carryNow().catch(() => undefined));
      where = ` (checkpoint-${step} saved; --resume continues from it)`;
    } else if (prefetched) await prefetched.rollout.catch(() => undefined);
    throw new RunAbortedError(`run aborted at step ${step}: ${why}${where}`, step);
  };
  const carryNow = async (): Promise<PendingRollout> => ({
    step: step + 1,
    buffer: [...buffer.values()],
    nextGeneration,
    numTokens,
    ...(prefetched ? { prompts: prefetched.prompts, rollout: await prefetched.rollout } : {}),
  });
  const startRollout = (s: number) => {
    const prompts = o.nextPrompts(o.promptsPerGeneration);
    // The version the loop holds now: the learner is not training, or trains only the step before s.
    const rollout = roles.generate(prompts, s, version);
    rollout.catch(() => undefined); // awaited later; a failure surfaces there, not as an unhandled rejection
    return { prompts, rollout, started: performance.now() };
  };
  // Generate (round after round under dynamic sampling 'refill'), score and admit one generation batch.
  const produce = async (g: number, time: Record<string, number>, phase: Phase): Promise<GenerationBatch> => {
    const rounds: RoundResult[] = [];
    let pool: GroupPool | undefined;
    for (;;) {
      const first = rounds.length === 0;
      const current = first && prefetched ? prefetched : startRollout(step);
      if (first) prefetched = null;
      const rollout = await phase('rollout', () => current.rollout);
      if (first && async) {
        time['time/rollout_total'] = (performance.now() - current.started) / 1000;
        maybePrefetch();
      }
      const rewards = await phase('reward', () => roles.score(current.prompts, rollout, step));
      const failRate = rewards.failures / Math.max(1, rollout.completions.length);
      if (o.abort && failRate > o.abort.maxRewardFailureRate) {
        await abort(
          `${rewards.failures} of ${rollout.completions.length} completions could not be scored (${(100 * failRate).toFixed(0)}% > run.max_reward_failure_rate ${o.abort.maxRewardFailureRate}); see the reward quarantine log`,
          false,
        );
      }
      rounds.push({ prompts: current.prompts, rollout, rewards });
      const r = await phase('advantage', () => roles.admit(rewards, pool, o.promptsPerGeneration, step));
      pool = r.pool;
      if (!r.done) continue;
      if (r.shortfall > 0 && r.pool.rounds > 1)
        o.onLog?.(
          `dynamic sampling: generation batch ${g} holds ${r.pool.groups.length} of ${o.promptsPerGeneration} groups with reward variance after ${r.pool.rounds} rounds (grpo.max_num_gen_batches); training on those`,
        );
      const batch = assembleGeneration(g, rounds, r, o.groupSize, shuffle, o.seed);
      for (const c of batch.completions) numTokens += batch.prompts[c.promptIndex]!.ids.length + c.tokenIds.length;
      if (needsOldLogprobs(o.plan) && batch.completions.length > 0) {
        const b = chunkBounds(batch.completions.length, o.plan.stepsPerGeneration);
        const old = await phase('old_logprobs', () =>
          roles.oldLogprobs(
            batch,
            b.slice(1).map((x, i) => x - b[i]!),
          ),
        );
        batch.old = new Array(batch.completions.length);
        batch.order.forEach((ci, k) => {
          batch.old![ci] = old[k]!;
        });
      }
      return batch;
    }
  };
  // Async mode: generate ahead the first round of the next generation batch, once the next step needs it.
  const maybePrefetch = (): void => {
    if (!async || prefetched || step >= o.lastStep) return;
    if (generationsOfStep(o.plan, step + 1).includes(nextGeneration)) prefetched = startRollout(step + 1);
  };
  while (step < o.lastStep && !(o.shouldStop?.() ?? false)) {
    step++;
    const time: Record<string, number> = {};
    const phase: Phase = async (name, fn) => {
      const s = performance.now();
      try {
        return await fn();
      } finally {
        time[`time/${name}`] = (time[`time/${name}`] ?? 0) + (performance.now() - s) / 1000;
      }
    };
    const gens = generationsOfStep(o.plan, step);
    const produced: GenerationBatch[] = [];
    for (const g of gens) {
      if (buffer.has(g)) continue;
      if (g !== nextGeneration)
        throw new Error(
          `step ${step}: generation batch ${g} needed, ${nextGeneration} is next (the carry does not match the plan)`,
        );
      nextGeneration = g + 1;
      const batch = await produce(g, time, phase);
      buffer.set(g, batch);
      produced.push(batch);
    }
    const used = gens.map((g) => buffer.get(g)!);
    maybePrefetch();
    const learned = await phase('learner', () => roles.train(stepInput(o.plan, step, buffer), step));
    version = learned.version;
    // Sync mode pushes the new version to the rollout engine now; async mode lets the running rollout
    // finish on its version, and the next request names the version it wants.
    const synced = async ? { seconds: 0, rejected: 0 } : await phase('sync', () => roles.sync(version));
    skippedInARow = learned.skipped ? skippedInARow + 1 : 0;
    const rolloutVersion = Math.min(...used.map((b) => b.policyVersion));
    const gm = generationMetrics(used);
    const m: StepMetrics = {
      step,
      elapsed_s: 0,
      ...gm,
      reward: gm.reward!,
      reward_std: gm.reward_std ?? NaN,
      num_tokens: numTokens,
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
    const evalDue = o.evalEvery > 0 && (step % o.evalEvery === 0 || step === o.lastStep);
    const ckptDue = o.checkpointEvery > 0 && (step % o.checkpointEvery === 0 || step === o.lastStep);
    // Evaluate first, so the checkpoint of this step includes its evaluation.
    if (evalDue) {
      const e = await phase('eval', () => roles.evaluate(version, step));
      o.onEval({ ...e, checkpoint: ckptDue ? `checkpoint-${step}` : undefined });
    }
    Object.assign(m, time);
    m.elapsed_s = (Date.now() - t0) / 1000;
    // The step's records are written before its checkpoint is sealed: a crash in between leaves records
    // past the newest checkpoint, which resume drops and regenerates; the other order could lose them.
    // A generation batch's records are written once, at the first step that trains on it.
    for (const b of used.filter((x) => !x.recorded)) {
      o.onTrajectories?.(trajectoryRecords(b, step));
      b.recorded = true;
    }
    o.onStep(m);
    for (const g of [...buffer.keys()]) if (lastStepOfGeneration(o.plan, g) <= step) buffer.delete(g);
    if (ckptDue) {
      await roles.checkpoint(step, await carryNow());
      lastCheckpoint = step;
    }
    if (o.abort && skippedInARow >= o.abort.maxConsecutiveSkippedUpdates) {
      await abort(
        `${skippedInARow} updates in a row skipped for non-finite loss or gradients (run.max_consecutive_skipped_updates ${o.abort.maxConsecutiveSkippedUpdates})`,
        true,
      );
    }
  }
  // Stopped early (SIGINT/SIGTERM): checkpoint the last finished step, with the carry.
  if (step > lastCheckpoint && step >= o.firstStep)
    await roles.checkpoint(step, await carryNow().catch(() => undefined));
  else if (prefetched) await prefetched.rollout.catch(() => undefined);
  return { lastStep: step, version };
}

type Phase = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

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

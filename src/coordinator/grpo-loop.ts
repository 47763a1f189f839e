// The GRPO loop as the coordinator runs it on the main thread. Each step:
//   1. take B prompts (each will get G completions: TRL's RepeatRandomSampler)
//   2. rollout: G completions per prompt from the current policy version, with behaviour log-probs
//   3. reward: every reward function per completion, weighted total (NaN terms skipped)
//   4. advantage: group-normalised within each prompt's G completions
//   5. learner: policy + reference log-probs, GRPO loss, backward into LoRA, AdamW; publish version
//   6. weight sync: rollout (and evaluator) apply the new version, verified, before the next step
//   7. metrics for the step; periodic evaluation and checkpoint
// Async mode (maxStaleness ≥ 1): the rollout of step n+1 is started before the learner trains on step
// n, so generation overlaps training; a rollout may then come from a policy up to maxStaleness
// versions old (the engine is asked for at least version n − maxStaleness), and the learner's
// truncated importance-sampling correction accounts for it with the behaviour log-probs.
// Everything role-specific lives in the actors; this file only orders the phases and times them.
import type { StepMetrics, EvalSummary } from '../report/metrics.js';

export interface PromptItem {
  /** Index of the prompt in its dataset (provenance). */
  index: number;
  ids: number[];
  /** The problem as the reward functions see it (TRL's `prompts` column). */
  text: string;
  /** The whole prompt as the engine sees it (chat template applied): `ids` is its tokenization. */
  promptText?: string;
  /** Gold solution text handed to the reward functions. */
  solution: string;
  /** Other columns of the row the reward functions get (ctx[column]), e.g. Tina's L1 target_length. */
  columns?: Record<string, unknown>;
}

export interface CompletionRecord {
  promptIndex: number;
  sampleIndex: number;
  tokenIds: number[];
  logprobs: number[];
  text: string;
  finishReason: string;
  policyVersion: number;
  /** Provenance: the rollout actor and engine that generated it, and that actor's sync latency for the request. */
  actor?: string;
  engine?: string;
  syncLatencyMs?: number;
}

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

export interface RolloutPhase {
  completions: CompletionRecord[];
  engine: string;
  policyVersion: number;
  tokensPerSecond: number;
  /** Mean time to first token over the rollout actors (builtin: the batched prefill), seconds. */
  timeToFirstTokenS?: number;
  /** Rollout actors that found the newest version corrupted and generated on the previous one (async). */
  syncRejected?: number;
}

export interface RewardPhase {
  /** Per reward function, per completion (null where the function abstains). */
  perFunc: Record<string, (number | null)[]>;
  total: number[];
  failures: number;
}

export interface AdvantagePhase {
  advantages: number[];
  /** Groups with all-equal rewards (zero advantage), as DAPO reports them. */
  degenerateGroups: number;
  rewardStd: number;
}

export interface LearnerPhase {
  loss: number;
  kl: number;
  grad_norm: number;
  learning_rate: number;
  tokens_per_s: number;
  version: number;
  skipped?: string;
}

/** The five roles as the loop sees them; `roles.ts` binds them to actors. */
export interface GrpoRoles {
  generate(prompts: PromptItem[], step: number, minPolicyVersion: number): Promise<RolloutPhase>;
  score(prompts: PromptItem[], rollout: RolloutPhase, step: number): Promise<RewardPhase>;
  advantages(rewards: RewardPhase, step: number): Promise<AdvantagePhase>;
  train(prompts: PromptItem[], rollout: RolloutPhase, adv: AdvantagePhase, step: number): Promise<LearnerPhase>;
  /** Push `version` to every rollout actor, verified; `rejected` counts replies that failed verification (then republished). */
  sync(version: number): Promise<{ seconds: number; rejected: number }>;
  evaluate(version: number, step: number): Promise<EvalSummary>;
  /** Save everything needed to resume after `step` (with the async rollout already made for step+1). */
  checkpoint(step: number, pending?: PendingRollout): Promise<string | undefined>;
}

/** A rollout generated ahead for the next step (async mode): checkpointed so resume loses nothing. */
export interface PendingRollout {
  step: number;
  prompts: PromptItem[];
  rollout: RolloutPhase;
}

export interface GrpoLoopOptions {
  firstStep: number;
  lastStep: number;
  promptsPerStep: number;
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
  shouldStop?(): boolean;
  /** Resume: the rollout for firstStep that the interrupted run had already generated. */
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
  constructor(message: string, readonly step: number) {
    super(message);
    this.name = 'RunAbortedError';
  }
}

export async function runGrpoLoop(roles: GrpoRoles, o: GrpoLoopOptions): Promise<{ lastStep: number; version: number }> {
  const t0 = Date.now();
  let version = o.firstStep - 1;
  if (o.evalBefore && o.evalEvery > 0) o.onEval(await roles.evaluate(version, o.firstStep - 1));
  let step = o.firstStep - 1;
  const async = o.maxStaleness > 0;
  // The rollout for `step`: in async mode it was started during the previous step (prefetched).
  let prefetched: { prompts: PromptItem[]; rollout: Promise<RolloutPhase>; started: number } | null =
    o.pending && o.pending.step === o.firstStep ? { prompts: o.pending.prompts, rollout: Promise.resolve(o.pending.rollout), started: performance.now() } : null;
  let lastCheckpoint = o.firstStep - 1;
  let skippedInARow = 0;
  // Abort under the policy. After a finished step, checkpoint it as a stop would (with any rollout made
  // ahead); mid-step, the prompts of the step are already drawn, so the last checkpoint stays the resume point.
  const abort = async (why: string, stepFinished: boolean): Promise<never> => {
    let where = lastCheckpoint > 0 ? ` (--resume continues from checkpoint-${lastCheckpoint})` : '';
    if (stepFinished && step > lastCheckpoint) {
      await roles.checkpoint(step, await pendingNow().catch(() => undefined));
      where = ` (checkpoint-${step} saved; --resume continues from it)`;
    } else if (prefetched) await prefetched.rollout.catch(() => undefined);
    throw new RunAbortedError(`run aborted at step ${step}: ${why}${where}`, step);
  };
  const pendingNow = async (): Promise<PendingRollout | undefined> =>
    prefetched ? { step: step + 1, prompts: prefetched.prompts, rollout: await prefetched.rollout } : undefined;
  const startRollout = (s: number) => {
    const prompts = o.nextPrompts(o.promptsPerStep);
    const rollout = roles.generate(prompts, s, Math.max(0, s - 1 - o.maxStaleness));
    rollout.catch(() => undefined); // awaited later; a failure surfaces there, not as an unhandled rejection
    return { prompts, rollout, started: performance.now() };
  };
  while (step < o.lastStep && !(o.shouldStop?.() ?? false)) {
    step++;
    const time: Record<string, number> = {};
    const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
      const s = performance.now();
      try {
        return await fn();
      } finally {
        time[`time/${name}`] = (performance.now() - s) / 1000;
      }
    };

    const current = prefetched ?? startRollout(step);
    prefetched = null;
    const prompts = current.prompts;
    const rollout = await phase('rollout', () => current.rollout);
    if (async) {
      time['time/rollout_total'] = (performance.now() - current.started) / 1000;
      if (step < o.lastStep) prefetched = startRollout(step + 1);
    }
    const rewards = await phase('reward', () => roles.score(prompts, rollout, step));
    const failRate = rewards.failures / Math.max(1, rollout.completions.length);
    if (o.abort && failRate > o.abort.maxRewardFailureRate) {
      await abort(`${rewards.failures} of ${rollout.completions.length} completions could not be scored (${(100 * failRate).toFixed(0)}% > run.max_reward_failure_rate ${o.abort.maxRewardFailureRate}); see the reward quarantine log`, false);
    }
    const adv = await phase('advantage', () => roles.advantages(rewards, step));
    const learned = await phase('learner', () => roles.train(prompts, rollout, adv, step));
    version = learned.version;
    // Sync mode pushes the new version to the rollout engine now; async mode lets the running rollout
    // finish on its version and the engine picks up the newest version when its next request starts.
    const synced = async ? { seconds: 0, rejected: 0 } : await phase('sync', () => roles.sync(version));
    skippedInARow = learned.skipped ? skippedInARow + 1 : 0;

    const m: StepMetrics = {
      step,
      elapsed_s: 0,
      reward: mean(rewards.total),
      reward_std: adv.rewardStd,
      completion_length: mean(rollout.completions.map((c) => c.tokenIds.length)),
      kl: learned.kl,
      loss: learned.loss,
      learning_rate: learned.learning_rate,
      grad_norm: learned.grad_norm,
      'rollout/tokens_per_s': rollout.tokensPerSecond,
      ...(rollout.timeToFirstTokenS !== undefined ? { 'rollout/time_to_first_token_s': rollout.timeToFirstTokenS } : {}),
      'learner/tokens_per_s': learned.tokens_per_s,
      'sync/latency_s': synced.seconds,
      // Sync replies that failed verification this step (each was republished and applied on retry).
      sync_rejected: synced.rejected + (rollout.syncRejected ?? 0),
      policy_version: version,
      'rollout/policy_version': rollout.policyVersion,
      version_lag: version - 1 - rollout.policyVersion,
      max_staleness: o.maxStaleness,
      degenerate_groups: adv.degenerateGroups,
      reward_failures: rewards.failures,
      // 1 when the learner skipped the update (NaN/Inf loss or gradients; the adapter is unchanged).
      skipped_update: learned.skipped ? 1 : 0,
    };
    for (const [fn, vals] of Object.entries(rewards.perFunc)) m[`rewards/${fn}`] = mean(vals.filter((v): v is number => v !== null && Number.isFinite(v)));
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
    o.onTrajectories?.(rollout.completions.map((c, i) => ({
      step, prompt_index: prompts[c.promptIndex]!.index, sample_index: c.sampleIndex, policy_version: c.policyVersion, version_lag: step - 1 - c.policyVersion,
      ...(c.actor !== undefined ? { actor: c.actor } : {}), ...(c.engine !== undefined ? { engine: c.engine } : {}), ...(c.syncLatencyMs !== undefined ? { sync_latency_ms: c.syncLatencyMs } : {}),
      finish_reason: c.finishReason, completion_tokens: c.tokenIds.length, reward: rewards.total[i]!,
      rewards: Object.fromEntries(Object.entries(rewards.perFunc).map(([k, v]) => [k, v[i] ?? null])), advantage: adv.advantages[i]!, text: c.text,
    })));
    o.onStep(m);
    if (ckptDue) {
      await roles.checkpoint(step, await pendingNow());
      lastCheckpoint = step;
    }
    if (o.abort && skippedInARow >= o.abort.maxConsecutiveSkippedUpdates) {
      await abort(`${skippedInARow} updates in a row skipped for non-finite loss or gradients (run.max_consecutive_skipped_updates ${o.abort.maxConsecutiveSkippedUpdates})`, true);
    }
  }
  // Stopped early (SIGINT/SIGTERM): checkpoint the last finished step, with any rollout made ahead.
  if (step > lastCheckpoint && step >= o.firstStep) await roles.checkpoint(step, await pendingNow().catch(() => undefined));
  else if (prefetched) await prefetched.rollout.catch(() => undefined);
  return { lastStep: step, version };
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

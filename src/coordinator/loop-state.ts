// What the GRPO loop holds between its phases (LoopState), set up from the options and a resumed run's
// carry, and the two things done with the whole of it: the carry a checkpoint saves (carryNow) and an
// abort under the run's policy (abortRun), which checkpoints a finished step first.
import { microBatchesOfStep, needsOldLogprobs } from '../rl/generation-plan.js';
import type { GenerationBatch } from './generation.js';
import type { GrpoLoopOptions, GrpoRoles, PendingRollout } from './loop-contract.js';
import type { PromptItem, RolloutPhase } from './loop-types.js';

/** A rollout asked for before its results are needed (async mode's first round of the next batch). */
export interface StartedRollout {
  prompts: PromptItem[];
  rollout: Promise<RolloutPhase>;
  /** performance.now() when it was asked for (time/rollout_total). */
  started: number;
}

export interface LoopState {
  readonly roles: GrpoRoles;
  readonly o: GrpoLoopOptions;
  /** Date.now() at the loop's start (elapsed_s). */
  readonly t0: number;
  /** The step being run (between steps: the last one finished). */
  step: number;
  /** The newest policy version: a rollout asked for now generates with it. */
  version: number;
  /** maxStaleness ≥ 1: the next batch's first round is generated while the learner trains. */
  readonly async: boolean;
  /** Generation batches produced and still being trained on (num_iterations > 1, steps_per_generation > GA). */
  readonly buffer: Map<number, GenerationBatch>;
  /** Index of the next generation batch to produce. */
  nextGeneration: number;
  /** TRL num_tokens: prompt + completion tokens of every generation batch so far. */
  numTokens: number;
  /** The first round of the next generation batch, generated ahead in async mode. */
  prefetched: StartedRollout | null;
  /** A batch spread over optimizer steps is shuffled first, so each step sees a mix of its groups (TRL). */
  readonly shuffle: boolean;
  lastCheckpoint: number;
  skippedInARow: number;
}

/** The state at o.firstStep: fresh, or what the resumed run's carry (o.pending) restores. */
export function openLoop(roles: GrpoRoles, o: GrpoLoopOptions, t0: number): LoopState {
  const carry = o.pending && o.pending.step === o.firstStep ? o.pending : undefined;
  return {
    roles,
    o,
    t0,
    step: o.firstStep - 1,
    version: o.firstStep - 1,
    async: o.maxStaleness > 0,
    buffer: new Map<number, GenerationBatch>((carry?.buffer ?? []).map((b) => [b.index, b])),
    nextGeneration:
      carry?.nextGeneration ?? Math.max(0, ...microBatchesOfStep(o.plan, o.firstStep).map((m) => m.generation)),
    numTokens: carry?.numTokens ?? 0,
    prefetched:
      carry?.prompts && carry.rollout
        ? { prompts: carry.prompts, rollout: Promise.resolve(carry.rollout), started: performance.now() }
        : null,
    shuffle: needsOldLogprobs({ ...o.plan, numIterations: 1 }),
    lastCheckpoint: o.firstStep - 1,
    skippedInARow: 0,
  };
}

/** What a checkpoint after the current step carries into the next: batches in use, the rollout made ahead. */
export async function carryNow(s: LoopState): Promise<PendingRollout> {
  return {
    step: s.step + 1,
    buffer: [...s.buffer.values()],
    nextGeneration: s.nextGeneration,
    numTokens: s.numTokens,
    ...(s.prefetched ? { prompts: s.prefetched.prompts, rollout: await s.prefetched.rollout } : {}),
  };
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

/**
 * Abort under the policy. After a finished step, checkpoint it as a stop would (with the carry);
 * mid-step, the prompts of the step are already drawn, so the last checkpoint stays the resume point.
 */
export async function abortRun(s: LoopState, why: string, stepFinished: boolean): Promise<never> {
  let where = s.lastCheckpoint > 0 ? ` (--resume continues from checkpoint-${s.lastCheckpoint})` : '';
  if (stepFinished && s.step > s.lastCheckpoint) {
    await s.roles.checkpoint(s.step, await carryNow(s).catch(() => undefined));
    where = ` (checkpoint-${s.step} saved; --resume continues from it)`;
  } else if (s.prefetched) await s.prefetched.rollout.catch(() => undefined);
  throw new RunAbortedError(`run aborted at step ${s.step}: ${why}${where}`, s.step);
}

/** Stopped early (SIGINT/SIGTERM) or done: checkpoint the last finished step, with the carry. */
export async function closeLoop(s: LoopState): Promise<void> {
  if (s.step > s.lastCheckpoint && s.step >= s.o.firstStep)
    await s.roles.checkpoint(s.step, await carryNow(s).catch(() => undefined));
  else if (s.prefetched) await s.prefetched.rollout.catch(() => undefined);
}

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
// Everything role-specific lives in the actors; this file only orders the phases and times them. The
// phases' parts: produce-generation.ts (1–4), step-record.ts (7); the state between them and the carry,
// abort and final checkpoint: loop-state.ts; the roles, options and records the loop speaks: loop-contract.ts.
import { generationsOfStep } from '../rl/generation-plan.js';
import { stepInput } from './generation.js';
import type { GrpoLoopOptions, GrpoRoles } from './loop-contract.js';
import { abortRun, carryNow, closeLoop, openLoop } from './loop-state.js';
import { maybePrefetch, phaseTimer, produceGenerations } from './produce-generation.js';
import { recordTrajectories, retireGenerations, stepMetrics } from './step-record.js';

export type { CompletionRecord, PromptItem, RewardPhase, RolloutPhase } from './loop-types.js';
export type {
  AbortPolicy,
  GrpoLoopOptions,
  GrpoRoles,
  LearnerPhase,
  PendingRollout,
  TrajectoryRecord,
} from './loop-contract.js';
export { RunAbortedError } from './loop-state.js';

export async function runGrpoLoop(
  roles: GrpoRoles,
  o: GrpoLoopOptions,
): Promise<{ lastStep: number; version: number }> {
  const t0 = Date.now();
  if (o.evalBefore && o.evalEvery > 0) o.onEval(await roles.evaluate(o.firstStep - 1, o.firstStep - 1));
  const s = openLoop(roles, o, t0);
  while (s.step < o.lastStep && !(o.shouldStop?.() ?? false)) {
    const step = ++s.step;
    const { time, phase } = phaseTimer();
    // 1–4. prompts, rollout, reward, advantage (and old log-probs) of each generation batch the step starts
    const gens = generationsOfStep(o.plan, step);
    const produced = await produceGenerations(s, gens, time, phase);
    const used = gens.map((g) => s.buffer.get(g)!);
    maybePrefetch(s);
    // 5. learner: loss, backward into LoRA, AdamW; it publishes the new version
    const learned = await phase('learner', () => roles.train(stepInput(o.plan, step, s.buffer), step));
    s.version = learned.version;
    // 6. weight sync. Sync mode pushes the new version to the rollout engine now; async mode lets the running
    // rollout finish on its version, and the next request names the version it wants.
    const synced = s.async ? { seconds: 0, rejected: 0 } : await phase('sync', () => roles.sync(s.version));
    s.skippedInARow = learned.skipped ? s.skippedInARow + 1 : 0;
    // 7. metrics, evaluation, records, checkpoint
    const m = stepMetrics(s, { gens, used, produced }, learned, synced);
    const evalDue = o.evalEvery > 0 && (step % o.evalEvery === 0 || step === o.lastStep);
    const ckptDue = o.checkpointEvery > 0 && (step % o.checkpointEvery === 0 || step === o.lastStep);
    // Evaluate first, so the checkpoint of this step includes its evaluation.
    if (evalDue) {
      const e = await phase('eval', () => roles.evaluate(s.version, step));
      o.onEval({ ...e, checkpoint: ckptDue ? `checkpoint-${step}` : undefined });
    }
    Object.assign(m, time);
    m.elapsed_s = (Date.now() - t0) / 1000;
    // The step's records are written before its checkpoint is sealed: a crash in between leaves records
    // past the newest checkpoint, which resume drops and regenerates; the other order could lose them.
    recordTrajectories(s, used);
    o.onStep(m);
    retireGenerations(s);
    if (ckptDue) {
      await roles.checkpoint(step, await carryNow(s));
      s.lastCheckpoint = step;
    }
    if (o.abort && s.skippedInARow >= o.abort.maxConsecutiveSkippedUpdates) {
      await abortRun(
        s,
        `${s.skippedInARow} updates in a row skipped for non-finite loss or gradients (run.max_consecutive_skipped_updates ${o.abort.maxConsecutiveSkippedUpdates})`,
        true,
      );
    }
  }
  await closeLoop(s);
  return { lastStep: s.step, version: s.version };
}

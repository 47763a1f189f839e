// Phases 1–4 of a GRPO step, for each generation batch the step starts: draw prompts, roll out G
// completions each, score them, admit groups and compute advantages (round after round under dynamic
// sampling 'refill'), then, when the plan needs them, the old policy's log-probs. In async mode the
// first round of the next batch is asked for ahead (maybePrefetch), from the version the loop holds.
import type { GroupPool } from '../rl/dynamic-sampling.js';
import { chunkBounds, generationsOfStep, needsOldLogprobs } from '../rl/generation-plan.js';
import { assembleGeneration, type GenerationBatch, type RoundResult } from './generation.js';
import { abortRun, type LoopState, type StartedRollout } from './loop-state.js';

/** Runs one named phase of the step and adds its seconds to the step's time/<name>. */
export type Phase = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

/** A step's phase timer: `time` holds time/<phase> seconds, summed over the phase's runs. */
export function phaseTimer(): { time: Record<string, number>; phase: Phase } {
  const time: Record<string, number> = {};
  const phase: Phase = async (name, fn) => {
    const s = performance.now();
    try {
      return await fn();
    } finally {
      time[`time/${name}`] = (time[`time/${name}`] ?? 0) + (performance.now() - s) / 1000;
    }
  };
  return { time, phase };
}

/** Produces the generation batches `gens` the buffer lacks, in order, into the buffer; returns them. */
export async function produceGenerations(
  s: LoopState,
  gens: readonly number[],
  time: Record<string, number>,
  phase: Phase,
): Promise<GenerationBatch[]> {
  const produced: GenerationBatch[] = [];
  for (const g of gens) {
    if (s.buffer.has(g)) continue;
    if (g !== s.nextGeneration)
      throw new Error(
        `step ${s.step}: generation batch ${g} needed, ${s.nextGeneration} is next (the carry does not match the plan)`,
      );
    s.nextGeneration = g + 1;
    const batch = await produceGeneration(s, g, time, phase);
    s.buffer.set(g, batch);
    produced.push(batch);
  }
  return produced;
}

/** Asks the rollout actors for the next prompts' completions, from the version the loop holds now. */
function startRollout(s: LoopState, forStep: number): StartedRollout {
  const prompts = s.o.nextPrompts(s.o.promptsPerGeneration);
  // The version the loop holds now: the learner is not training, or trains only the step before forStep.
  const rollout = s.roles.generate(prompts, forStep, s.version);
  rollout.catch(() => undefined); // awaited later; a failure surfaces there, not as an unhandled rejection
  return { prompts, rollout, started: performance.now() };
}

/** Async mode: generate ahead the first round of the next generation batch, once the next step needs it. */
export function maybePrefetch(s: LoopState): void {
  if (!s.async || s.prefetched || s.step >= s.o.lastStep) return;
  if (generationsOfStep(s.o.plan, s.step + 1).includes(s.nextGeneration)) s.prefetched = startRollout(s, s.step + 1);
}

/** Generate (round after round under dynamic sampling 'refill'), score and admit one generation batch. */
async function produceGeneration(
  s: LoopState,
  g: number,
  time: Record<string, number>,
  phase: Phase,
): Promise<GenerationBatch> {
  const { o, roles, step } = s;
  const rounds: RoundResult[] = [];
  let pool: GroupPool | undefined;
  for (;;) {
    const first = rounds.length === 0;
    const current = first && s.prefetched ? s.prefetched : startRollout(s, step);
    if (first) s.prefetched = null;
    const rollout = await phase('rollout', () => current.rollout);
    if (first && s.async) {
      time['time/rollout_total'] = (performance.now() - current.started) / 1000;
      maybePrefetch(s);
    }
    const rewards = await phase('reward', () => roles.score(current.prompts, rollout, step));
    const failRate = rewards.failures / Math.max(1, rollout.completions.length);
    if (o.abort && failRate > o.abort.maxRewardFailureRate) {
      await abortRun(
        s,
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
    const batch = assembleGeneration(g, rounds, r, o.groupSize, s.shuffle, o.seed);
    for (const c of batch.completions) s.numTokens += batch.prompts[c.promptIndex]!.ids.length + c.tokenIds.length;
    if (needsOldLogprobs(o.plan) && batch.completions.length > 0) await addOldLogprobs(s, batch, phase);
    return batch;
  }
}

/** The old policy's log-probs of the batch's completions, per micro-batch in training order (batch.old). */
async function addOldLogprobs(s: LoopState, batch: GenerationBatch, phase: Phase): Promise<void> {
  const b = chunkBounds(batch.completions.length, s.o.plan.stepsPerGeneration);
  const old = await phase('old_logprobs', () =>
    s.roles.oldLogprobs(
      batch,
      b.slice(1).map((x, i) => x - b[i]!),
    ),
  );
  batch.old = new Array(batch.completions.length);
  batch.order.forEach((ci, k) => {
    batch.old![ci] = old[k]!;
  });
}

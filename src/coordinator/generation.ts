// Generation batches: what one round of "generate → score → advantages" produces, and how optimizer
// steps are cut out of them (src/rl/generation-plan.ts says which batch each micro-batch trains on).
// A generation batch is plain data (its token ids and log-probs typed arrays over shared memory, which
// a checkpoint writes as lists and reviveCarry turns back), so the ones still being trained on are
// checkpointed with the run and a resumed run continues exactly (byte for byte) where the killed one stopped.
//
// Dynamic sampling (dynamic_sampling 'refill') makes a batch out of several generation rounds: the
// advantage actor keeps the groups with reward variance and says when the batch is full.
import type { AdmitGroupsResponse } from '../../protocols/advantage.js';
import type { GroupPool } from '../rl/dynamic-sampling.js';
import { chunkBounds, microBatchesOfStep, type GenerationPlan } from '../rl/generation-plan.js';
import { Rng } from '../util/rng.js';
import { float32View, int32View, packSharedRows } from '../../protocols/shared-tensor.js';
import type { CompletionRecord, PromptItem, RewardPhase, RolloutPhase } from './loop-types.js';

export interface GenerationBatch {
  /** Generation index over the run (0-based). */
  index: number;
  /** One prompt per kept group; completions[i].promptIndex indexes this list. */
  prompts: PromptItem[];
  /** Kept completions, G consecutive per group. */
  completions: CompletionRecord[];
  /** Per reward function and weighted total, aligned with completions. */
  perFunc: Record<string, (number | null)[]>;
  total: number[];
  advantages: number[];
  /** Training order of the completions (a seeded shuffle when the batch is spread over steps). */
  order: number[];
  /** Old-policy log-probs per completion, when the plan needs them (views of the learner reply's shared memory). */
  old?: Float32Array[];
  /** Rollout facts for the step metrics (of the first round). */
  engine: string;
  policyVersion: number;
  /** Generation metrics: advantage statistics, dynamic-sampling counts, reward failures. */
  stats: Record<string, number>;
  /** Rollout throughput (mean over rounds) and rejected syncs (sum). */
  rollout: { tokensPerSecond: number; timeToFirstTokenS?: number; syncRejected: number };
  /** rollouts.jsonl has its records (written when first trained on). */
  recorded: boolean;
}

/** What the loop carries from one step to the next; checkpointed so resume loses nothing. */
export interface LoopCarry {
  /** The step the carry is for (the next one to run). */
  step: number;
  /** Async mode: the first round of the next generation batch, generated ahead. */
  prompts?: PromptItem[];
  rollout?: RolloutPhase;
  /** Generation batches produced and not yet fully trained on. */
  buffer?: GenerationBatch[];
  /** Index of the next generation batch to produce. */
  nextGeneration?: number;
  /** TRL num_tokens: prompt + completion tokens of every generation batch so far. */
  numTokens?: number;
}

/** A checkpoint's carry (JSON: token ids and log-probs as lists) as the loop holds it: typed arrays again. */
export function reviveCarry(json: unknown): LoopCarry {
  const c = json as LoopCarry;
  // Back into shared memory (one buffer per list), so the learner gets descriptors as it does for fresh rollouts.
  const completions = (list: CompletionRecord[]): CompletionRecord[] => {
    const ids = packSharedRows(
      'i32',
      list.map((x) => x.tokenIds),
    );
    const logprobs = packSharedRows(
      'f32',
      list.map((x) => x.logprobs),
    );
    return list.map((x, i) => ({ ...x, tokenIds: int32View(ids[i]!), logprobs: float32View(logprobs[i]!) }));
  };
  return {
    ...c,
    ...(c.rollout ? { rollout: { ...c.rollout, completions: completions(c.rollout.completions) } } : {}),
    ...(c.buffer
      ? {
          buffer: c.buffer.map((b) => ({
            ...b,
            completions: completions(b.completions),
            ...(b.old ? { old: packSharedRows('f32', b.old).map(float32View) } : {}),
          })),
        }
      : {}),
  };
}

export interface RoundResult {
  prompts: PromptItem[];
  rollout: RolloutPhase;
  rewards: RewardPhase;
}

/**
 * Assemble a generation batch from its rounds and the advantage actor's final answer: the kept groups
 * in pool order, with their prompts, completions and rewards.
 */
export function assembleGeneration(
  index: number,
  rounds: RoundResult[],
  done: AdmitGroupsResponse & { pool: GroupPool },
  G: number,
  shuffle: boolean,
  seed: number,
): GenerationBatch {
  const prompts: PromptItem[] = [];
  const completions: CompletionRecord[] = [];
  const funcs = Object.keys(rounds[0]!.rewards.perFunc);
  const perFunc: Record<string, (number | null)[]> = Object.fromEntries(funcs.map((f) => [f, []]));
  const total: number[] = [];
  let failures = 0;
  for (const r of rounds) failures += r.rewards.failures;
  for (const [round, group] of done.pool.groups) {
    const r = rounds[round]!;
    const p = prompts.length;
    prompts.push(r.prompts[group]!);
    for (let j = 0; j < G; j++) {
      const i = group * G + j;
      const c = r.rollout.completions[i]!;
      if (c.promptIndex !== group)
        throw new Error(
          `generation ${index}: completion ${i} of round ${round} belongs to prompt ${c.promptIndex}, expected ${group} (completions must be grouped by prompt)`,
        );
      completions.push({ ...c, promptIndex: p });
      for (const f of funcs) perFunc[f]!.push(r.rewards.perFunc[f]![i] ?? null);
      total.push(r.rewards.total[i]!);
    }
  }
  const order = completions.map((_, i) => i);
  if (shuffle) Rng.derive(seed, 'generation-shuffle', index).shuffle(order);
  const stats: Record<string, number> = {
    reward_failures: failures,
    ...(done.metrics
      ? { reward_std: done.metrics.reward_std, frac_reward_zero_std: done.metrics.frac_reward_zero_std }
      : { frac_reward_zero_std: 0 }),
    ...(done.sampling ?? {}),
  };
  return {
    index,
    prompts,
    completions,
    perFunc,
    total,
    advantages: done.advantages ?? [],
    order,
    engine: rounds[0]!.rollout.engine,
    policyVersion: Math.min(...rounds.map((r) => r.rollout.policyVersion)),
    stats,
    recorded: false,
    rollout: {
      tokensPerSecond: rounds.reduce((a, r) => a + r.rollout.tokensPerSecond, 0) / rounds.length,
      ...(rounds[0]!.rollout.timeToFirstTokenS !== undefined
        ? { timeToFirstTokenS: rounds.reduce((a, r) => a + (r.rollout.timeToFirstTokenS ?? 0), 0) / rounds.length }
        : {}),
      syncRejected: rounds.reduce((a, r) => a + (r.rollout.syncRejected ?? 0), 0),
    },
  };
}

export interface StepInput {
  /** Indexes into each generation batch's completions, per micro-batch. */
  micro: { batch: GenerationBatch; indices: number[] }[];
}

/** The micro-batches of `step`, cut from the buffered generation batches. */
export function stepInput(plan: GenerationPlan, step: number, buffer: ReadonlyMap<number, GenerationBatch>): StepInput {
  return {
    micro: microBatchesOfStep(plan, step).map((ref) => {
      const batch = buffer.get(ref.generation);
      if (!batch) throw new Error(`step ${step}: generation batch ${ref.generation} is not available`);
      const b = chunkBounds(batch.completions.length, plan.stepsPerGeneration);
      return { batch, indices: batch.order.slice(b[ref.chunk]!, b[ref.chunk + 1]!) };
    }),
  };
}

/** TRL's generation metrics over the given batches' kept completions (the groups a step trains on). */
export function generationMetrics(batches: readonly GenerationBatch[]): Record<string, number> {
  const m: Record<string, number> = {};
  const comps = batches.flatMap((b) => b.completions);
  const totals = batches.flatMap((b) => b.total);
  m.reward = mean(totals);
  const lengths = comps.map((c) => c.tokenIds.length);
  const truncated = comps.map((c) => c.finishReason === 'length');
  const terminated = lengths.filter((_, i) => !truncated[i]);
  m['completions/mean_length'] = mean(lengths);
  m['completions/min_length'] = lengths.length ? Math.min(...lengths) : NaN;
  m['completions/max_length'] = lengths.length ? Math.max(...lengths) : NaN;
  m['completions/clipped_ratio'] = truncated.length ? truncated.filter(Boolean).length / truncated.length : NaN;
  // TRL reports 0 when every completion was truncated.
  m['completions/mean_terminated_length'] = terminated.length ? mean(terminated) : 0;
  m['completions/min_terminated_length'] = terminated.length ? Math.min(...terminated) : 0;
  m['completions/max_terminated_length'] = terminated.length ? Math.max(...terminated) : 0;
  for (const f of Object.keys(batches[0]?.perFunc ?? {})) {
    const vals = batches.flatMap((b) => b.perFunc[f]!).filter((v): v is number => v !== null && Number.isFinite(v));
    m[`rewards/${f}/mean`] = mean(vals);
    m[`rewards/${f}/std`] = std(vals);
  }
  // Per-batch statistics: the completion-weighted mean over batches (a step usually has one).
  const n = comps.length || 1;
  for (const key of new Set(batches.flatMap((b) => Object.keys(b.stats)))) {
    const summed = key === 'reward_failures' || key.startsWith('dynamic_sampling/');
    m[key] = summed
      ? batches.reduce((a, b) => a + (b.stats[key] ?? 0), 0)
      : batches.reduce((a, b) => a + (b.stats[key] ?? 0) * b.completions.length, 0) / n;
  }
  return m;
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** Unbiased std (torch's default), NaN with fewer than two values. */
function std(xs: number[]): number {
  if (xs.length < 2) return NaN;
  const mu = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - mu) * (x - mu), 0) / (xs.length - 1));
}

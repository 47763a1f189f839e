// The advantage actor: turns a generation batch's rewards into advantages, and runs DAPO dynamic
// sampling over generation rounds (which groups to keep, whether another round is needed, when to
// stop). Stateless and pure (a thin message layer over src/rl/advantages.ts and
// src/rl/dynamic-sampling.ts: the pool of kept groups travels in the messages), so the runtime may
// run it on several threads and a retried message gives the same answer.
// Messages (protocols/advantage.ts) are plain objects (msgpackr-friendly: number[] in and out).
import { computeGroupAdvantages, weightedRewardTotal } from '../src/rl/advantages.js';
import { admitRound, emptyGroupPool, poolMetrics } from '../src/rl/dynamic-sampling.js';
import type {
  AdmitGroupsRequest,
  AdmitGroupsResponse,
  ComputeAdvantagesRequest,
  ComputeAdvantagesResponse,
  RewardTotalsReply,
  RewardTotalsRequest,
} from '../protocols/advantage.js';
import { acceptsOf, AdvantageProtocol } from '../protocols/handlers.js';

export type {
  AdmitGroupsRequest,
  AdmitGroupsResponse,
  ComputeAdvantagesRequest,
  ComputeAdvantagesResponse,
  RewardTotalsReply,
  RewardTotalsRequest,
};

// Requests are validated against protocols/handlers.ts AdvantageProtocol (the handlers still check
// their input: they are also called in-process); the compiler checks each handler against it.
export const accepts = acceptsOf(AdvantageProtocol, { computeAdvantages, admitGroups, computeRewardTotals });

function requireNumberArray(field: string, v: unknown): number[] {
  if (!Array.isArray(v) && !ArrayBuffer.isView(v)) throw new Error(`${field}: expected an array of numbers`);
  const arr = Array.from(v as ArrayLike<unknown>);
  arr.forEach((x, i) => {
    if (typeof x !== 'number') throw new Error(`${field}[${i}]: expected a number, got ${typeof x}`);
  });
  return arr as number[];
}

export async function computeAdvantages(msg: ComputeAdvantagesRequest): Promise<ComputeAdvantagesResponse> {
  if (msg === null || typeof msg !== 'object') throw new Error('computeAdvantages: message must be an object');
  const rewards = requireNumberArray('rewards', msg.rewards);
  const r = computeGroupAdvantages(rewards, {
    groupSize: msg.groupSize,
    estimator: msg.estimator ?? 'grpo',
    scaleRewards: msg.scale_rewards ?? 'group',
    dynamicSampling: msg.dynamic_sampling ?? 'off',
  });
  return {
    advantages: Array.from(r.advantages),
    groupStats: {
      mean: Array.from(r.stats.mean),
      std: Array.from(r.stats.std),
      allEqual: Array.from(r.stats.allEqual, (x) => x === 1),
    },
    zeroVarianceGroups: r.zeroVarianceGroups,
    droppedGroups: r.droppedGroups,
    keptCompletions: Array.from(r.keptCompletions),
    refillGroups: r.refillGroups,
    appliedScale: r.appliedScale,
    metrics: r.metrics,
  };
}

/**
 * One generation round of a generation batch: keep the groups dynamic_sampling allows, say whether
 * another round is needed, and once the batch is complete compute its advantages over the kept
 * groups (batch statistics — scale_rewards 'batch', REINFORCE++ whitening — over exactly what is trained on).
 */
export async function admitGroups(msg: AdmitGroupsRequest): Promise<AdmitGroupsResponse> {
  if (msg === null || typeof msg !== 'object') throw new Error('admitGroups: message must be an object');
  const rewards = requireNumberArray('rewards', msg.rewards);
  const r = admitRound(msg.pool ?? emptyGroupPool(), rewards, {
    groupSize: msg.groupSize,
    mode: msg.dynamic_sampling,
    targetGroups: msg.targetGroups,
    maxRounds: msg.max_num_gen_batches,
  });
  if (!r.done) return { pool: r.pool, done: false, shortfall: r.shortfall };
  const sampling = msg.dynamic_sampling !== 'off' ? { sampling: poolMetrics(r.pool, msg.targetGroups) } : {};
  if (r.pool.groups.length === 0)
    return { pool: r.pool, done: true, advantages: [], ...sampling, shortfall: r.shortfall };
  const adv = computeGroupAdvantages(r.pool.rewards, {
    groupSize: msg.groupSize,
    estimator: msg.estimator ?? 'grpo',
    scaleRewards: msg.scale_rewards ?? 'group',
  });
  return {
    pool: r.pool,
    done: true,
    advantages: Array.from(adv.advantages),
    metrics: adv.metrics,
    ...sampling,
    shortfall: r.shortfall,
  };
}

/** Weighted totals with Tina's nansum; null is treated as NaN (msgpack and JSON carry no NaN in some paths). */
export async function computeRewardTotals(msg: RewardTotalsRequest): Promise<RewardTotalsReply> {
  if (msg === null || typeof msg !== 'object' || !Array.isArray(msg.perFunc))
    throw new Error('computeRewardTotals: perFunc must be an array of arrays');
  const perFunc = msg.perFunc.map((row, f) => {
    if (!Array.isArray(row)) throw new Error(`perFunc[${f}]: expected an array`);
    return row.map((x, i) => {
      if (x === null) return NaN;
      if (typeof x !== 'number') throw new Error(`perFunc[${f}][${i}]: expected a number or null, got ${typeof x}`);
      return x;
    });
  });
  const weights = requireNumberArray('weights', msg.weights);
  return { totals: Array.from(weightedRewardTotal(perFunc, weights)) };
}

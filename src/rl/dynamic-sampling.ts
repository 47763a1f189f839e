// DAPO dynamic sampling (Yu et al. 2025, §3.2; verl's filter_groups) over generation rounds: a group
// whose G rewards are all equal has zero advantage under every group-centred estimator, so it carries
// no learning signal. 'drop' removes such groups from the generation batch; 'refill' removes them and
// has the coordinator generate for another batch of prompts, keeping the groups with signal, until
// the batch holds as many groups as asked or max_num_gen_batches rounds were drawn (verl draws whole
// generation batches and keeps the first groups in draw order; so does this).
//
// The state between rounds is a plain value (the pool), passed in and out of the advantage actor, so
// that actor stays stateless and a retried message computes the same result.
import { groupStatistics, type DynamicSampling } from './advantages.js';

export interface GroupPool {
  /** Reward totals of the kept groups, G per group, in the order kept. */
  rewards: number[];
  /** Where each kept group came from: [round, group index within that round]. */
  groups: [number, number][];
  /** Generation rounds drawn so far. */
  rounds: number;
  /** Groups generated over all rounds, and how many of them had zero reward std. */
  drawnGroups: number;
  zeroStdGroups: number;
}

export function emptyGroupPool(): GroupPool {
  return { rewards: [], groups: [], rounds: 0, drawnGroups: 0, zeroStdGroups: 0 };
}

export interface AdmitOptions {
  groupSize: number;
  mode: DynamicSampling;
  /** Groups the generation batch should hold. */
  targetGroups: number;
  /** 'refill': most rounds (the first included); 0 = no limit. */
  maxRounds: number;
}

export interface AdmitResult {
  pool: GroupPool;
  /** The batch is complete (or cannot be completed: see shortfall). */
  done: boolean;
  /** Groups still missing when done (refill stopped at maxRounds, or drop). */
  shortfall: number;
}

/** Add one generation round's rewards (totals, G consecutive per group) to the pool. */
export function admitRound(pool: GroupPool, roundRewards: ArrayLike<number>, o: AdmitOptions): AdmitResult {
  if (!Number.isInteger(o.targetGroups) || o.targetGroups < 1)
    throw new Error(`targetGroups: must be a positive integer, got ${o.targetGroups}`);
  if (!Number.isInteger(o.maxRounds) || o.maxRounds < 0)
    throw new Error(`max_num_gen_batches: must be an integer ≥ 0, got ${o.maxRounds}`);
  const stats = groupStatistics(roundRewards, o.groupSize);
  const next: GroupPool = {
    rewards: [...pool.rewards],
    groups: [...pool.groups],
    rounds: pool.rounds + 1,
    drawnGroups: pool.drawnGroups + stats.numGroups,
    zeroStdGroups: pool.zeroStdGroups,
  };
  for (let g = 0; g < stats.numGroups; g++) {
    const flat = stats.allEqual[g] === 1;
    if (flat) next.zeroStdGroups++;
    if (o.mode !== 'off' && flat) continue;
    if (next.groups.length >= o.targetGroups) continue; // verl keeps the first groups in draw order
    next.groups.push([pool.rounds, g]);
    for (let j = 0; j < o.groupSize; j++) next.rewards.push(roundRewards[g * o.groupSize + j]!);
  }
  const missing = o.targetGroups - next.groups.length;
  const more = o.mode === 'refill' && missing > 0 && (o.maxRounds === 0 || next.rounds < o.maxRounds);
  return { pool: next, done: !more, shortfall: missing };
}

/** Metrics of a finished pool (loractor names under dynamic_sampling/, verl's num_gen_batches). */
export function poolMetrics(pool: GroupPool, targetGroups: number): Record<string, number> {
  return {
    'dynamic_sampling/num_gen_batches': pool.rounds,
    'dynamic_sampling/groups_drawn': pool.drawnGroups,
    'dynamic_sampling/zero_std_groups_drawn': pool.zeroStdGroups,
    'dynamic_sampling/groups_kept': pool.groups.length,
    'dynamic_sampling/shortfall': targetGroups - pool.groups.length,
  };
}

// Advantages: hand-computed cases for every estimator and scale_rewards setting, NaN reward terms,
// dynamic sampling, and the advantage actor's handlers.
import t from 'tap';
import {
  computeGroupAdvantages,
  groupStatistics,
  normaliseScaleRewards,
  weightedRewardTotal,
} from '../../src/rl/advantages.js';
import { computeAdvantages, computeRewardTotals, type ComputeAdvantagesResponse } from '../../actors/advantage.js';
import { ActorSystem } from '../../src/runtime/index.js';

/** [condition, message] for t.ok: every entry within tol of the expected value. */
function near(actual: ArrayLike<number>, expected: number[], tol: number, msg: string): [boolean, string] {
  let worst = actual.length === expected.length ? 0 : Infinity;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  return [worst <= tol, `${msg}: max |Δ| ${worst} ≤ ${tol} (got ${Array.from(actual).join(', ')})`];
}

// Two groups of G = 3: g0 = [1, 2, 3], g1 = [2, 2, 2] (all equal).
//   g0: mean 2, unbiased std = sqrt(((−1)² + 0² + 1²) / (3 − 1)) = 1.
//   g1: mean 2, std 0.
const rewards = [1, 2, 3, 2, 2, 2];

t.test('group statistics: mean and torch-style unbiased std', async (t) => {
  const s = groupStatistics(rewards, 3);
  t.ok(...near(s.mean, [2, 2], 0, 'mean'));
  t.ok(...near(s.std, [1, 0], 1e-15, 'std (N−1)'));
  t.same(Array.from(s.allEqual), [0, 1]);
  // G = 4, [0, 0, 1, 1]: mean 0.5, std = sqrt(4·0.25 / 3) = sqrt(1/3).
  t.ok(...near(groupStatistics([0, 0, 1, 1], 4).std, [Math.sqrt(1 / 3)], 1e-15, 'binary group std'));
  t.throws(() => groupStatistics([1, 2, 3], 2), /not a multiple of num_generations 2/);
  t.throws(() => groupStatistics([1, 2], 1), /num_generations/);
  t.throws(() => groupStatistics([1, NaN], 2), /rewards\[1\]: not finite/);
});

t.test('grpo, scale_rewards=group (Tina): (r − mean) / (std + 1e-4); all-equal group ⇒ 0', async (t) => {
  const r = computeGroupAdvantages(rewards, { groupSize: 3, estimator: 'grpo', scaleRewards: 'group' });
  // g0: (1−2)/(1+1e-4) = −0.99990001, 0, +0.99990001; g1: 0/(0+1e-4) = 0.
  t.ok(...near(r.advantages, [-1 / 1.0001, 0, 1 / 1.0001, 0, 0, 0], 1e-15, 'advantages'));
  t.same(r.zeroVarianceGroups, [1]);
  t.same(r.droppedGroups, [], 'dynamic sampling off keeps the group');
  t.equal(r.keptCompletions.length, 6);
  t.equal(r.metrics.reward, 2);
  t.equal(r.metrics.reward_std, 0.5, 'mean of group stds (1 + 0)/2');
  t.equal(r.metrics.frac_reward_zero_std, 0.5);
  // scale_rewards true ≡ group.
  t.ok(
    ...near(
      computeGroupAdvantages(rewards, { groupSize: 3, scaleRewards: true }).advantages,
      Array.from(r.advantages),
      0,
      'true ≡ group',
    ),
  );
});

t.test('grpo, scale_rewards=batch: group-centred, divided by the batch std', async (t) => {
  // Batch [1,2,3,2,2,2]: mean 2, deviations −1,0,1,0,0,0, unbiased var = 2/5 = 0.4, std = 0.6324555.
  const s = Math.sqrt(0.4) + 1e-4;
  const r = computeGroupAdvantages(rewards, { groupSize: 3, scaleRewards: 'batch' });
  t.ok(...near(r.advantages, [-1 / s, 0, 1 / s, 0, 0, 0], 1e-14, 'advantages'));
  t.equal(r.appliedScale, 'batch');
});

t.test('grpo, scale_rewards=none / false: r − mean', async (t) => {
  const none = computeGroupAdvantages(rewards, { groupSize: 3, scaleRewards: 'none' });
  t.ok(...near(none.advantages, [-1, 0, 1, 0, 0, 0], 0, 'none'));
  t.ok(
    ...near(
      computeGroupAdvantages(rewards, { groupSize: 3, scaleRewards: false }).advantages,
      [-1, 0, 1, 0, 0, 0],
      0,
      'false ≡ none',
    ),
  );
  t.equal(normaliseScaleRewards(false), 'none');
  t.throws(() => normaliseScaleRewards('std' as never), /scale_rewards/);
});

t.test('dr_grpo ignores scale_rewards: r − mean', async (t) => {
  const r = computeGroupAdvantages([0, 0, 1, 1], { groupSize: 4, estimator: 'dr_grpo', scaleRewards: 'group' });
  // mean 0.5 → [−0.5, −0.5, 0.5, 0.5] (grpo/group would give ±0.5/(0.57735+1e-4)).
  t.ok(...near(r.advantages, [-0.5, -0.5, 0.5, 0.5], 0, 'advantages'));
  t.equal(r.appliedScale, 'none');
});

t.test('rloo: leave-one-out baseline', async (t) => {
  // g0 = [1,2,3]: r0 − (2+3)/2 = −1.5; r1 − (1+3)/2 = 0; r2 − (1+2)/2 = 1.5.  g1: 2 − 2 = 0.
  const r = computeGroupAdvantages(rewards, { groupSize: 3, estimator: 'rloo' });
  t.ok(...near(r.advantages, [-1.5, 0, 1.5, 0, 0, 0], 1e-15, 'advantages'));
  // G = 4, [1, 0, 0, 0]: r0 − 0 = 1; others 0 − 1/3.
  t.ok(
    ...near(
      computeGroupAdvantages([1, 0, 0, 0], { groupSize: 4, estimator: 'rloo' }).advantages,
      [1, -1 / 3, -1 / 3, -1 / 3],
      1e-15,
      'G=4',
    ),
  );
});

t.test('reinforce_pp_baseline: group-centred then batch-whitened', async (t) => {
  // a = [−1,0,1,0,0,0]; mean 0; unbiased var 2/5 = 0.4 → A = a / sqrt(0.4 + 1e-8).
  const d = Math.sqrt(0.4 + 1e-8);
  const r = computeGroupAdvantages(rewards, { groupSize: 3, estimator: 'reinforce_pp_baseline' });
  t.ok(...near(r.advantages, [-1 / d, 0, 1 / d, 0, 0, 0], 1e-14, 'advantages'));
  // A batch where group means differ: [0,2 | 10,14]; a = [−1,1,−2,2]; mean 0; var = 10/3.
  const d2 = Math.sqrt(10 / 3 + 1e-8);
  t.ok(
    ...near(
      computeGroupAdvantages([0, 2, 10, 14], { groupSize: 2, estimator: 'reinforce_pp_baseline' }).advantages,
      [-1 / d2, 1 / d2, -2 / d2, 2 / d2],
      1e-14,
      'two groups',
    ),
  );
});

t.test('DAPO dynamic sampling: drop / refill all-equal groups', async (t) => {
  const drop = computeGroupAdvantages(rewards, { groupSize: 3, scaleRewards: 'batch', dynamicSampling: 'drop' });
  t.same(drop.droppedGroups, [1]);
  t.same(Array.from(drop.keptCompletions), [0, 1, 2]);
  t.equal(drop.refillGroups, 0);
  // Batch std over the kept completions [1,2,3] only = 1 → ±1/(1+1e-4).
  t.ok(...near(drop.advantages, [-1 / 1.0001, 0, 1 / 1.0001, 0, 0, 0], 1e-15, 'batch std over kept groups'));
  const refill = computeGroupAdvantages([1, 1, 0, 1, 0, 0], { groupSize: 2, dynamicSampling: 'refill' });
  t.same(refill.droppedGroups, [0, 2]);
  t.equal(refill.refillGroups, 2);
  t.equal(refill.metrics.dropped_groups, 2);
  t.throws(
    () => computeGroupAdvantages(rewards, { groupSize: 3, dynamicSampling: 'maybe' as never }),
    /dynamic_sampling/,
  );
});

t.test('weightedRewardTotal: nansum of weighted terms (Tina)', async (t) => {
  // format = [1, NaN, 0], accuracy = [NaN, NaN, 1], weights [1, 2]:
  //   c0: 1·1 + (NaN skipped) = 1;  c1: all NaN → 0 (torch.nansum);  c2: 0 + 2·1 = 2.
  t.ok(
    ...near(
      weightedRewardTotal(
        [
          [1, NaN, 0],
          [NaN, NaN, 1],
        ],
        [1, 2],
      ),
      [1, 0, 2],
      0,
      'totals',
    ),
  );
  t.ok(...near(weightedRewardTotal([Float64Array.of(0.5, -1)], [2]), [1, -2], 0, 'typed input'));
  t.throws(() => weightedRewardTotal([[1], [1, 2]], [1, 1]), /rewards\[1\]: length 2/);
  t.throws(() => weightedRewardTotal([[1]], [1, 1]), /reward_weights/);
});

t.test('advantage actor handlers', async (t) => {
  const res = await computeAdvantages({
    rewards,
    groupSize: 3,
    estimator: 'grpo',
    scale_rewards: 'group',
    dynamic_sampling: 'drop',
  });
  t.ok(...near(res.advantages, [-1 / 1.0001, 0, 1 / 1.0001, 0, 0, 0], 1e-15, 'advantages'));
  t.same(res.groupStats.allEqual, [false, true]);
  t.same(res.droppedGroups, [1]);
  t.same(res.keptCompletions, [0, 1, 2]);
  t.ok(Array.isArray(res.advantages), 'plain arrays for msgpack');
  await t.rejects(computeAdvantages({ rewards: [1, 'x' as never], groupSize: 2 }), /rewards\[1\]: expected a number/);
  await t.rejects(computeAdvantages({ rewards: [1, 2, 3], groupSize: 2 }), /not a multiple/);
  const tot = await computeRewardTotals({
    perFunc: [
      [1, null, 0],
      [null, null, 1],
    ],
    weights: [1, 2],
  });
  t.same(tot.totals, [1, 0, 2]);
});

t.test('advantage actor in real worker threads (runtime ActorSystem, msgpack transport)', async (t) => {
  const sys = await ActorSystem.start({ advantage: { module: 'actors/advantage.ts', threads: 2, retries: 0 } });
  t.teardown(() => sys.shutdown());
  // G = 6 (Tina open_rs3), accuracy-like rewards; group 1 all correct.
  const msg = {
    rewards: [0, 3, 0, 3, 1, 0, 3, 3, 3, 3, 3, 3],
    groupSize: 6,
    estimator: 'grpo' as const,
    scale_rewards: 'group' as const,
    dynamic_sampling: 'refill' as const,
  };
  const [inWorker, local] = await Promise.all([
    sys.ask<ComputeAdvantagesResponse>('advantage', 'computeAdvantages', msg),
    computeAdvantages(msg),
  ]);
  t.same(inWorker, local, 'same result through the worker');
  t.same(inWorker.droppedGroups, [1]);
  t.equal(inWorker.refillGroups, 1);
  const err = await sys
    .ask('advantage', 'computeAdvantages', { rewards: [1, 2, 3], groupSize: 2 })
    .catch((e: unknown) => e);
  t.match(String((err as Error).message), /not a multiple of num_generations 2/, 'the worker error names the problem');
});

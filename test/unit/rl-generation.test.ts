// Generation batches with TRL's semantics (num_iterations, steps_per_generation,
// gradient_accumulation_steps), checked against a direct simulation of TRL's _prepare_inputs loop;
// and DAPO dynamic sampling over generation rounds (drop, refill, the round limit), as the advantage
// actor runs it.
import t from 'tap';
import {
  chunkBounds,
  firstStepOfGeneration,
  generationsOfStep,
  lastStepOfGeneration,
  maxStepsPerGeneration,
  microBatchesOfStep,
  needsOldLogprobs,
  type GenerationPlan,
} from '../../src/rl/generation-plan.js';
import { admitRound, emptyGroupPool, poolMetrics } from '../../src/rl/dynamic-sampling.js';
import { computeGroupAdvantages } from '../../src/rl/advantages.js';
import { admitGroups } from '../../actors/advantage.js';
import { resolveGrpoConfig } from '../../src/rl/config.js';

/** TRL GRPOTrainer: micro-step j trains on buffer[j % spg], the buffer regenerated when j % (spg·μ) == 0. */
function simulateTrl(p: GenerationPlan, steps: number): { generation: number; chunk: number }[][] {
  const out: { generation: number; chunk: number }[][] = [];
  let generation = -1;
  for (let j = 0; j < steps * p.gradientAccumulationSteps; j++) {
    if (j % (p.stepsPerGeneration * p.numIterations) === 0) generation++;
    const s = Math.floor(j / p.gradientAccumulationSteps);
    (out[s] ??= []).push({ generation, chunk: j % p.stepsPerGeneration });
  }
  return out;
}

t.test("micro-batches of each step match a simulation of TRL's loop", async (t) => {
  const plans: GenerationPlan[] = [];
  for (const ga of [1, 2, 3, 4])
    for (const spg of [1, 2, 3, 4, 8])
      for (const mu of [1, 2, 3])
        plans.push({ gradientAccumulationSteps: ga, stepsPerGeneration: spg, numIterations: mu });
  for (const p of plans) {
    const trl = simulateTrl(p, 12);
    const ours = Array.from({ length: 12 }, (_, s) =>
      microBatchesOfStep(p, s + 1).map(({ generation, chunk }) => ({ generation, chunk })),
    );
    if (JSON.stringify(trl) !== JSON.stringify(ours)) t.fail(`plan ${JSON.stringify(p)} differs`);
    // Every generation's steps, and the old-log-prob rule (TRL: GA % (spg·μ) ≠ 0).
    for (let g = 0; lastStepOfGeneration(p, g) <= 12; g++) {
      const steps = ours.map((mbs, s) => (mbs.some((m) => m.generation === g) ? s + 1 : 0)).filter(Boolean);
      if (steps[0] !== firstStepOfGeneration(p, g) || steps.at(-1) !== lastStepOfGeneration(p, g))
        t.fail(`plan ${JSON.stringify(p)} generation ${g}: steps ${steps}`);
      if (steps.length > maxStepsPerGeneration(p))
        t.fail(`plan ${JSON.stringify(p)}: generation ${g} spans ${steps.length} steps`);
    }
    const spansUpdates = ours.some(
      (_, s) => s > 0 && ours[s]!.some((m) => ours[s - 1]!.some((n) => n.generation === m.generation)),
    );
    if (spansUpdates !== needsOldLogprobs(p))
      t.fail(`plan ${JSON.stringify(p)}: needsOldLogprobs ${needsOldLogprobs(p)}, spans updates ${spansUpdates}`);
  }
  t.pass(`${plans.length} plans × 12 steps agree with TRL`);
});

t.test('the cases people set', async (t) => {
  const d = { gradientAccumulationSteps: 1, stepsPerGeneration: 1, numIterations: 1 };
  t.same(microBatchesOfStep(d, 7), [{ generation: 6, chunk: 0, iteration: 0 }], 'default: one generation per step');
  t.equal(needsOldLogprobs(d), false, 'default: no old log-probs (ratio ≡ 1)');
  const mu2 = { ...d, numIterations: 2 };
  t.same(
    [1, 2, 3, 4].map((s) => microBatchesOfStep(mu2, s)[0]),
    [
      { generation: 0, chunk: 0, iteration: 0 },
      { generation: 0, chunk: 0, iteration: 1 },
      { generation: 1, chunk: 0, iteration: 0 },
      { generation: 1, chunk: 0, iteration: 1 },
    ],
    'num_iterations 2: each batch trained on in two consecutive steps',
  );
  t.equal(needsOldLogprobs(mu2), true);
  const spread = { gradientAccumulationSteps: 2, stepsPerGeneration: 4, numIterations: 1 };
  t.same(generationsOfStep(spread, 1), [0]);
  t.same(
    microBatchesOfStep(spread, 2).map((m) => m.chunk),
    [2, 3],
    'steps_per_generation 4, GA 2: the second step trains on chunks 2 and 3',
  );
  t.equal(maxStepsPerGeneration(spread), 2);
  const many = { gradientAccumulationSteps: 4, stepsPerGeneration: 2, numIterations: 1 };
  t.same(generationsOfStep(many, 1), [0, 1], 'steps_per_generation 2, GA 4: two generation batches per step');
  t.equal(needsOldLogprobs(many), false);
  t.same(chunkBounds(10, 4), [0, 2, 5, 7, 10], 'uneven batches (after dropping groups) split into near-equal chunks');
});

t.test("config: steps_per_generation / generation_batch_size with TRL's rules", async (t) => {
  const base = { max_steps: 10, per_device_train_batch_size: 8, gradient_accumulation_steps: 2, num_generations: 4 };
  const d = resolveGrpoConfig(base);
  t.same(
    [d.generationBatchSize, d.promptsPerGeneration, d.plan.stepsPerGeneration],
    [16, 4, 2],
    'default: steps_per_generation = gradient_accumulation_steps',
  );
  const s = resolveGrpoConfig({ ...base, steps_per_generation: 4 });
  t.same([s.generationBatchSize, s.promptsPerGeneration], [32, 8]);
  const g = resolveGrpoConfig({ ...base, generation_batch_size: 48 });
  t.equal(g.plan.stepsPerGeneration, 6);
  t.throws(
    () => resolveGrpoConfig({ ...base, generation_batch_size: 48, steps_per_generation: 2 }),
    /generation_batch_size: generation_batch_size and steps_per_generation cannot both be set/,
  );
  t.throws(
    () => resolveGrpoConfig({ ...base, generation_batch_size: 20 }),
    /generation_batch_size: 20 must be a multiple of per_device_train_batch_size 8/,
  );
  t.throws(
    () =>
      resolveGrpoConfig({
        ...base,
        per_device_train_batch_size: 6,
        gradient_accumulation_steps: 2,
        num_generations: 4,
        steps_per_generation: 3,
      }),
    /steps_per_generation: the generation batch \(18 completions\) must be a multiple of num_generations 4/,
  );
  // One epoch with num_iterations μ takes μ times the steps (each batch is trained on μ times).
  t.equal(resolveGrpoConfig({ ...base, max_steps: -1, num_iterations: 2 }, { datasetSize: 40 }).maxSteps, 20);
});

// ---- dynamic sampling ---------------------------------------------------------------------------

// Four groups of G = 2: group 1 and 3 have all-equal rewards.
const round1 = [1, 0, 1, 1, 0, 1, 0, 0];
const round2 = [2, 2, 0, 2, 1, 0, 1, 1];

t.test('drop keeps the groups with reward variance; off keeps all', async (t) => {
  const off = admitRound(emptyGroupPool(), round1, { groupSize: 2, mode: 'off', targetGroups: 4, maxRounds: 10 });
  t.same([off.done, off.pool.groups.length, off.pool.zeroStdGroups], [true, 4, 2]);
  const drop = admitRound(emptyGroupPool(), round1, { groupSize: 2, mode: 'drop', targetGroups: 4, maxRounds: 10 });
  t.same(
    [drop.done, drop.pool.groups, drop.pool.rewards, drop.shortfall],
    [
      true,
      [
        [0, 0],
        [0, 2],
      ],
      [1, 0, 0, 1],
      2,
    ],
  );
});

t.test('refill draws rounds until the batch is full, keeping the first groups in draw order', async (t) => {
  const o = { groupSize: 2, mode: 'refill' as const, targetGroups: 4, maxRounds: 10 };
  const a = admitRound(emptyGroupPool(), round1, o);
  t.same([a.done, a.pool.groups.length], [false, 2], 'two of four: another round');
  const b = admitRound(a.pool, round2, o);
  t.same(
    [b.done, b.pool.groups, b.shortfall],
    [
      true,
      [
        [0, 0],
        [0, 2],
        [1, 1],
        [1, 2],
      ],
      0,
    ],
    'full after round 2 (its groups with variance fill the batch)',
  );
  t.same(poolMetrics(b.pool, 4), {
    'dynamic_sampling/num_gen_batches': 2,
    'dynamic_sampling/groups_drawn': 8,
    'dynamic_sampling/zero_std_groups_drawn': 4,
    'dynamic_sampling/groups_kept': 4,
    'dynamic_sampling/shortfall': 0,
  });
  // max_num_gen_batches 1: stop after the first round with what was found.
  const capped = admitRound(emptyGroupPool(), round1, { ...o, maxRounds: 1 });
  t.same([capped.done, capped.shortfall], [true, 2], 'round limit: done with a shortfall of 2');
  // 0 = no limit.
  let pool = emptyGroupPool();
  for (let r = 0; r < 30; r++) {
    const x = admitRound(pool, [1, 1, 1, 1, 1, 1, 1, 1], { ...o, maxRounds: 0 });
    t.equal(x.done, false);
    pool = x.pool;
    if (r === 2) break;
  }
});

t.test('the advantage actor: advantages over exactly the kept groups', async (t) => {
  const first = await admitGroups({
    rewards: round1,
    groupSize: 2,
    targetGroups: 4,
    dynamic_sampling: 'refill',
    max_num_gen_batches: 5,
    estimator: 'grpo',
    scale_rewards: 'batch',
  });
  t.equal(first.done, false);
  t.equal(first.advantages, undefined);
  const second = await admitGroups({
    pool: first.pool,
    rewards: round2,
    groupSize: 2,
    targetGroups: 4,
    dynamic_sampling: 'refill',
    max_num_gen_batches: 5,
    estimator: 'grpo',
    scale_rewards: 'batch',
  });
  t.equal(second.done, true);
  const kept = [1, 0, 0, 1, 0, 2, 1, 0];
  t.same(second.pool.rewards, kept);
  t.same(
    second.advantages,
    Array.from(computeGroupAdvantages(kept, { groupSize: 2, scaleRewards: 'batch' }).advantages),
    'batch std over the kept groups only',
  );
  t.equal(second.metrics!.frac_reward_zero_std, 0, 'no zero-std group in the trained batch');
  t.equal(second.sampling!['dynamic_sampling/num_gen_batches'], 2);
  const off = await admitGroups({
    rewards: round1,
    groupSize: 2,
    targetGroups: 4,
    dynamic_sampling: 'off',
    max_num_gen_batches: 5,
  });
  t.same(
    [off.done, off.sampling, off.metrics!.frac_reward_zero_std],
    [true, undefined, 0.5],
    "off: one round, TRL's frac_reward_zero_std, no dynamic-sampling metrics",
  );
});

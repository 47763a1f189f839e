// The GRPO loop over generation batches, on scripted roles (the real advantage actor's pure handler
// decides dynamic sampling): num_iterations 2 trains each batch in two consecutive steps against old
// log-probs taken once; steps_per_generation spreads a shuffled batch over steps; dynamic_sampling
// 'refill' generates more rounds until no zero-std group is left, and says so in the metrics; the
// loop's carry, checkpointed and restored through JSON, resumes to exactly the uninterrupted run.
import t from 'tap';
import { runGrpoLoop, type GrpoLoopOptions, type GrpoRoles, type PromptItem } from '../../src/coordinator/grpo-loop.js';
import { reviveCarry, type StepInput } from '../../src/coordinator/generation.js';
import { typedArraysAsLists } from '../../src/coordinator/checkpoint.js';
import { admitGroups } from '../../actors/advantage.js';
import type { DynamicSampling } from '../../src/rl/advantages.js';
import type { GenerationPlan } from '../../src/rl/generation-plan.js';
import type { StepMetrics } from '../../src/report/metrics.js';

const G = 2;

interface Log {
  calls: string[];
  trained: Record<number, string[]>;
  metrics: StepMetrics[];
  records: number;
  checkpoints: Record<number, string>;
}

/** Prompt i's group has reward variance unless i % 3 === 0 (then both completions score 1). */
function roles(log: Log, dynamic: DynamicSampling, maxRounds = 10): GrpoRoles {
  return {
    async generate(prompts, step) {
      log.calls.push(`generate ${step} [${prompts.map((p) => p.index).join(',')}]`);
      const completions = prompts.flatMap((p, pi) =>
        Array.from({ length: G }, (_, s) => ({
          promptIndex: pi,
          sampleIndex: s,
          tokenIds: Int32Array.of(p.index, s),
          logprobs: Float32Array.of(-1, -1),
          text: `${p.index}/${s}`,
          finishReason: s === 1 && p.index % 4 === 0 ? 'length' : 'eos',
          policyVersion: step - 1,
        })),
      );
      return { completions, engine: 'script', policyVersion: step - 1, tokensPerSecond: 1 };
    },
    async score(prompts, rollout) {
      const total = rollout.completions.map((c) => (prompts[c.promptIndex]!.index % 3 === 0 ? 1 : c.sampleIndex));
      return { perFunc: { acc: total }, total, failures: 0 };
    },
    async admit(r, pool, targetGroups) {
      return admitGroups({
        ...(pool ? { pool } : {}),
        rewards: r.total,
        groupSize: G,
        targetGroups,
        dynamic_sampling: dynamic,
        max_num_gen_batches: maxRounds,
      });
    },
    async oldLogprobs(batch, sizes) {
      log.calls.push(`old ${batch.index} [${sizes.join(',')}]`);
      return batch.order.map((i) => Float32Array.from(batch.completions[i]!.tokenIds, (x) => -x / 100));
    },
    async train(input: StepInput, step) {
      log.trained[step] = input.micro.flatMap((mb) =>
        mb.indices.map((i) => {
          const c = mb.batch.completions[i]!;
          return `${c.text}:${mb.batch.advantages[i]!.toFixed(3)}${mb.batch.old ? `:old${mb.batch.old[i]![0]}` : ''}`;
        }),
      );
      log.calls.push(`train ${step}`);
      return {
        loss: 0,
        kl: 0,
        grad_norm: 1,
        learning_rate: 1e-3,
        tokens_per_s: 1,
        version: step,
        metrics: { 'clip_ratio/region_mean': 0 },
      };
    },
    async sync() {
      return { seconds: 0, rejected: 0 };
    },
    async evaluate(version, step) {
      return { step, policy_version: version, pass_at_1: {}, average: 0 };
    },
    async checkpoint(step, pending) {
      log.checkpoints[step] = JSON.stringify(pending, typedArraysAsLists); // as a checkpoint writes it
      return `checkpoint-${step}`;
    },
  };
}

function promptSource(start = 0) {
  let next = start;
  return {
    next: (n: number): PromptItem[] =>
      Array.from({ length: n }, () => ({ index: next, ids: [next++], text: 'p', solution: '1' })),
    drawn: () => next,
  };
}

function options(
  plan: GenerationPlan,
  log: Log,
  src: ReturnType<typeof promptSource>,
  over: Partial<GrpoLoopOptions> = {},
): GrpoLoopOptions {
  return {
    firstStep: 1,
    lastStep: 6,
    promptsPerGeneration: 3,
    groupSize: G,
    plan,
    seed: 7,
    nextPrompts: src.next,
    evalEvery: 0,
    checkpointEvery: 1,
    evalBefore: false,
    maxStaleness: 0,
    onStep: (m) => log.metrics.push(m),
    onEval: () => {},
    onTrajectories: (r) => {
      log.records += r.length;
    },
    ...over,
  };
}
const newLog = (): Log => ({ calls: [], trained: {}, metrics: [], records: 0, checkpoints: {} });

t.test('num_iterations 2: one generation and one old-log-prob pass per two steps, same batch twice', async (t) => {
  const log = newLog();
  await runGrpoLoop(
    roles(log, 'off'),
    options({ gradientAccumulationSteps: 1, stepsPerGeneration: 1, numIterations: 2 }, log, promptSource()),
  );
  t.same(
    log.calls.filter((c) => !c.startsWith('train')),
    ['generate 1 [0,1,2]', 'old 0 [6]', 'generate 3 [3,4,5]', 'old 1 [6]', 'generate 5 [6,7,8]', 'old 2 [6]'],
  );
  t.same(log.trained[2], log.trained[1], "step 2 trains on step 1's batch");
  t.notSame(log.trained[3], log.trained[2]);
  t.ok(
    log.trained[1]!.every((x) => x.includes(':old')),
    'old log-probs travel with every trajectory',
  );
  t.same(
    log.metrics.map((m) => [m.generation_batch, m.iteration]),
    [
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
      [2, 0],
      [2, 1],
    ],
  );
  t.equal(log.records, 18, 'each trajectory recorded once (at its first step)');
  t.same(
    log.metrics.map((m) => m.num_tokens),
    [18, 18, 36, 36, 54, 54],
    'num_tokens counts each generation once (prompt + completion tokens)',
  );
  t.equal(log.metrics[0]!['completions/clipped_ratio'], 1 / 6, 'truncated completions (finish length) share');
});

t.test('steps_per_generation 2 over GA 1: a batch spread over two steps, shuffled, with old log-probs', async (t) => {
  const log = newLog();
  await runGrpoLoop(
    roles(log, 'off'),
    options({ gradientAccumulationSteps: 1, stepsPerGeneration: 2, numIterations: 1 }, log, promptSource(), {
      promptsPerGeneration: 4,
    }),
  );
  t.same(
    log.calls.filter((c) => c.startsWith('generate')),
    ['generate 1 [0,1,2,3]', 'generate 3 [4,5,6,7]', 'generate 5 [8,9,10,11]'],
  );
  t.same(
    log.calls.filter((c) => c.startsWith('old')),
    ['old 0 [4,4]', 'old 1 [4,4]', 'old 2 [4,4]'],
    'old log-probs in the training micro-batches',
  );
  const both = [...log.trained[1]!, ...log.trained[2]!];
  t.equal(new Set(both).size, 8, 'steps 1 and 2 together train on the whole batch, once each');
  const inOrder = ['0/0', '0/1', '1/0', '1/1'];
  t.notSame(
    log.trained[1]!.map((x) => x.split(':')[0]),
    inOrder,
    'the batch is shuffled across the two steps (TRL)',
  );
});

t.test('dynamic_sampling refill: full batches without zero-std groups, and the count in the metrics', async (t) => {
  const log = newLog();
  await runGrpoLoop(
    roles(log, 'refill'),
    options({ gradientAccumulationSteps: 1, stepsPerGeneration: 1, numIterations: 1 }, log, promptSource()),
  );
  // Prompts 0, 3, 6, … have no reward variance: generation 0 draws [0,1,2] then [3,4,5] to find 3 groups.
  t.same(log.calls.slice(0, 3), ['generate 1 [0,1,2]', 'generate 1 [3,4,5]', 'train 1']);
  for (let s = 1; s <= 6; s++) {
    const prompts = new Set(log.trained[s]!.map((x) => Number(x.split('/')[0])));
    t.equal(prompts.size, 3, `step ${s}: a full batch of 3 groups`);
    t.ok(
      [...prompts].every((p) => p % 3 !== 0),
      `step ${s}: no zero-std group trained on`,
    );
  }
  t.ok(
    log.metrics.every(
      (m) =>
        m.frac_reward_zero_std === 0 &&
        m['dynamic_sampling/groups_kept'] === 3 &&
        m['dynamic_sampling/shortfall'] === 0,
    ),
  );
  // Each step: round 1 keeps two of three groups (one index is a multiple of 3), round 2 the missing one.
  t.same(
    log.metrics.map((m) => m['dynamic_sampling/num_gen_batches']),
    [2, 2, 2, 2, 2, 2],
    'rounds drawn per step',
  );
  t.same(
    log.metrics.map((m) => m['dynamic_sampling/zero_std_groups_drawn']),
    [2, 2, 2, 2, 2, 2],
    'zero-std groups met (and dropped) per step',
  );
  // drop: the zero-std groups leave the batch, nothing is drawn again.
  const drop = newLog();
  await runGrpoLoop(
    roles(drop, 'drop'),
    options({ gradientAccumulationSteps: 1, stepsPerGeneration: 1, numIterations: 1 }, drop, promptSource(), {
      lastStep: 2,
    }),
  );
  t.same(
    drop.trained[1]!.map((x) => x.split(':')[0]),
    ['1/0', '1/1', '2/0', '2/1'],
    'drop: prompt 0 left out, no refill',
  );
  // refill with max_num_gen_batches 1 behaves as drop and reports the shortfall.
  const capped = newLog();
  const lines: string[] = [];
  await runGrpoLoop(
    roles(capped, 'refill', 1),
    options({ gradientAccumulationSteps: 1, stepsPerGeneration: 1, numIterations: 1 }, capped, promptSource(), {
      lastStep: 1,
      onLog: (l) => lines.push(l),
    }),
  );
  t.equal(capped.metrics[0]!['dynamic_sampling/shortfall'], 1);
});

t.test('the carry survives a JSON checkpoint: resuming mid-batch gives the uninterrupted run', async (t) => {
  for (const plan of [
    { gradientAccumulationSteps: 1, stepsPerGeneration: 1, numIterations: 2 },
    { gradientAccumulationSteps: 1, stepsPerGeneration: 2, numIterations: 2 },
    { gradientAccumulationSteps: 2, stepsPerGeneration: 3, numIterations: 1 },
  ]) {
    for (const maxStaleness of [0, 1]) {
      const clean = newLog();
      const drawnAt: Record<number, number> = {};
      const src = promptSource();
      await runGrpoLoop(
        roles(clean, 'refill'),
        options(plan, clean, src, {
          maxStaleness,
          promptsPerGeneration: 4,
          onStep: (m) => {
            clean.metrics.push(m);
            drawnAt[m.step] = src.drawn();
          },
        }),
      );
      for (const at of [1, 3, 4]) {
        const resumed = newLog();
        const carry = reviveCarry(JSON.parse(clean.checkpoints[at]!));
        await runGrpoLoop(
          roles(resumed, 'refill'),
          options(plan, resumed, promptSource(drawnAt[at]), {
            maxStaleness,
            promptsPerGeneration: 4,
            firstStep: at + 1,
            pending: carry,
          }),
        );
        const same = [at + 1, 5, 6].every(
          (s) => JSON.stringify(resumed.trained[s]) === JSON.stringify(clean.trained[s]),
        );
        t.ok(
          same,
          `plan ${JSON.stringify(plan)} staleness ${maxStaleness}: resumed after step ${at}, steps ${at + 1}–6 identical`,
        );
      }
    }
  }
});

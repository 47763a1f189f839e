// The loop's abort policy, on scripted roles (the loop only orders phases; the actors are tested
// elsewhere): consecutive skipped updates abort after checkpointing the finished step; a step whose
// rewards mostly failed aborts before training, keeping the last checkpoint as the resume point.
import t from 'tap';
import { runGrpoLoop, RunAbortedError, type GrpoRoles, type PromptItem } from '../../src/coordinator/grpo-loop.js';
import { admitGroups } from '../../actors/advantage.js';

function roles(opts: { skipFrom?: number; failAt?: number }, calls: string[]): GrpoRoles {
  return {
    async generate(prompts, step) {
      calls.push(`generate ${step}`);
      return {
        completions: prompts.flatMap((_, p) =>
          [0, 1].map((s) => ({
            promptIndex: p,
            sampleIndex: s,
            tokenIds: Int32Array.of(1, 2),
            logprobs: Float32Array.of(-1, -1),
            text: 'x',
            finishReason: 'eos',
            policyVersion: step - 1,
          })),
        ),
        engine: 'script',
        policyVersion: step - 1,
        tokensPerSecond: 1,
      };
    },
    async score(_p, rollout, step) {
      const n = rollout.completions.length;
      return {
        perFunc: { f: rollout.completions.map(() => 1) },
        total: rollout.completions.map((_, i) => i % 2),
        failures: step === opts.failAt ? n - 1 : 0,
      };
    },
    async admit(r, pool, targetGroups) {
      return admitGroups({
        ...(pool ? { pool } : {}),
        rewards: r.total,
        groupSize: 2,
        targetGroups,
        dynamic_sampling: 'off',
        max_num_gen_batches: 0,
      });
    },
    async oldLogprobs() {
      throw new Error('not needed by this plan');
    },
    async train(_input, step) {
      calls.push(`train ${step}`);
      const skipped = opts.skipFrom !== undefined && step >= opts.skipFrom ? 'loss is NaN' : undefined;
      return {
        loss: skipped ? NaN : 0.1,
        kl: 0,
        grad_norm: 1,
        learning_rate: 1e-3,
        tokens_per_s: 1,
        version: step,
        ...(skipped ? { skipped } : {}),
      };
    },
    async sync() {
      return { seconds: 0, rejected: 0 };
    },
    async evaluate(version, step) {
      return { step, policy_version: version, pass_at_1: {}, average: 0 };
    },
    async checkpoint(step) {
      calls.push(`checkpoint ${step}`);
      return `checkpoint-${step}`;
    },
  };
}

const prompts = (n: number): PromptItem[] =>
  Array.from({ length: n }, (_, i) => ({ index: i, ids: [1], text: 'p', solution: '1' }));
const base = {
  firstStep: 1,
  lastStep: 10,
  promptsPerGeneration: 2,
  groupSize: 2,
  plan: { gradientAccumulationSteps: 1, stepsPerGeneration: 1, numIterations: 1 },
  seed: 1,
  nextPrompts: prompts,
  evalEvery: 0,
  evalBefore: false,
  onStep: () => {},
  onEval: () => {},
};
const abort = { maxRewardFailureRate: 0.5, maxConsecutiveSkippedUpdates: 3 };

t.test('three skipped updates in a row abort after checkpointing the finished step', async (t) => {
  for (const maxStaleness of [0, 1]) {
    const calls: string[] = [];
    const err = await runGrpoLoop(roles({ skipFrom: 3 }, calls), {
      ...base,
      maxStaleness,
      checkpointEvery: 2,
      abort,
    }).catch((e: unknown) => e);
    t.ok(err instanceof RunAbortedError, `aborted (max_staleness ${maxStaleness})`);
    t.match(
      (err as Error).message,
      /run aborted at step 5: 3 updates in a row skipped for non-finite loss or gradients \(run\.max_consecutive_skipped_updates 3\) \(checkpoint-5 saved; --resume continues from it\)/,
    );
    t.equal(calls.filter((c) => c.startsWith('train')).length, 5, 'no step after the abort');
    t.same(
      calls.filter((c) => c.startsWith('checkpoint')),
      ['checkpoint 2', 'checkpoint 4', 'checkpoint 5'],
    );
  }
});

t.test(
  'a step whose rewards mostly failed aborts before training; the last checkpoint stays the resume point',
  async (t) => {
    const calls: string[] = [];
    const err = await runGrpoLoop(roles({ failAt: 3 }, calls), {
      ...base,
      maxStaleness: 0,
      checkpointEvery: 2,
      abort,
    }).catch((e: unknown) => e);
    t.ok(err instanceof RunAbortedError);
    t.match(
      (err as Error).message,
      /run aborted at step 3: 3 of 4 completions could not be scored \(75% > run\.max_reward_failure_rate 0\.5\); see the reward quarantine log \(--resume continues from checkpoint-2\)/,
    );
    t.same(
      calls.filter((c) => c.startsWith('train')),
      ['train 1', 'train 2'],
      'step 3 never trained',
    );
    t.same(
      calls.filter((c) => c.startsWith('checkpoint')),
      ['checkpoint 2'],
    );
  },
);

t.test('without an abort policy (or under its bounds) the run goes on', async (t) => {
  const calls: string[] = [];
  const r = await runGrpoLoop(roles({ skipFrom: 9, failAt: 3 }, calls), {
    ...base,
    maxStaleness: 0,
    checkpointEvery: 0,
    abort: { maxRewardFailureRate: 0.8, maxConsecutiveSkippedUpdates: 3 },
  });
  t.equal(r.lastStep, 10);
});

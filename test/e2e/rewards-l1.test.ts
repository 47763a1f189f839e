// Tina's L1 length-control rewards (tina/post_train_hf/rewards.py @c6274cd: len_reward_l1_exact,
// len_reward_l1_max; alpha 0.0003, delta 0.5, lengths in characters, all 0 when a group's lengths
// are equal) and the data side that feeds them: a target length per row, asked for in the system
// prompt, handed to the rewards as target_length. Expected values are worked out by hand from the
// reference formulas, not computed by the code under test.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeL1ExactRewards, computeL1MaxRewards, L1_ALPHA } from '../../src/rewards/length.js';
import { l1ExactReward, l1MaxReward } from '../../src/rewards/accuracy.js';
import { parseRewardsConfig } from '../../src/rewards/config.js';
import {
  rewardRoleSpec,
  rewardRunnerOnActorSystem,
  scoreBatch,
  type RewardItem,
} from '../../src/rewards/score-batch.js';
import { ActorSystem } from '../../src/runtime/actor-system.js';
import { checkDataForRewards, dataSectionSchema, parseSection } from '../../src/coordinator/config.js';
import { createPromptSource, l1TargetLength } from '../../src/coordinator/prompts.js';
import { loadTokenizer } from '../../src/model/tokenizer.js';
import { readQwen2Config } from '../../src/model/config.js';
import { repoRoot } from '../../src/util/paths.js';

const near = (a: number, b: number): boolean => Math.abs(a - b) < 1e-12;
const nearAll = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((x, i) => near(x, b[i]!));

t.test('L1-Exact: correct 1 - 0.0003|L - target|, wrong -0.0003|L - target|', async (t) => {
  t.equal(L1_ALPHA, 0.0003);
  // L 100/300/500 against target 300: |d| = 200, 0, 200
  t.ok(nearAll(computeL1ExactRewards([100, 300, 500], [true, true, false], [300, 300, 300]), [0.94, 1, -0.06]));
  // each completion its own target
  t.ok(nearAll(computeL1ExactRewards([1000, 2000], [true, false], [4000, 100]), [1 - 0.9, -0.57]));
  // far past the target the correct reward goes negative (not clipped in Tina's code)
  t.ok(nearAll(computeL1ExactRewards([10, 5000], [true, true], [100, 100]), [1 - 0.027, 1 - 1.47]));
  t.same(
    computeL1ExactRewards([42, 42, 42], [true, false, true], [10, 20, 30]),
    [0, 0, 0],
    "equal lengths: all 0 (Tina's min == max guard)",
  );
  t.same(computeL1ExactRewards([], [], []), []);
  t.throws(() => computeL1ExactRewards([1, 2], [true, true], [1]), /must agree/);
  t.throws(() => computeL1ExactRewards([1, 2], [true, true], [1, Number.NaN]), /target_length of completion 1/);
});

t.test('L1-Max: correct clip(0.0003 (target - L) + 0.5, 0, 1), wrong 0', async (t) => {
  // L 100 / 300 / 5000 against 300: 0.56, 0.5, clip(-0.91) = 0; 4000 vs L 100: clip(1.67) = 1
  t.ok(
    nearAll(
      computeL1MaxRewards([100, 300, 5000, 101], [true, true, true, true], [300, 300, 300, 4000]),
      [0.56, 0.5, 0, 1],
    ),
  );
  t.same(computeL1MaxRewards([100, 200], [false, false], [300, 300]), [0, 0], 'wrong answers score 0');
  t.same(computeL1MaxRewards([7, 7], [true, true], [300, 300]), [0, 0], 'equal lengths: all 0');
});

t.test('the reward functions check answers as len_reward and read ctx.target_length', async (t) => {
  const completions = ['so \\boxed{5}', 'after a long derivation we get \\boxed{5}', 'no: \\boxed{6}'];
  const lengths = completions.map((c) => c.length);
  const ctx = { solution: ['$5$', '$5$', '$5$'], target_length: [20, 20, 20] };
  const exact = l1ExactReward(completions, ctx) as number[];
  t.ok(
    nearAll(exact, [
      1 - 0.0003 * Math.abs(lengths[0]! - 20),
      1 - 0.0003 * Math.abs(lengths[1]! - 20),
      -0.0003 * Math.abs(lengths[2]! - 20),
    ]),
  );
  const max = l1MaxReward(completions, ctx) as number[];
  t.ok(nearAll(max, [0.0003 * (20 - lengths[0]!) + 0.5, 0.0003 * (20 - lengths[1]!) + 0.5, 0]));
  t.throws(() => l1ExactReward(completions, { solution: ctx.solution }), /ctx\.target_length.*data\.l1_target_length/);
});

t.test("on the reward role: per group on the main side, targets from the items' columns", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loractor-l1-'));
  const cfg = parseRewardsConfig({
    reward_funcs: ['length_l1_exact', 'length_l1_max', 'accuracy'],
    reward_num_workers: 2,
    reward_quarantine_path: 'q.jsonl',
  });
  const system = await ActorSystem.start({ reward: rewardRoleSpec(cfg, dir) });
  t.teardown(() => system.shutdown());
  const pool = rewardRunnerOnActorSystem(system);
  const groups = [
    ['\\boxed{4}', 'hmm, then \\boxed{4}', 'wrong \\boxed{5}'],
    ['\\boxed{7}', 'x \\boxed{7}'],
  ];
  const sols = ['$4$', '$7$'];
  const targets = [
    [5, 50, 500],
    [9, 9],
  ];
  const items: RewardItem[] = groups.flatMap((g, gi) =>
    g.map((c, ci) => ({
      completion: c,
      solution: sols[gi]!,
      group: gi,
      columns: { target_length: targets[gi]![ci]! },
    })),
  );
  const res = await scoreBatch(pool, items, cfg, { concurrency: 2, baseDir: dir });
  const want = (fn: typeof l1ExactReward) =>
    groups.flatMap((g, gi) => fn(g, { solution: g.map(() => sols[gi]!), target_length: targets[gi]! }) as number[]);
  t.same(res.rewards['length_l1_exact'], want(l1ExactReward));
  t.same(res.rewards['length_l1_max'], want(l1MaxReward));
  t.equal(res.failures.length, 0);
  const missing = scoreBatch(
    pool,
    [
      { completion: '\\boxed{4}', solution: '$4$', group: 0 },
      { completion: 'a \\boxed{4}', solution: '$4$', group: 0 },
    ],
    cfg,
    { concurrency: 1, baseDir: dir },
  );
  await t.rejects(missing, /length_l1_exact: the item has no numeric target_length/);
});

t.test('a config with an L1 reward needs data.l1_target_length', async (t) => {
  const data = parseSection(dataSectionSchema, { source: 'dataset', path: 'x.jsonl' }, 'data');
  t.throws(
    () => checkDataForRewards(data, ['format', 'length_l1_max']),
    /rewards\.reward_funcs\.1: 'length_l1_max' needs a target length per prompt: set data\.l1_target_length/,
  );
  const withL1 = parseSection(
    dataSectionSchema,
    { source: 'dataset', path: 'x.jsonl', l1_target_length: { min: 100, max: 4000 } },
    'data',
  );
  t.doesNotThrow(() => checkDataForRewards(withL1, ['length_l1_exact']));
  t.throws(
    () =>
      parseSection(
        dataSectionSchema,
        { source: 'dataset', path: 'x.jsonl', l1_target_length: { min: 9, max: 3 } },
        'data',
      ),
    /data\.l1_target_length: l1_target_length\.min must not exceed max/,
  );
});

t.test(
  'prompts: a seeded target per row, "Think for N tokens." in the system prompt, target_length to the rewards',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'loractor-l1-data-'));
    const file = join(dir, 'train.jsonl');
    writeFileSync(
      file,
      [1, 2, 3, 4].map((i) => JSON.stringify({ problem: `${i}+${i}`, solution: `$${2 * i}$` })).join('\n') + '\n',
    );
    const tinyDir = join(repoRoot(), 'models', 'tiny');
    const tok = loadTokenizer(tinyDir, readQwen2Config(join(tinyDir, 'config.json')));
    const data = parseSection(
      dataSectionSchema,
      {
        source: 'dataset',
        path: file,
        system_prompt_text: 'S',
        unencodable_text: 'warn',
        chat_template_jinja: '{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}',
        l1_target_length: { min: 100, max: 4000 },
      },
      'data',
    );
    const src = await createPromptSource(data, tok, 7);
    const items = src.next(4);
    for (const p of items) {
      const target = p.columns?.target_length as number;
      t.ok(Number.isInteger(target) && target >= 100 && target <= 4000, `target ${target} in [100, 4000]`);
      t.equal(target, l1TargetLength(7, p.index, 100, 4000), 'a function of the seed and the row only');
      t.equal(p.promptText, `[system:S\nThink for ${target} tokens.][user:${p.text}]`);
    }
    t.ok(new Set(items.map((p) => p.columns?.target_length)).size > 1, 'rows get different targets');
    const counts = new Set(Array.from({ length: 2000 }, (_, i) => l1TargetLength(1, i, 1, 4)));
    t.same([...counts].sort(), [1, 2, 3, 4], 'both ends of the range are reachable (randint is inclusive)');
    // without the option: no column, no suffix
    const plain = await createPromptSource(
      parseSection(
        dataSectionSchema,
        {
          source: 'dataset',
          path: file,
          system_prompt_text: 'S',
          unencodable_text: 'warn',
          chat_template_jinja: '{% for m in messages %}[{{ m.content }}]{% endfor %}',
        },
        'data',
      ),
      tok,
      7,
    );
    const p0 = plain.next(1)[0]!;
    t.equal(p0.columns, undefined);
    t.equal(p0.promptText, `[S][${p0.text}]`);
  },
);

t.test(
  'a training run with an L1 reward: targets reach the rewards; without data.l1_target_length the config is refused',
  async (t) => {
    const { runTraining } = await import('../../src/coordinator/index.js');
    const root = repoRoot();
    const base = JSON.parse((await import('node:fs')).readFileSync(join(root, 'configs/default.json'), 'utf8'));
    const dir = mkdtempSync(join(tmpdir(), 'loractor-l1-run-'));
    writeFileSync(
      join(dir, 'train.jsonl'),
      Array.from({ length: 8 }, (_, i) =>
        JSON.stringify({ question: `${10 + i}+${20 + 3 * i}=`, answer: String(30 + 4 * i) }),
      ).join('\n') + '\n',
    );
    const cfg = {
      ...base,
      model: { ...base.model, path: join(root, 'models/tiny') },
      run: { ...base.run, max_steps: 2, checkpoint_every: 0 },
      data: {
        source: 'dataset',
        path: dir,
        dataset_id: 'local/additions',
        system_prompt: 'none',
        chat_template: 'model',
        unencodable_text: 'warn',
        l1_target_length: { min: 5, max: 60 },
      },
      grpo: { ...base.grpo, max_steps: 2, prompts_per_step: 4, num_generations: 4, per_device_train_batch_size: 16 },
      rewards: { ...base.rewards, reward_funcs: ['length_l1_exact', 'accuracy'], reward_weights: [1, 1] },
      eval: { ...base.eval, eval_steps: 0, eval_before_training: false },
    };
    const r = await runTraining(cfg, { outDir: join(dir, 'run'), quiet: true });
    t.equal(r.metrics.length, 2);
    t.ok(
      r.metrics.every((m) => Number.isFinite(m['rewards/length_l1_exact/mean'] as number)),
      'the L1 reward is scored every step',
    );
    const rollouts = (await import('node:fs'))
      .readFileSync(join(dir, 'run', 'rollouts.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    t.ok(rollouts.length > 0);
    const noTarget = { ...cfg, data: { ...cfg.data, l1_target_length: null } };
    await t.rejects(
      runTraining(noTarget, { outDir: join(dir, 'run2'), quiet: true }),
      /rewards\.reward_funcs\.0: 'length_l1_exact' needs a target length per prompt/,
    );
  },
);

// resolveRunConfig: every default of a training config comes from the schema (one place), the CLI's
// overrides apply, config problems are ConfigErrors naming the field; `check` and training resolve
// the same way (the one-seed rule and the actors section were training-only before), and a config
// problem found while planning the run (the model's context) is a ConfigError too (the CLI exits 2).
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveRunConfig } from '../../src/coordinator/run-config.js';
import { planRun } from '../../src/coordinator/setup.js';
import { checkConfig } from '../../src/cli/check.js';
import { ConfigError, loadConfig, rootConfigSchema } from '../../src/config/index.js';
import { repoRoot } from '../../src/util/paths.js';

const tiny = join(repoRoot(), 'models/tiny');
const minimal = () => ({ model: { path: tiny }, data: { source: 'task' } });
const work = mkdtempSync(join(tmpdir(), 'loractor-run-config-'));

t.test('defaults come from the schema, for a raw config as for a loaded one', async (t) => {
  const rc = resolveRunConfig(minimal());
  const schemaRun = rootConfigSchema.parse({}).run;
  t.same(rc.run, schemaRun, 'run.* exactly the schema defaults (no fallbacks elsewhere)');
  t.equal(rc.run.checkpoint_every, 50, 'checkpoint_every 50 (runTraining fell back to 0 for a raw config)');
  t.equal(rc.seed, 42);
  const file = join(work, 'minimal.json');
  writeFileSync(file, JSON.stringify(minimal()));
  const loaded = resolveRunConfig(loadConfig(file), { configPath: file });
  t.same(loaded.run, rc.run, 'a config loaded by the CLI resolves to the same run settings');
  t.same(loaded.evalCfg, rc.evalCfg, 'and the same eval settings');
  t.same(loaded.grpo0, rc.grpo0, 'and the same GRPO settings');
  const over = resolveRunConfig({ ...minimal(), run: { seed: 3, max_steps: 9 } }, { seed: 7, maxSteps: 2 });
  t.same(
    [over.seed, over.run.seed, over.run.max_steps, over.grpo0.seed],
    [7, 7, 2, 7],
    "--seed and --max-steps override run.*, and the run seed is GRPO's",
  );
});

t.test('config problems are ConfigErrors naming the field', async (t) => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['grpo.seed', { ...minimal(), run: { seed: 1 }, grpo: { seed: 2 } }, /grpo\.seed 2 differs from run\.seed 1/],
    [
      'actors.reward',
      { ...minimal(), actors: { reward: { threads: 2 } } },
      /actors\.reward: the reward pool is set by rewards\.reward_num_workers/,
    ],
    [
      'actors.learner.threads',
      { ...minimal(), actors: { learner: { threads: 2 } } },
      /actors\.learner\.threads: the learner is one worker/,
    ],
    ['lora.lora_r', { ...minimal(), lora: { lora_r: 0 } }, /lora\.lora_r/],
    ['grpo.num_generations', { ...minimal(), grpo: { num_generations: 'eight' } }, /num_generations/],
    ['unknown key', { ...minimal(), rnu: {} }, /rnu/],
  ];
  for (const [name, config, message] of cases) {
    const err = (() => {
      try {
        resolveRunConfig(config);
      } catch (e) {
        return e;
      }
      return null;
    })();
    t.type(err, ConfigError, `${name}: a ConfigError`);
    t.match((err as Error).message, message, `${name}: names the field`);
  }
});

t.test(
  'section parsers name the field by class, not by message text (ConfigFieldError → ConfigError.path)',
  async (t) => {
    const path = (config: Record<string, unknown>): string | null => {
      try {
        resolveRunConfig(config);
      } catch (e) {
        return e instanceof ConfigError ? e.path : `not a ConfigError: ${String(e)}`;
      }
      return null;
    };
    t.equal(path({ ...minimal(), lora: { lora_r: 0 } }), 'lora.lora_r');
    t.equal(path({ ...minimal(), rewards: { reward_funcs: ['length_l1_exact'] } }), 'rewards.reward_funcs.0');
  },
);

t.test('check refuses what training refuses (it resolves the same way)', async (t) => {
  for (const [name, config, message] of [
    ['seed', { ...minimal(), run: { seed: 1 }, grpo: { seed: 2 } }, /grpo\.seed 2 differs from run\.seed 1/],
    ['actors', { ...minimal(), actors: { reward: { threads: 2 } } }, /actors\.reward/],
  ] as const) {
    const file = join(work, `check-${name}.json`);
    writeFileSync(file, JSON.stringify(config));
    const rep = await checkConfig(file);
    t.ok(
      rep.problems.some((p) => message.test(p)),
      `${name}: check names it (${rep.problems.join(' | ')})`,
    );
  }
});

t.test('a config problem found while planning the run is a ConfigError (the CLI exits 2)', async (t) => {
  const err = await planRun({ ...minimal(), grpo: { max_completion_length: 1e9 } }).catch((e: unknown) => e);
  t.type(err, ConfigError);
  t.match((err as Error).message, /grpo\.max_completion_length: 1000000000 leaves no room for a prompt/);
  const horizon = await planRun({
    ...minimal(),
    grpo: { max_steps: 4, warmup_steps: 9, max_completion_length: 48 },
    eval: { benchmarks: ['synthetic'], max_new_tokens: 48 },
  }).catch((e: unknown) => e);
  t.type(horizon, ConfigError, 'the GRPO schedule checked against the data: a ConfigError too');
  t.match((horizon as Error).message, /grpo\.warmup_steps/);
});

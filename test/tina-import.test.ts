// tools/import-recipe: each Tina YAML recipe (test/fixtures/tina, written here from the reference
// tables) imports to the hand-written configs/tina config; unknown keys are refused with the key
// named; Tina's `scale_reward` typo is refused with a pointer to `scale_rewards`; infrastructure
// keys are listed, not dropped silently. The CLI runs as a real child process.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { repoRoot } from '../src/util/paths.js';
import { importRecipe, RecipeImportError, type ImportOptions } from '../tools/import-recipe.js';

const root = repoRoot();
const fixtures = join(root, 'test', 'fixtures', 'tina');
const fixture = (name: string) => readFileSync(join(fixtures, `train_model_${name}.yaml`), 'utf8');
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const config = (name: string): Json => JSON.parse(readFileSync(join(root, 'configs', 'tina', name + '.json'), 'utf8')) as Json;

// recipe → hand-written config, and the import options that reproduce how Tina launched it.
const CASES: [string, string, ImportOptions][] = [
  ['open_rs1', 'open-rs1', { tinaLaunch: true }],
  ['open_rs2', 'open-rs2', { tinaLaunch: true }],
  ['open_rs3', 'open-rs3', { tinaLaunch: true }],
  ['still', 'still', { tinaLaunch: true }],
  ['deepscaler', 'deepscaler', { tinaLaunch: true }],
  ['limr', 'limr', { tinaLaunch: true }],
  ['open_r1', 'open-r1', { tinaLaunch: true }],
  ['thoughts', 'open-thoughts', { tinaLaunch: true }],
  ['limr_tiny_rank_ablation', 'limr-rank-tiny', { tinaLaunch: true }],
  ['limr_small_rank_ablation', 'limr-rank-small', { tinaLaunch: true }],
  ['limr_medium_rank_ablation', 'limr-rank-medium', { tinaLaunch: true }],
  ['limr_large_rank_ablation', 'limr-rank-large', { tinaLaunch: true }],
  ['limr_large_lr_ablation', 'limr-lr-5e-6', { tinaLaunch: true }],
  ['limr_small_lr_ablation', 'limr-lr-5e-7', { tinaLaunch: true }],
  ['open_rs3_drgrpo_ablation', 'open-rs3-drgrpo-as-ran', { tinaLaunch: true, asTinaRan: true }],
  ['open_rs3_true_drgrpo', 'open-rs3-drgrpo-true', { cosineMaxLen: 3584 }],
];

const comparable = (c: Json) => ({ ...c, description: undefined });

for (const [recipe, name, opts] of CASES) {
  t.test(`${recipe}.yaml imports to configs/tina/${name}.json`, async (t) => {
    const want = config(name);
    const got = importRecipe(fixture(recipe), { ...opts, source: `train_model_${recipe}.yaml`, outDir: want.run.out_dir });
    t.same(comparable(got.config), comparable(want));
    // Nothing dropped silently: the infrastructure keys are listed with a reason.
    const ignored = got.ignored.map((i) => i.key);
    for (const k of ['bf16', 'use_vllm', 'vllm_device', 'gradient_checkpointing', 'report_to', 'hub_model_id', 'save_strategy', 'logging_steps']) t.ok(ignored.includes(k), `${k} listed as ignored`);
    t.ok(got.ignored.every((i) => i.why.length > 0));
  });
}

t.test("the launch-script override is a flag, and without it the importer says so", async (t) => {
  const plain = importRecipe(fixture('open_rs3'), { source: 'train_model_open_rs3.yaml' });
  t.equal((plain.config.rewards as Json).cosine_max_len, undefined, 'YAML alone: default 1000 applies');
  t.ok(plain.notes.some((n) => /--cosine_max_len 3584/.test(n) && /--tina-launch/.test(n)));
  const launched = importRecipe(fixture('open_rs3'), { tinaLaunch: true });
  t.equal((launched.config.rewards as Json).cosine_max_len, 3584);
  // limr was not launched with the override.
  t.equal((importRecipe(fixture('limr'), { tinaLaunch: true }).config.rewards as Json).cosine_max_len, undefined);
});

t.test("Tina's scale_reward typo is refused, naming the key and pointing at scale_rewards", async (t) => {
  const err = (() => { try { importRecipe(fixture('open_rs3_drgrpo_ablation'), { source: 'dr.yaml' }); } catch (e) { return e; } return null; })();
  t.ok(err instanceof RecipeImportError);
  const e = err as RecipeImportError;
  t.equal(e.key, 'scale_reward');
  t.match(e.message, /dr\.yaml:\d+: key 'scale_reward'/);
  t.match(e.message, /scale_rewards/);
  t.match(e.message, /silently discarded/);
  t.match(e.message, /--as-tina-ran/);
  // As it ran: dropped with a note, scale_rewards stays true.
  const asRan = importRecipe(fixture('open_rs3_drgrpo_ablation'), { asTinaRan: true });
  t.equal((asRan.config.grpo as Json).scale_rewards, true);
  t.ok(asRan.notes.some((n) => /scale_reward/.test(n)));
});

t.test('unknown keys and bad values are refused with the key (and line) named', async (t) => {
  const base = fixture('limr');
  const cases: [string, string, RegExp][] = [
    ['num_generatoins: 4\n', 'num_generatoins', /:\d+: key 'num_generatoins': is not a key loractor can map/],
    ['use_peft: false\n', 'use_peft', /LoRA adapters only/],
    ['lora_target_modules:\n- qkv_proj\n', 'lora_target_modules', /unknown module 'qkv_proj'/],
    ['model_post_train_type: sft\n', 'model_post_train_type', /only 'grpo'/],
    ['chat_template: "{{ x }}"\n', 'chat_template', /not a key loractor can map/],
    ['temperature: hot\n', 'temperature', /expected a number, got "hot"/],
    ['do_eval: true\n', 'do_eval', /in-training evaluation/],
  ];
  for (const [extra, key, re] of cases) {
    // Later duplicate keys are a YAML error, so replace the line when the key already exists.
    const k = extra.split(':')[0]!;
    const text = base.includes(`\n${k}:`) ? base.replace(new RegExp(`\\n${k}:[^\\n]*(\\n- [^\\n]*)*`), '\n' + extra.trimEnd()) : base + extra;
    try {
      importRecipe(text, { source: 'x.yaml' });
      t.fail(`${key} should be refused`);
    } catch (e) {
      t.ok(e instanceof RecipeImportError, key);
      t.equal((e as RecipeImportError).key, key);
      t.match((e as Error).message, re);
    }
  }
  t.throws(() => importRecipe('- a\n- b\n'), /mapping/);
  t.throws(() => importRecipe('a: [\n'), /invalid YAML/);
  t.throws(() => importRecipe(base.replace(/rl_post_train_reward_funcs:\n(- \w+\n)+/, '')), /no reward functions/);
  t.throws(() => importRecipe(base.replace('model_post_train_dataset_name: limr', 'model_post_train_dataset_name: gsm8k')), /unknown Tina dataset name "gsm8k"/);
});

t.test('open-r1 style recipes: reward names map to the open-r1 variants, system prompt string recognised', async (t) => {
  const yaml = [
    'model_name_or_path: Qwen/Qwen2.5-1.5B-Instruct', 'dataset_name: open-r1/OpenR1-Math-220k', 'dataset_train_split: train',
    'use_peft: true', 'lora_r: 8', 'lora_alpha: 16', 'lora_target_modules: q_proj,v_proj',
    'reward_funcs:', '- accuracy', '- format', '- tag_count', 'reward_weights:', '- 1.0', '- 1.0', '- 1.0',
    'num_generations: 8', 'per_device_train_batch_size: 8', 'gradient_accumulation_steps: 2', 'max_steps: 100', 'bf16: true', 'output_dir: data/x',
  ].join('\n') + '\n';
  const r = importRecipe(yaml, { numProcesses: 1 });
  const c = r.config as Json;
  t.same(c.rewards.reward_funcs, ['accuracy_open_r1', 'format_open_r1', 'tag_count_open_r1']);
  t.equal(c.grpo.gradient_accumulation_steps, 2);
  t.equal(c.grpo.prompts_per_step, 2);
  t.equal(c.grpo.temperature, 0.9, "TRL 0.15's default temperature when the recipe sets none");
  t.equal(c.grpo.num_train_epochs, 3, "HF's default epochs when the recipe sets none");
  t.equal(c.model.path, '../../models/Qwen2.5-1.5B-Instruct', 'relative to configs/tina/ (the default config folder)');
  t.same(c.lora.lora_target_modules, ['q_proj', 'v_proj']);
  t.equal(c.data.system_prompt, 'open_r1');
  t.ok(r.ignored.some((i) => i.key === 'output_dir'));
});

t.test('CLI: writes the config, prints ignored keys; refuses with exit 1 naming the key', async (t) => {
  const cli = join(root, 'dist', 'tools', 'import-recipe.js');
  const tmp = mkdtempSync(join(tmpdir(), 'loractor-import-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const out = join(tmp, 'open-rs2.json');
  const r = spawnSync(process.execPath, [cli, join(fixtures, 'train_model_open_rs2.yaml'), '--out', out, '--tina-launch', '--out-dir', join(root, 'runs/tina/open-rs2')], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.ok(existsSync(out));
  // Paths are written relative to the config's own folder: they name the same files as the shipped config's.
  const absolute = (c: Json, dir: string): Json => ({
    ...c, run: { ...c.run, out_dir: resolve(dir, c.run.out_dir) }, model: { ...c.model, path: resolve(dir, c.model.path) }, data: { ...c.data, path: resolve(dir, c.data.path) },
    eval: { ...c.eval, benchmark_paths: { gpqa: resolve(dir, c.eval.benchmark_paths.gpqa) } },
  });
  t.same(comparable(absolute(JSON.parse(readFileSync(out, 'utf8')) as Json, tmp)), comparable(absolute(config('open-rs2'), join(root, 'configs', 'tina'))));
  t.match((JSON.parse(readFileSync(out, 'utf8')) as Json).model.path, /^\.\.\//, 'a relative path, from the config file\'s folder');
  t.match(r.stderr, /ignored \(infrastructure\): .*bf16/);
  t.match(r.stderr, /stop_at_step 850/);
  const bad = spawnSync(process.execPath, [cli, join(fixtures, 'train_model_open_rs3_drgrpo_ablation.yaml')], { encoding: 'utf8' });
  t.equal(bad.status, 1);
  t.match(bad.stderr, /key 'scale_reward'.*scale_rewards/);
  t.equal(bad.stdout, '');
  // stdout mode prints JSON only.
  const json = execFileSync(process.execPath, [cli, join(fixtures, 'train_model_limr.yaml')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  t.equal((JSON.parse(json) as Json).lora.lora_r, 32);
  t.equal(spawnSync(process.execPath, [cli], { encoding: 'utf8' }).status, 2);
});

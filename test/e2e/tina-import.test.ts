// tools/import-recipe over every GRPO recipe file of Tina at HEAD and of open-r1 (copies in
// test/fixtures/tina and test/fixtures/open-r1, see their SOURCE.md): each imports to its
// configs/tina config, or is refused for the reason the README's recipe table states. Unknown keys
// are refused with the key named; Tina's `scale_reward` typo is refused with a pointer to
// `scale_rewards`; infrastructure keys are listed, not dropped silently; keys a recipe leaves out get
// the defaults of the TRL version its project pins. The CLI runs as a real child process.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import { readdirSync } from 'node:fs';
import { importRecipe, RecipeImportError, type ImportOptions } from '../../tools/import-recipe.js';
import { TRL_DEFAULT_CHANGES, trlDefaults } from '../../tools/recipe/trl-defaults.js';

const root = repoRoot();
const fixtures = join(root, 'test', 'fixtures', 'tina');
const fixture = (name: string) => readFileSync(join(fixtures, `train_model_${name}.yaml`), 'utf8');
const openR1 = join(root, 'test', 'fixtures', 'open-r1');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
// biome-ignore lint/suspicious/noExplicitAny: config JSON read and edited freely by path in the checks below
type Json = Record<string, any>;
const config = (name: string): Json =>
  JSON.parse(readFileSync(join(root, 'configs', 'tina', name + '.json'), 'utf8')) as Json;

// Every recipe of Tina at HEAD → its configs/tina config, with the import options that reproduce how
// Tina launched it. `refused`: what a plain import (launch overrides only) says instead.
const TINA: Record<string, { config: string; opts: ImportOptions; refused?: RegExp }> = {
  open_rs1: { config: 'open-rs1', opts: { tinaLaunch: true } },
  open_rs2: { config: 'open-rs2', opts: { tinaLaunch: true } },
  open_rs3: { config: 'open-rs3', opts: { tinaLaunch: true } },
  still: { config: 'still', opts: { tinaLaunch: true } },
  deepscaler: { config: 'deepscaler', opts: { tinaLaunch: true } },
  '2thought': { config: '2thought', opts: { tinaLaunch: true } },
  fastcurl: { config: 'fastcurl', opts: { tinaLaunch: true } },
  l1_exact: { config: 'l1-exact', opts: { tinaLaunch: true } },
  l1_max: { config: 'l1-max', opts: { tinaLaunch: true } },
  limr: { config: 'limr', opts: { tinaLaunch: true } },
  open_r1: { config: 'open-r1', opts: { tinaLaunch: true } },
  thoughts: { config: 'open-thoughts', opts: { tinaLaunch: true } },
  limr_tiny_rank_ablation: { config: 'limr-rank-tiny', opts: { tinaLaunch: true } },
  limr_small_rank_ablation: { config: 'limr-rank-small', opts: { tinaLaunch: true } },
  limr_medium_rank_ablation: { config: 'limr-rank-medium', opts: { tinaLaunch: true } },
  limr_large_rank_ablation: { config: 'limr-rank-large', opts: { tinaLaunch: true } },
  limr_large_lr_ablation: { config: 'limr-lr-5e-6', opts: { tinaLaunch: true } },
  limr_small_lr_ablation: { config: 'limr-lr-5e-7', opts: { tinaLaunch: true } },
  open_rs3_format_ablation: { config: 'open-rs3-format', opts: { tinaLaunch: true } },
  open_rs3_drgrpo_ablation: {
    config: 'open-rs3-drgrpo-as-ran',
    opts: { tinaLaunch: true, asTinaRan: true },
    refused: /key 'scale_reward'.*scale_rewards/,
  },
  open_rs3_long_completion_ablation: {
    config: 'open-rs3-long-completion-as-ran',
    opts: { tinaLaunch: true, asTinaRan: true },
    refused: /key 'scale_reward'.*scale_rewards/,
  },
};

const comparable = (c: Json) => ({ ...c, description: undefined });

t.test('the table covers every recipe file of Tina at HEAD (21)', async (t) => {
  const files = readdirSync(fixtures)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.replace(/^train_model_|\.yaml$/g, ''))
    .sort();
  t.equal(files.length, 21);
  t.same(files, Object.keys(TINA).sort());
});

for (const [recipe, { config: name, opts, refused }] of Object.entries(TINA)) {
  t.test(
    `${recipe}.yaml imports to configs/tina/${name}.json${refused ? ' (and is refused without the flag)' : ''}`,
    async (t) => {
      const want = config(name);
      const got = importRecipe(fixture(recipe), {
        ...opts,
        source: `train_model_${recipe}.yaml`,
        outDir: want.run.out_dir,
      });
      t.same(comparable(got.config), comparable(want));
      // Nothing dropped silently: the infrastructure keys are listed with a reason.
      const ignored = got.ignored.map((i) => i.key);
      for (const k of [
        'bf16',
        'use_vllm',
        'vllm_device',
        'gradient_checkpointing',
        'report_to',
        'hub_model_id',
        'save_strategy',
        'logging_steps',
      ])
        t.ok(ignored.includes(k), `${k} listed as ignored`);
      t.ok(got.ignored.every((i) => i.why.length > 0));
      const row = readme.split('\n').find((l) => l.includes(`train_model_${recipe}.yaml`));
      t.ok(row, 'the README recipe table has a row for it');
      if (refused) {
        t.throws(() => importRecipe(fixture(recipe), { tinaLaunch: true, source: 'x.yaml' }), refused);
        t.match(row ?? '', /refused.*scale_reward/, 'README states the refusal and its reason');
      } else t.match(row ?? '', /imports/, 'README: imports');
    },
  );
}

t.test('the true Dr.GRPO variant (loractor-made recipe, test/fixtures/tina-local)', async (t) => {
  const want = config('open-rs3-drgrpo-true');
  const text = readFileSync(
    join(root, 'test', 'fixtures', 'tina-local', 'train_model_open_rs3_true_drgrpo.yaml'),
    'utf8',
  );
  t.same(comparable(importRecipe(text, { cosineMaxLen: 3584, outDir: want.run.out_dir }).config), comparable(want));
});

// open-r1's GRPO recipes: what a plain import says, and what --as-lora gives for the math ones.
const OPEN_R1: Record<string, RegExp> = {
  'DeepSeek-R1-Distill-Qwen-1.5B/grpo/config_demo.yaml': /a full fine-tune \(use_peft is not set.*--as-lora/,
  'Qwen2.5-1.5B-Instruct/grpo/config_demo.yaml': /a full fine-tune \(use_peft is not set.*--as-lora/,
  'Qwen2.5-1.5B-Instruct/grpo/config_demo_code.yaml':
    /key 'reward_funcs': reward function 'code' is refused: it runs the generated code .*sandbox/,
  'Qwen2.5-1.5B-Instruct/grpo/config_demo_code_ioi.yaml':
    /key 'reward_funcs': reward function 'ioi_code' is refused: .*Piston sandbox/,
  'Qwen2.5-Coder-7B-Instruct/grpo/config_codeforces.yaml':
    /key 'reward_funcs': reward function 'cf_code' is refused: .*Piston sandbox/,
};

t.test("open-r1's GRPO recipes: each refused for the reason the README table states", async (t) => {
  const files: string[] = [];
  const walk = (d: string, rel = ''): void => {
    for (const e of readdirSync(d, { withFileTypes: true }))
      e.isDirectory()
        ? walk(join(d, e.name), `${rel}${e.name}/`)
        : e.name.endsWith('.yaml') && files.push(rel + e.name);
  };
  walk(openR1);
  t.same(files.sort(), Object.keys(OPEN_R1).sort(), 'every recipes/**/grpo/*.yaml of open-r1 is in the table');
  for (const [file, why] of Object.entries(OPEN_R1)) {
    const text = readFileSync(join(openR1, file), 'utf8');
    t.throws(() => importRecipe(text, { source: file }), why, file);
    const row = readme.split('\n').find((l) => l.includes(file));
    t.ok(row, `README row for ${file}`);
    t.match(row ?? '', /refused/);
    t.match(row ?? '', /full fine-tune/.test(why.source) ? /full fine-tune.*--as-lora/ : /sandbox/);
    // the code recipes stay refused with --as-lora: the reward is the reason
    if (!/full fine-tune/.test(why.source)) t.throws(() => importRecipe(text, { source: file, asLora: true }), why);
  }
});

t.test(
  'open-r1 math recipes with --as-lora: what changed is printed; chat template, prompt column, system prompt, TRL 0.18 defaults',
  async (t) => {
    const file = 'DeepSeek-R1-Distill-Qwen-1.5B/grpo/config_demo.yaml';
    const text = readFileSync(join(openR1, file), 'utf8');
    const r = importRecipe(text, { source: file, asLora: true });
    const c = r.config as Json;
    const lora = r.notes.find((n) => n.startsWith('--as-lora'));
    t.ok(lora, 'the conversion is announced');
    t.match(
      lora!,
      /full fine-tune.*becomes a LoRA run.*r 16, alpha 32, dropout 0\.05 on q_proj, v_proj.*learning_rate 0\.000001 is kept/,
    );
    t.same(c.lora, { lora_r: 16, lora_alpha: 32, lora_dropout: 0.05, lora_target_modules: ['q_proj', 'v_proj'] });
    t.match(
      c.data.chat_template_jinja,
      /^\{% if not add_generation_prompt is defined %\}/,
      "the recipe's Jinja chat template",
    );
    t.equal(c.data.chat_template, undefined);
    t.equal(c.data.prompt_column, 'problem');
    t.match(c.data.system_prompt_text, /^You are a helpful AI Assistant .*<answer>\n\.\.\.\n<\/answer>$/s);
    t.same(
      c.rewards.reward_funcs,
      ['accuracy', 'format_566cfd1', 'tag_count_open_r1'],
      "open-r1 HEAD's reward definitions",
    );
    t.equal(c.grpo.loss_type, 'bnpo', "TRL 0.18's default loss");
    t.equal(c.grpo.beta, 0.04);
    t.equal(c.grpo.temperature, 0.7, 'set by the recipe');
    t.equal(c.grpo.gradient_accumulation_steps, 28, '4 × 7 processes (open-r1 README)');
    t.equal(c.grpo.prompts_per_step, 28, '16 × 4 × 7 / G 16');
    t.equal(c.run.checkpoint_every, 0, 'save_strategy epoch: a checkpoint at the end');
    t.ok(r.notes.some((n) => /defaults of TRL 0\.18\.0 .*open-r1's setup\.py/.test(n)));
    const qwen = importRecipe(readFileSync(join(openR1, 'Qwen2.5-1.5B-Instruct/grpo/config_demo.yaml'), 'utf8'), {
      asLora: true,
    }).config as Json;
    t.equal(qwen.grpo.temperature, 1.0, "TRL 0.18's default temperature (the recipe sets none)");
    t.equal(qwen.data.chat_template, 'model', "no template in the recipe: the model's own, as open-r1 renders");
    t.equal(qwen.grpo.lr_scheduler_type, 'cosine');
  },
);

t.test('defaults follow the TRL version a recipe pins', async (t) => {
  const yaml = fixture('limr').replace(/^(temperature|max_prompt_length): .*$/gm, '');
  const at = (v: string) => importRecipe(yaml, { trlVersion: v }).config.grpo as Json;
  const g152 = at('0.15.2');
  t.same(
    [
      g152.beta,
      g152.temperature,
      g152.loss_type,
      g152.scale_rewards,
      g152.top_k,
      g152.importance_sampling_correction,
      g152.max_prompt_length,
    ],
    [0.04, 0.9, 'grpo', true, null, false, 512],
  );
  t.same(
    [at('0.16.0').top_k, at('0.17.0').loss_type, at('0.18.0').temperature, at('0.18.0').top_k],
    [50, 'bnpo', 1.0, null],
  );
  t.same([at('0.19.0').beta, at('0.22.0').loss_type, at('0.22.0').scale_rewards], [0, 'dapo', 'group']);
  t.same(
    [
      at('0.23.0').importance_sampling_correction,
      at('0.23.0').importance_sampling_clip_max,
      at('0.26.0').importance_sampling_clip_max,
      at('0.26.0').max_prompt_length,
    ],
    [true, 2, 3, null],
  );
  t.equal(
    (importRecipe(fixture('limr'), { trlVersion: '0.22.0' }).config.grpo as Json).beta,
    0,
    'beta is not set in Tina recipes: the version decides',
  );
  t.equal(
    (importRecipe(fixture('limr') + 'beta: 0.01\n', { trlVersion: '0.22.0' }).config.grpo as Json).beta,
    0.01,
    'a key the recipe sets wins',
  );
  t.throws(() => importRecipe(yaml, { trlVersion: '0.13.0' }), /TRL 0\.13\.0 has no GRPOTrainer/);
  t.throws(() => importRecipe(yaml, { trlVersion: 'latest' }), /not a version number/);
  // the table's rows are in version order and each names its source
  for (const c of TRL_DEFAULT_CHANGES)
    t.ok(
      c.source.includes(c.knob.replace('importance_sampling', 'vllm_importance_sampling')) ||
        c.source.startsWith('GRPOConfig'),
      c.knob,
    );
  t.same(trlDefaults('0.15.2').decided.length > 0, true);
});

t.test('the launch-script override is a flag, and without it the importer says so', async (t) => {
  const plain = importRecipe(fixture('open_rs3'), { source: 'train_model_open_rs3.yaml' });
  t.equal((plain.config.rewards as Json).cosine_max_len, undefined, 'YAML alone: default 1000 applies');
  t.ok(plain.notes.some((n) => /--cosine_max_len 3584/.test(n) && /--tina-launch/.test(n)));
  const launched = importRecipe(fixture('open_rs3'), { tinaLaunch: true });
  t.equal((launched.config.rewards as Json).cosine_max_len, 3584);
  // limr was not launched with the override.
  t.equal((importRecipe(fixture('limr'), { tinaLaunch: true }).config.rewards as Json).cosine_max_len, undefined);
});

t.test("Tina's scale_reward typo is refused, naming the key and pointing at scale_rewards", async (t) => {
  const err = (() => {
    try {
      importRecipe(fixture('open_rs3_drgrpo_ablation'), { source: 'dr.yaml' });
    } catch (e) {
      return e;
    }
    return null;
  })();
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
    ['use_peft: false\n', 'use_peft', /a full fine-tune \(use_peft is false.*LoRA adapters only.*--as-lora/],
    ['lora_target_modules:\n- qkv_proj\n', 'lora_target_modules', /unknown module 'qkv_proj'/],
    ['model_post_train_type: sft\n', 'model_post_train_type', /only 'grpo'/],
    ['chat_template: "{% if %}"\n', 'chat_template', /the Jinja template does not parse/],
    ['trace_fre: true\n', 'trace_fre', /not a key loractor can map/],
    ['temperature: hot\n', 'temperature', /expected a number, got "hot"/],
    ['do_eval: true\n', 'do_eval', /in-training evaluation/],
  ];
  for (const [extra, key, re] of cases) {
    // Later duplicate keys are a YAML error, so replace the line when the key already exists.
    const k = extra.split(':')[0]!;
    const text = base.includes(`\n${k}:`)
      ? base.replace(new RegExp(`\\n${k}:[^\\n]*(\\n- [^\\n]*)*`), '\n' + extra.trimEnd())
      : base + extra;
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
  t.throws(
    () => importRecipe(base.replace('model_post_train_dataset_name: limr', 'model_post_train_dataset_name: gsm8k')),
    /unknown Tina dataset name "gsm8k"/,
  );
});

t.test(
  'open-r1 style recipes: reward names map to the open-r1 variants, system prompt string recognised',
  async (t) => {
    const yaml =
      [
        'model_name_or_path: Qwen/Qwen2.5-1.5B-Instruct',
        'dataset_name: open-r1/OpenR1-Math-220k',
        'dataset_train_split: train',
        'use_peft: true',
        'lora_r: 8',
        'lora_alpha: 16',
        'lora_target_modules: q_proj,v_proj',
        'reward_funcs:',
        '- accuracy',
        '- format',
        '- tag_count',
        'reward_weights:',
        '- 1.0',
        '- 1.0',
        '- 1.0',
        'num_generations: 8',
        'per_device_train_batch_size: 8',
        'gradient_accumulation_steps: 2',
        'max_steps: 100',
        'bf16: true',
        'output_dir: data/x',
      ].join('\n') + '\n';
    const r = importRecipe(yaml, { numProcesses: 1 });
    const c = r.config as Json;
    t.same(c.rewards.reward_funcs, ['accuracy', 'format_566cfd1', 'tag_count_open_r1']);
    t.equal(c.grpo.gradient_accumulation_steps, 2);
    t.equal(c.grpo.prompts_per_step, 2);
    t.equal(c.grpo.temperature, 1.0, "TRL 0.18's default temperature (open-r1's pin) when the recipe sets none");
    t.equal(
      (importRecipe(yaml, { numProcesses: 1, trlVersion: '0.15.2' }).config as Json).grpo.temperature,
      0.9,
      "TRL 0.15's",
    );
    t.equal(c.grpo.num_train_epochs, 3, "HF's default epochs when the recipe sets none");
    t.equal(
      c.model.path,
      '../../models/Qwen2.5-1.5B-Instruct',
      'relative to configs/tina/ (the default config folder)',
    );
    t.same(c.lora.lora_target_modules, ['q_proj', 'v_proj']);
    t.equal(c.data.system_prompt, 'open_r1');
    t.ok(r.ignored.some((i) => i.key === 'output_dir'));
  },
);

t.test('CLI: writes the config, prints ignored keys; refuses with exit 1 naming the key', async (t) => {
  const cli = join(root, 'dist', 'tools', 'import-recipe.js');
  const tmp = mkdtempSync(join(tmpdir(), 'loractor-import-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const out = join(tmp, 'open-rs2.json');
  const r = spawnSync(
    process.execPath,
    [
      cli,
      join(fixtures, 'train_model_open_rs2.yaml'),
      '--out',
      out,
      '--tina-launch',
      '--out-dir',
      join(root, 'runs/tina/open-rs2'),
    ],
    { encoding: 'utf8' },
  );
  t.equal(r.status, 0, r.stderr);
  t.ok(existsSync(out));
  // Paths are written relative to the config's own folder: they name the same files as the shipped config's.
  const absolute = (c: Json, dir: string): Json => ({
    ...c,
    run: { ...c.run, out_dir: resolve(dir, c.run.out_dir) },
    model: { ...c.model, path: resolve(dir, c.model.path) },
    data: { ...c.data, path: resolve(dir, c.data.path) },
    eval: { ...c.eval, benchmark_paths: { gpqa: resolve(dir, c.eval.benchmark_paths.gpqa) } },
  });
  t.same(
    comparable(absolute(JSON.parse(readFileSync(out, 'utf8')) as Json, tmp)),
    comparable(absolute(config('open-rs2'), join(root, 'configs', 'tina'))),
  );
  t.match(
    (JSON.parse(readFileSync(out, 'utf8')) as Json).model.path,
    /^\.\.\//,
    "a relative path, from the config file's folder",
  );
  t.match(r.stderr, /ignored \(infrastructure\): .*bf16/);
  t.match(r.stderr, /stop_at_step 850/);
  const bad = spawnSync(process.execPath, [cli, join(fixtures, 'train_model_open_rs3_drgrpo_ablation.yaml')], {
    encoding: 'utf8',
  });
  t.equal(bad.status, 1);
  t.match(bad.stderr, /key 'scale_reward'.*scale_rewards/);
  t.equal(bad.stdout, '');
  // stdout mode prints JSON only.
  const json = execFileSync(process.execPath, [cli, join(fixtures, 'train_model_limr.yaml')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  t.equal((JSON.parse(json) as Json).lora.lora_r, 32);
  t.equal(spawnSync(process.execPath, [cli], { encoding: 'utf8' }).status, 2);
  // open-r1's full fine-tune: refused, or converted with --as-lora, which prints what changed
  const demo = join(openR1, 'Qwen2.5-1.5B-Instruct', 'grpo', 'config_demo.yaml');
  const refused = spawnSync(process.execPath, [cli, demo], { encoding: 'utf8' });
  t.equal(refused.status, 1);
  t.match(refused.stderr, /a full fine-tune .*--as-lora/);
  const converted = spawnSync(process.execPath, [cli, demo, '--as-lora', '--trl-version', '0.19.0'], {
    encoding: 'utf8',
  });
  t.equal(converted.status, 0, converted.stderr);
  t.match(converted.stderr, /import-recipe: --as-lora: .*becomes a LoRA run/);
  t.match(converted.stderr, /defaults of TRL 0\.19\.0 for keys the recipe leaves out: beta=0/);
  t.equal((JSON.parse(converted.stdout) as Json).grpo.beta, 0);
  const badVersion = spawnSync(process.execPath, [cli, demo, '--as-lora', '--trl-version', '0.9.0'], {
    encoding: 'utf8',
  });
  t.equal(badVersion.status, 1);
  t.match(badVersion.stderr, /TRL 0\.9\.0 has no GRPOTrainer/);
});

// configs/tina/*.json: every config validates with the root schema and each section's own parser,
// and its key values match Tina's tables (shared/reference/tina-recipe.md §1.1, §1.2), transcribed
// below by hand from the reference — not computed from the configs.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { repoRoot } from '../../src/util/paths.js';
import { rootConfigSchema } from '../../src/config/schema.js';
import {
  dataSectionSchema,
  evalScheduleSchema,
  loraSectionSchema,
  modelSectionSchema,
  parseSection,
} from '../../src/coordinator/config.js';
import { resolveGrpoConfig } from '../../src/rl/config.js';
import { parseRewardsConfig } from '../../src/rewards/config.js';
import { parseEvalConfig } from '../../src/eval/config.js';
import { systemPromptFor, OPEN_RS_SYSTEM_PROMPT, OPEN_R1_SYSTEM_PROMPT } from '../../src/data/prompts.js';
import { learningRateAt } from '../../src/rl/schedule.js';

const dir = join(repoRoot(), 'configs', 'tina');
// biome-ignore lint/suspicious/noExplicitAny: config JSON read and edited freely by path in the checks below
type Json = Record<string, any>;
const load = (name: string): Json => JSON.parse(readFileSync(join(dir, name + '.json'), 'utf8')) as Json;
const SEVEN = ['accuracy', 'format', 'tag_count', 'length', 'reasoning_steps', 'cosine', 'repetition_penalty'];
const ALL_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'down_proj', 'up_proj', 'gate_proj'];

// Reference §1.2 (+ rank/LR ablations): dataset id, prompt, rewards:weights, G, Tina per-device batch,
// completions/step, max_steps/stop, save_steps, cosine_max_len (null = default 1000, unused), r/alpha, lr.
interface Row {
  id: string;
  prompt: 'open_rs' | 'open_r1';
  funcs: string[];
  weights: number[];
  G: number;
  perDev: number;
  completions: number;
  maxSteps: number;
  stop: number | null;
  save: number;
  cosine: number | null;
  r?: number;
  alpha?: number;
  lr?: number;
  completion?: number;
  l1?: boolean;
  mapping?: string;
}
const FA = { funcs: ['format', 'accuracy'], weights: [1, 2] };
const LIMR: Row = {
  id: 'GAIR/LIMR',
  prompt: 'open_r1',
  ...FA,
  G: 4,
  perDev: 4,
  completions: 32,
  maxSteps: 360,
  stop: 180,
  save: 10,
  cosine: null,
};
const TABLE: Record<string, Row> = {
  'open-rs1': {
    id: 'knoveleng/open-s1',
    prompt: 'open_r1',
    ...FA,
    G: 4,
    perDev: 4,
    completions: 32,
    maxSteps: 5000,
    stop: 2400,
    save: 100,
    cosine: null,
  },
  'open-rs2': {
    id: 'knoveleng/open-rs',
    prompt: 'open_rs',
    ...FA,
    G: 6,
    perDev: 6,
    completions: 48,
    maxSteps: 1500,
    stop: 850,
    save: 50,
    cosine: null,
  },
  'open-rs3': {
    id: 'knoveleng/open-rs',
    prompt: 'open_rs',
    funcs: ['format', 'cosine'],
    weights: [1, 2],
    G: 6,
    perDev: 6,
    completions: 48,
    maxSteps: 1500,
    stop: 850,
    save: 50,
    cosine: 3584,
  },
  still: {
    id: 'RUC-AIBOX/STILL-3-Preview-RL-Data',
    prompt: 'open_r1',
    funcs: ['length', 'accuracy'],
    weights: [1, 2],
    G: 4,
    perDev: 4,
    completions: 32,
    maxSteps: 7500,
    stop: 3750,
    save: 10,
    cosine: null,
  },
  deepscaler: {
    id: 'agentica-org/DeepScaleR-Preview-Dataset',
    prompt: 'open_r1',
    ...FA,
    G: 4,
    perDev: 4,
    completions: 32,
    maxSteps: 11000,
    stop: 5500,
    save: 100,
    cosine: null,
  },
  limr: LIMR,
  'open-r1': {
    id: 'open-r1/OpenR1-Math-220k',
    prompt: 'open_r1',
    funcs: SEVEN,
    weights: [1, 1, 1, 1, 1, 1, 1],
    G: 8,
    perDev: 8,
    completions: 64,
    maxSteps: -1,
    stop: null,
    save: 100,
    cosine: 3584,
  },
  'open-thoughts': {
    id: 'bethgelab/CuratedThoughts',
    prompt: 'open_r1',
    funcs: SEVEN,
    weights: [1, 1, 1, 1, 1, 1, 1],
    G: 8,
    perDev: 8,
    completions: 64,
    maxSteps: -1,
    stop: null,
    save: 100,
    cosine: 3584,
  },
  'limr-rank-tiny': { ...LIMR, save: 50, r: 4, alpha: 16 },
  'limr-rank-small': { ...LIMR, save: 50, r: 8, alpha: 32 },
  'limr-rank-medium': { ...LIMR, save: 50, r: 16, alpha: 64 },
  'limr-rank-large': { ...LIMR, save: 50, r: 128, alpha: 512 },
  'limr-lr-5e-6': { ...LIMR, lr: 5e-6 },
  'limr-lr-5e-7': { ...LIMR, lr: 5e-7 },
  'open-rs3-drgrpo-as-ran': {
    id: 'knoveleng/open-rs',
    prompt: 'open_rs',
    funcs: ['format', 'cosine'],
    weights: [1, 2],
    G: 6,
    perDev: 6,
    completions: 48,
    maxSteps: 1500,
    stop: 850,
    save: 50,
    cosine: 3584,
  },
  'open-rs3-drgrpo-true': {
    id: 'knoveleng/open-rs',
    prompt: 'open_rs',
    funcs: ['format', 'cosine'],
    weights: [1, 2],
    G: 6,
    perDev: 6,
    completions: 48,
    maxSteps: 1500,
    stop: 850,
    save: 50,
    cosine: 3584,
  },
  // Aug-2025 recipes (Tina @c6274cd; the YAML files themselves are in test/fixtures/tina)
  '2thought': {
    id: 'Intelligent-Internet/II-Thought-RL-v0-Math-50K',
    prompt: 'open_r1',
    ...FA,
    G: 4,
    perDev: 4,
    completions: 32,
    maxSteps: 13320,
    stop: 6660,
    save: 100,
    cosine: null,
    mapping: 'ii_thought',
  },
  fastcurl: {
    id: 'Nickyang/FastCuRL',
    prompt: 'open_r1',
    ...FA,
    G: 4,
    perDev: 4,
    completions: 32,
    maxSteps: 11000,
    stop: 5500,
    save: 100,
    cosine: null,
  },
  'l1-exact': {
    id: 'agentica-org/DeepScaleR-Preview-Dataset',
    prompt: 'open_r1',
    funcs: ['length_l1_exact'],
    weights: [1],
    G: 4,
    perDev: 4,
    completions: 32,
    maxSteps: 11000,
    stop: 5500,
    save: 100,
    cosine: null,
    l1: true,
    mapping: 'tina',
  },
  'l1-max': {
    id: 'agentica-org/DeepScaleR-Preview-Dataset',
    prompt: 'open_r1',
    funcs: ['length_l1_max'],
    weights: [1],
    G: 4,
    perDev: 4,
    completions: 32,
    maxSteps: 11000,
    stop: 5500,
    save: 100,
    cosine: null,
    l1: true,
    mapping: 'tina',
  },
  'open-rs3-format': {
    id: 'knoveleng/open-rs',
    prompt: 'open_rs',
    funcs: ['format', 'tag_count', 'length', 'reasoning_steps', 'repetition_penalty'],
    weights: [1, 1, 1, 1, 1],
    G: 6,
    perDev: 6,
    completions: 48,
    maxSteps: 1500,
    stop: 850,
    save: 50,
    cosine: null,
  },
  'open-rs3-long-completion-as-ran': {
    id: 'knoveleng/open-rs',
    prompt: 'open_rs',
    funcs: ['format', 'cosine'],
    weights: [1, 2],
    G: 6,
    perDev: 6,
    completions: 48,
    maxSteps: 1500,
    stop: 850,
    save: 50,
    cosine: 3584,
    completion: 8960,
  },
};
// Reference dataset sizes (§1.2) for the two one-epoch recipes.
const ROWS: Record<string, number> = { 'open-r1': 93_700, 'open-thoughts': 66_100 };

t.test('the folder holds exactly the configs of the table', async (t) => {
  const names = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.replace(/\.json$/, ''))
    .sort();
  t.same(names, Object.keys(TABLE).sort());
});

for (const [name, row] of Object.entries(TABLE)) {
  t.test(`${name}: validates and matches Tina's table`, async (t) => {
    const c = load(name);
    // Root schema (+ description, which the lead is adding to it) and each section's own parser.
    const root = rootConfigSchema.extend({ description: z.string().optional() }).safeParse(c);
    t.ok(root.success, root.success ? 'root schema' : JSON.stringify(root.error.issues));
    t.type(c.description, 'string');
    t.ok(c.description.length > 200, 'documents its quirks');
    const model = parseSection(modelSectionSchema, c.model, 'model');
    const lora = parseSection(loraSectionSchema, c.lora, 'lora');
    const data = parseSection(dataSectionSchema, c.data, 'data');
    const { eval_steps, eval_before_training, ...evalRest } = c.eval;
    const sched = parseSection(evalScheduleSchema, { eval_steps, eval_before_training }, 'eval');
    const ev = parseEvalConfig(evalRest);
    const rw = parseRewardsConfig(c.rewards);
    const g = resolveGrpoConfig({ ...c.grpo, seed: c.run.seed }, ROWS[name] ? { datasetSize: ROWS[name] } : {});

    t.equal(
      model.path,
      '../../models/DeepSeek-R1-Distill-Qwen-1.5B',
      'relative to configs/tina/, where the config lives',
    );
    // LoRA: r32/α128 unless an ablation; alpha = 4r always; dropout 0.05; all seven modules.
    t.equal(lora.lora_r, row.r ?? 32);
    t.equal(lora.lora_alpha, row.alpha ?? 128);
    t.equal(lora.lora_alpha / lora.lora_r, 4, 'LoRA scale alpha/r = 4');
    t.equal(lora.lora_dropout, 0.05);
    t.same([...lora.lora_target_modules].sort(), [...ALL_MODULES].sort());
    // Data and system prompt: explicit, and equal to Tina's rule applied to the dataset id.
    if (data.source !== 'dataset') throw new Error('expected a dataset source');
    t.equal(data.dataset_id, row.id);
    t.equal(data.system_prompt, row.prompt);
    t.equal(data.column_mapping, row.mapping ?? 'auto');
    t.same(
      data.l1_target_length,
      row.l1 ? { min: 100, max: 4000 } : null,
      "Tina's L1 recipes: a target length in [100, 4000] per row",
    );
    t.equal(
      systemPromptFor(row.id),
      row.prompt === 'open_rs' ? OPEN_RS_SYSTEM_PROMPT : OPEN_R1_SYSTEM_PROMPT,
      "Tina's 'open-rs' in id rule agrees",
    );
    // Optimizer and schedule.
    const gc = g.config;
    t.equal(gc.learning_rate, row.lr ?? 1e-6);
    t.equal(gc.lr_scheduler_type, 'cosine_with_min_lr');
    t.equal(gc.lr_scheduler_kwargs.min_lr_rate, 0.1);
    t.equal(gc.warmup_ratio, 0.1);
    t.equal(gc.max_steps, row.maxSteps);
    t.equal(gc.stop_at_step, row.stop);
    if (row.maxSteps > 0) {
      t.equal(g.maxSteps, row.maxSteps);
      t.equal(g.stopAtStep, row.stop);
      t.equal(g.schedule.warmupSteps, Math.ceil(0.1 * row.maxSteps), 'warmup = ceil(0.1 × horizon)');
      // lr at the end of the horizon is the floor min_lr_rate × lr.
      t.ok(Math.abs(learningRateAt(g.schedule, row.maxSteps) - 0.1 * (row.lr ?? 1e-6)) < 1e-15);
    } else {
      t.equal(g.maxSteps, Math.ceil(ROWS[name]! / 8), 'one epoch = rows / 8 prompts per step');
    }
    t.equal(gc.adam_beta1, 0.9);
    t.equal(gc.adam_beta2, 0.999);
    t.equal(gc.adam_epsilon, 1e-8);
    t.equal(gc.weight_decay, 0);
    t.equal(gc.max_grad_norm, 1);
    // Batch arithmetic: Tina per-device × 2 GPUs × grad-accum 4.
    t.equal(gc.num_generations, row.G);
    t.equal(gc.per_device_train_batch_size, row.perDev);
    t.equal(g.completionsPerStep, row.perDev * 2 * 4);
    t.equal(g.completionsPerStep, row.completions);
    t.equal(g.promptsPerStep, 8);
    // Objective.
    t.equal(gc.beta, 0.04);
    t.equal(gc.num_iterations, 1);
    const trueDr = name === 'open-rs3-drgrpo-true';
    t.equal(gc.scale_rewards, !trueDr);
    t.equal(g.scaleRewards, trueDr ? 'none' : 'group');
    t.equal(gc.loss_type, trueDr ? 'dr_grpo' : 'grpo');
    // Generation.
    t.equal(gc.max_prompt_length, 512);
    t.equal(gc.max_completion_length, row.completion ?? 3584);
    t.equal(gc.temperature, 0.7);
    t.equal(gc.top_p, 1);
    t.equal(gc.seed, 42);
    t.equal(c.run.seed, 42);
    t.equal(c.run.checkpoint_every, row.save);
    // Rewards: Tina's variants by name, weights, cosine length in characters.
    t.same(rw.reward_funcs, row.funcs);
    t.same(rw.reward_weights, row.weights);
    t.equal(rw.cosine_max_len, row.cosine ?? 1000);
    t.equal(rw.cosine_min_value_wrong, 0);
    t.equal(rw.cosine_max_value_wrong, -0.5);
    t.equal(rw.cosine_min_value_correct, 0.5);
    t.equal(rw.cosine_max_value_correct, 1);
    t.equal(rw.repetition_n_grams, 3);
    t.equal(rw.repetition_max_penalty, -1);
    // Evaluation as Tina: T 0.6, top_p 0.95, 32768 new tokens, one sample, offline.
    t.equal(ev.temperature, 0.6);
    t.equal(ev.top_p, 0.95);
    t.equal(ev.max_new_tokens, 32768);
    t.equal(ev.num_samples, 1);
    t.same(ev.benchmarks, ['aime24', 'aime25', 'amc23', 'math500', 'minerva', 'gpqa']);
    t.equal(sched.eval_steps, 0);
  });
}

t.test(
  "Tina's Dr.GRPO as it ran trains exactly open_rs3; the true Dr.GRPO differs only in the objective",
  async (t) => {
    const strip = (c: Json) => ({ ...c, description: undefined, run: { ...c.run, out_dir: undefined } });
    const rs3 = load('open-rs3'),
      asRan = load('open-rs3-drgrpo-as-ran'),
      dr = load('open-rs3-drgrpo-true');
    t.same(strip(asRan), strip(rs3));
    t.match(asRan.description, /scale_reward/);
    t.match(asRan.description, /silently/);
    t.same(strip({ ...dr, grpo: { ...dr.grpo, scale_rewards: true, loss_type: 'grpo' } }), strip(rs3));
    // the long-completion ablation has the same typo: as it ran it is open_rs3 with longer completions
    const long = load('open-rs3-long-completion-as-ran');
    t.same(strip({ ...long, grpo: { ...long.grpo, max_completion_length: 3584 } }), strip(rs3));
    t.match(long.description, /scale_reward/);
  },
);

t.test('quirks are documented in the descriptions', async (t) => {
  t.match(load('open-rs1').description, /does not contain 'open-rs'/);
  t.match(load('open-rs3').description, /3584 characters/);
  t.match(load('deepscaler').description, /solution_archive/);
  t.match(load('open-rs2').description, /stopped at 850/);
  t.match(load('limr-rank-tiny').description, /LIMR/);
  t.match(load('l1-exact').description, /Think for N tokens/);
  t.match(load('l1-max').description, /KeyError/);
  t.match(load('fastcurl').description, /commented out/);
  t.match(load('2thought').description, /verification_info/);
});

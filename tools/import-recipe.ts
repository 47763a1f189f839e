// tools/import-recipe: turn a Tina / open-r1 GRPO YAML recipe (TRL GRPOConfig + ModelConfig + PEFT
// keys, plus Tina's rl_post_train_* / model_post_train_* keys) into a loractor config.
//
//   node dist/tools/import-recipe.js RECIPE.yaml [--out config.json] [--tina-launch] [--cosine-max-len N]
//        [--num-processes N] [--stop-at-step N] [--as-tina-ran] [--as-lora] [--trl-version X.Y.Z]
//        [--model-path DIR] [--data-path DIR] [--out-dir DIR] [--rewards tina|open-r1]
//
// Paths inside a config resolve against the config file's folder, so the default model, data and run
// paths are written relative to where --out puts the config (the cwd without --out), pointing into this
// package's models/, data/ and runs/tina/; --model-path, --data-path and --out-dir are written as given.
//
// Every key is either mapped, listed as "ignored (infrastructure)" with the reason (printed), or
// refused with an error naming the key and its line: nothing is silently dropped. That is the point:
// TRL 0.15.2 silently dropped Tina's `scale_reward` typo, which turned its Dr.GRPO ablation into a
// plain GRPO run (shared/reference/tina-recipe.md §0.2). Keys a recipe leaves out get the defaults
// of the TRL version its project pins (tools/recipe/trl-defaults.ts). A reward that runs generated
// code is refused with the reason; a full fine-tune is refused unless --as-lora, which says what it
// changes.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { repoRoot } from '../src/util/paths.js';
import { parseArgs } from 'node:util';
import { LineCounter, isMap, isScalar, parseDocument, type Pair } from 'yaml';
import { LORA_MODULES } from '../src/model/lora.js';
import { OPEN_R1_SYSTEM_PROMPT, OPEN_RS_SYSTEM_PROMPT } from '../src/data/prompts.js';
import { dataSectionSchema, loraSectionSchema, modelSectionSchema, parseSection } from '../src/coordinator/config.js';
import { crossValidateGrpoConfig, grpoConfigSchema } from '../src/rl/config.js';
import { TRL_GRPO_KNOBS, TRL_REFUSED_LOSS_TYPES, grpoKeyRefusal } from '../src/rl/trl-knobs.js';
import { parseRewardsConfig } from '../src/rewards/config.js';
import { isBuiltinRewardName } from '../src/rewards/registry.js';
import { isMainScript, scriptArgs } from '../src/cli/standard-flags.js';
import { Template } from '@huggingface/jinja';
import { trlDefaults } from './recipe/trl-defaults.js';
import {
  OPEN_R1_PROCESSES,
  OPEN_R1_REWARDS,
  OPEN_R1_TRL,
  REFUSED_REWARDS,
  TINA_DATASETS,
  TINA_L1_TARGET,
  TINA_LAUNCH_COSINE_3584,
  TINA_PROCESSES,
  TINA_TRL,
  tinaDataset,
} from './recipe/sources.js';

export class RecipeImportError extends Error {
  override name = 'RecipeImportError';
  constructor(
    message: string,
    readonly key: string,
  ) {
    super(message);
  }
}

export interface ImportOptions {
  /** Name of the recipe in messages (file name). */
  source?: string;
  /** Apply Tina's launch-script overrides (scripts/train/*.sh): --cosine_max_len 3584 for open_rs3, open_rs3_drgrpo_ablation, open_r1, thoughts and the long-completion ablation. */
  tinaLaunch?: boolean;
  /** Explicit cosine_max_len (as a launch-script --cosine_max_len would give). */
  cosineMaxLen?: number;
  /** Processes (GPUs) the recipe was launched on; folded into gradient_accumulation_steps. Default 2 (Tina's scripts), 7 (open-r1's README). */
  numProcesses?: number;
  /** TRL version whose defaults fill the keys the recipe leaves out. Default: the project's pin (Tina 0.15.2, open-r1 0.18.0). */
  trlVersion?: string;
  /** Import a full fine-tune as a LoRA run (as if use_peft: true were added), listing what changed. Default: refuse it. */
  asLora?: boolean;
  /** Manual stop step; default: parsed from a "stop at N" comment on max_steps, else none. */
  stopAtStep?: number | null;
  /** Reproduce TRL 0.15.2: drop the `scale_reward` typo (with a warning) instead of refusing it. */
  asTinaRan?: boolean;
  modelPath?: string;
  dataPath?: string;
  outDir?: string;
  /**
   * The folder the config will be saved in: the default model, data and run paths are written relative
   * to it (paths in a config resolve against its own folder) and point into this package (models/,
   * data/, runs/tina/). Default: configs/tina.
   */
  configDir?: string;
  /** Which reward-function family the recipe's names mean. Default: 'tina' when rl_post_train_reward_funcs is used, else 'open-r1'. */
  rewards?: 'tina' | 'open-r1';
}

export interface ImportResult {
  config: Record<string, unknown>;
  /** Keys accepted but not used, with the reason. */
  ignored: { key: string; why: string }[];
  /** Things the user should know (quirks reproduced, defaults filled in). */
  notes: string[];
}

/** Keys with no effect on what is trained (hardware, logging, hub, checkpoint housekeeping). */
const INFRA_KEYS: Record<string, string> = {
  bf16: 'precision: loractor computes in f32',
  fp16: 'precision: loractor computes in f32',
  tf32: 'precision',
  torch_dtype: 'load dtype: weights are converted to f32',
  attn_implementation: 'kernel choice',
  use_vllm: 'rollout engine is model.engine',
  gradient_checkpointing: 'memory/speed trade-off only',
  gradient_checkpointing_kwargs: 'memory/speed trade-off only',
  log_level: 'logging',
  log_completions: 'logging',
  report_to: 'logging (metrics.jsonl is always written)',
  push_to_hub: 'hub upload',
  output_dir: 'run.out_dir is set by --out-dir',
  overwrite_output_dir: 'output housekeeping',
  save_strategy: 'checkpoints are step-based (run.checkpoint_every)',
  save_total_limit: 'checkpoint housekeeping',
  save_only_model: 'checkpoint housekeeping',
  ds3_gather_for_generation: 'DeepSpeed',
  deepspeed: 'DeepSpeed',
  run_name: 'logging',
  dataloader_num_workers: 'data loading threads',
  ddp_find_unused_parameters: 'DDP',
  use_liger_kernel: 'kernel choice',
  trust_remote_code: 'Qwen2 is built in',
  bf16_full_eval: 'precision',
  per_device_eval_batch_size: 'HF in-training eval is not used (eval section)',
};
const INFRA_PREFIXES: [string, string][] = [
  ['vllm_', 'vLLM engine settings'],
  ['logging_', 'logging'],
  ['hub_', 'hub upload'],
  ['wandb_', 'logging'],
];

/** loractor-only grpo knobs an imported recipe starts from (TRL has no such knob: its behaviour). */
const LORACTOR_ONLY_DEFAULTS: Record<string, unknown> = {
  stop_at_step: null,
  prompts_per_step: null,
  advantage_estimator: 'grpo',
  dynamic_sampling: 'off',
  max_staleness: 0,
};

const GRPO_NUMBER_KEYS = [
  'learning_rate',
  'warmup_ratio',
  'num_train_epochs',
  'weight_decay',
  'adam_beta1',
  'adam_beta2',
  'adam_epsilon',
  'max_grad_norm',
  'beta',
  'epsilon',
  'epsilon_high',
  'temperature',
  'top_p',
  'delta',
  'sapo_temperature_pos',
  'sapo_temperature_neg',
];
const GRPO_INT_KEYS = [
  'warmup_steps',
  'max_steps',
  'per_device_train_batch_size',
  'num_generations',
  'max_prompt_length',
  'max_completion_length',
  'top_k',
  'num_iterations',
  'generation_batch_size',
  'max_num_gen_batches',
];
/** TRL's vLLM importance-sampling knobs → loractor's engine-independent behaviour correction. */
const IS_KNOBS: Record<string, string> = {
  vllm_importance_sampling_correction: 'importance_sampling_correction',
  vllm_importance_sampling_mode: 'importance_sampling_mode',
  vllm_importance_sampling_cap: 'importance_sampling_clip_max',
  vllm_importance_sampling_clip_max: 'importance_sampling_clip_max',
  vllm_importance_sampling_clip_min: 'importance_sampling_clip_min',
};
const REWARD_KWARG_KEYS = [
  'cosine_min_value_wrong',
  'cosine_max_value_wrong',
  'cosine_min_value_correct',
  'cosine_max_value_correct',
  'cosine_max_len',
  'repetition_n_grams',
  'repetition_max_penalty',
];

export function importRecipe(yamlText: string, opts: ImportOptions = {}): ImportResult {
  const src = opts.source ?? 'recipe';
  const lc = new LineCounter();
  const doc = parseDocument(yamlText, { lineCounter: lc });
  if (doc.errors.length) throw new RecipeImportError(`${src}: invalid YAML: ${doc.errors[0]!.message}`, '');
  if (!isMap(doc.contents))
    throw new RecipeImportError(`${src}: a recipe must be a YAML mapping of keys to values`, '');
  const pairs = doc.contents.items as Pair[];
  const entries = new Map<string, { value: unknown; line: number; comment: string }>();
  for (const p of pairs) {
    const key = isScalar(p.key) ? String(p.key.value) : String(p.key);
    const line = isScalar(p.key) && p.key.range ? lc.linePos(p.key.range[0]).line : 0;
    const comment =
      (p.value && typeof p.value === 'object' && 'comment' in p.value
        ? (p.value as { comment?: string }).comment
        : undefined) ?? '';
    entries.set(key, { value: (p.value as { toJSON?: () => unknown } | null)?.toJSON?.() ?? p.value, line, comment });
  }
  const at = (key: string) => `${src}:${entries.get(key)?.line ?? '?'}: key '${key}'`;
  const fail = (key: string, why: string): never => {
    throw new RecipeImportError(`${at(key)}: ${why}`, key);
  };
  const num = (key: string, v: unknown, int = false): number => {
    // PyYAML reads 1e-06 as a string and argparse converts it; accept numeric strings the same way.
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n) || (int && !Number.isInteger(n)))
      fail(key, `expected ${int ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`);
    return n as number;
  };
  const isValue = (key: string, v: unknown): unknown => {
    if (key === 'vllm_importance_sampling_correction') {
      if (typeof v !== 'boolean') fail(key, `expected true or false, got ${JSON.stringify(v)}`);
      return v;
    }
    if (key === 'vllm_importance_sampling_mode') return v;
    return v === null ? null : num(key, v);
  };
  const strList = (key: string, v: unknown): string[] => {
    const list = typeof v === 'string' ? v.split(',').map((s) => s.trim()) : v;
    if (!Array.isArray(list) || !list.every((s) => typeof s === 'string'))
      fail(key, `expected a list of strings, got ${JSON.stringify(v)}`);
    return list as string[];
  };

  const ignored: { key: string; why: string }[] = [];
  const notes: string[] = [];
  const family = opts.rewards ?? (entries.has('rl_post_train_reward_funcs') ? 'tina' : 'open-r1');
  // Rewards first: a recipe whose rewards loractor cannot run is refused for that reason, whatever else it holds.
  for (const key of ['rl_post_train_reward_funcs', 'reward_funcs']) {
    const e = entries.get(key);
    if (!e) continue;
    for (const f of strList(key, e.value))
      if (REFUSED_REWARDS[f]) fail(key, `reward function '${f}' is refused: it ${REFUSED_REWARDS[f]}`);
  }
  const trlVersion = opts.trlVersion ?? (family === 'tina' ? TINA_TRL : OPEN_R1_TRL);
  let trl: ReturnType<typeof trlDefaults>;
  try {
    trl = trlDefaults(trlVersion);
  } catch (err) {
    throw new RecipeImportError(`${src}: ${(err as Error).message}`, '');
  }
  notes.push(
    `defaults of TRL ${trlVersion}${opts.trlVersion ? '' : ` (the version ${family === 'tina' ? "Tina's scripts/set/set_env.sh" : "open-r1's setup.py"} pins; --trl-version to change)`} for keys the recipe leaves out: ${trl.decided.join(', ')}`,
  );
  const grpo: Record<string, unknown> = { ...trl.defaults, ...LORACTOR_ONLY_DEFAULTS };
  const lora: Record<string, unknown> = { lora_r: 16, lora_alpha: 32, lora_dropout: 0.05 };
  const rewards: Record<string, unknown> = {};
  const data: Record<string, unknown> = {};
  let tinaName: string | null = null;
  let datasetId: string | null = null;
  let datasetConfig: string | null = null;
  let systemPrompt: 'open_r1' | 'open_rs' | 'auto' = 'auto';
  let rewardFuncs: string[] | null = null;
  let saveSteps = 500;
  let gradAccum = 1;
  let usePeft = false;
  let stepsPerGeneration: number | null = null;
  let disableDropout = false;

  for (const [key, { value: v, comment }] of entries) {
    // TRL GRPOConfig knobs loractor implements under another name, or refuses (src/rl/trl-knobs.ts).
    const trl = TRL_GRPO_KNOBS[key];
    if (trl?.kind === 'renamed' && IS_KNOBS[key]) {
      grpo[IS_KNOBS[key]!] = isValue(key, v);
      continue;
    }
    if (trl?.kind === 'refused') {
      // At TRL's default the knob asks for nothing loractor lacks; any other value is refused with the reason.
      if (JSON.stringify(v) === JSON.stringify(trl.trlDefault)) {
        ignored.push({ key, why: `TRL's default (${JSON.stringify(v)}); ${trl.why}` });
        continue;
      }
      if (key === 'disable_dropout' && v === true) {
        disableDropout = true;
        notes.push(`${at(key)}: disable_dropout true → lora_dropout 0 (the base model has no dropout)`);
        continue;
      }
      fail(key, grpoKeyRefusal(key)!);
    }
    const infra =
      INFRA_KEYS[key] ??
      (trl?.kind === 'infrastructure' ? trl.why : undefined) ??
      INFRA_PREFIXES.find(([p]) => key.startsWith(p))?.[1];
    if (infra !== undefined) {
      ignored.push({ key, why: infra });
      continue;
    }
    switch (key) {
      case 'scale_reward':
        if (opts.asTinaRan) {
          notes.push(
            `${at(key)} dropped as TRL 0.15.2 did (not a GRPOConfig field): scale_rewards stays true, so this trains plain GRPO`,
          );
          break;
        }
        fail(
          key,
          `is not a GRPOConfig field: the field is 'scale_rewards' (plural). Tina's Dr.GRPO recipe has this typo and TRL 0.15.2 silently discarded it, so that run kept scale_rewards=true. Write 'scale_rewards: ${JSON.stringify(v)}' to get what was meant, or pass --as-tina-ran to reproduce the run as it happened`,
        );
        break;
      case 'model_post_train_type':
        if (v !== 'grpo') fail(key, `only 'grpo' recipes can be imported, got ${JSON.stringify(v)}`);
        break;
      case 'model_post_train_dataset_name': {
        const found = tinaDataset(String(v));
        if (!found)
          fail(
            key,
            `unknown Tina dataset name ${JSON.stringify(v)} (known: ${Object.keys(TINA_DATASETS).join(', ')} and their *_ablation variants)`,
          );
        tinaName = String(v).replace(/^curated_/, '');
        datasetId = found!.dataset.id;
        datasetConfig ??= found!.dataset.config ?? null;
        if (found!.dataset.note) notes.push(`${at(key)}: ${JSON.stringify(v)} -> ${datasetId}: ${found!.dataset.note}`);
        break;
      }
      case 'model_post_train_dataset_config':
        datasetConfig = String(v);
        break;
      case 'trace_free':
        ignored.push({ key, why: "Tina's SFT option (post_train_sft); GRPO does not read it" });
        break;
      case 'dataset_prompt_column':
        data.prompt_column = String(v);
        break;
      case 'dataset_test_split':
        ignored.push({ key, why: 'HF in-training evaluation is not used (eval section)' });
        break;
      case 'chat_template':
        if (typeof v !== 'string' || v.trim() === '') fail(key, 'expected a Jinja template string');
        try {
          new Template(v as string);
        } catch (err) {
          fail(key, `the Jinja template does not parse: ${(err as Error).message}`);
        }
        data.chat_template_jinja = v;
        break;
      case 'dataset_name':
        datasetId = String(v);
        break;
      case 'dataset_config':
        datasetConfig = String(v);
        break;
      case 'dataset_train_split':
        if (v !== 'train')
          fail(key, `only the train split is supported (data.path may point at any file), got ${JSON.stringify(v)}`);
        break;
      case 'system_prompt':
        if (typeof v !== 'string') fail(key, `expected a string, got ${JSON.stringify(v)}`);
        if (v === OPEN_R1_SYSTEM_PROMPT) systemPrompt = 'open_r1';
        else if (v === OPEN_RS_SYSTEM_PROMPT) systemPrompt = 'open_rs';
        else data.system_prompt_text = v;
        break;
      case 'model_name_or_path':
        notes.push(`model ${JSON.stringify(v)}: put its Hugging Face folder at model.path`);
        break;
      case 'model_revision':
        if (v !== 'main') fail(key, `only 'main' (the local folder is what is used), got ${JSON.stringify(v)}`);
        else ignored.push({ key, why: 'the local model folder is used' });
        break;
      case 'use_peft':
        usePeft = v === true;
        break;
      case 'lora_task_type':
        if (v !== 'CAUSAL_LM') fail(key, `only CAUSAL_LM, got ${JSON.stringify(v)}`);
        ignored.push({ key, why: 'always CAUSAL_LM' });
        break;
      case 'lora_r':
        lora.lora_r = num(key, v, true);
        break;
      case 'lora_alpha':
        lora.lora_alpha = num(key, v);
        break;
      case 'lora_dropout':
        lora.lora_dropout = num(key, v);
        break;
      case 'lora_target_modules': {
        const mods = strList(key, v);
        const bad = mods.find((m) => !(LORA_MODULES as readonly string[]).includes(m));
        if (bad) fail(key, `unknown module '${bad}' (known: ${LORA_MODULES.join(', ')})`);
        lora.lora_target_modules = LORA_MODULES.filter((m) => mods.includes(m)); // canonical order: the adapter layout is order-independent
        break;
      }
      case 'rl_post_train_reward_funcs':
      case 'reward_funcs': {
        rewardFuncs = strList(key, v).map((f) => {
          const name = family === 'open-r1' ? (OPEN_R1_REWARDS[f] ?? f) : f;
          if (!isBuiltinRewardName(name)) fail(key, `unknown reward function '${f}'`);
          return name;
        });
        break;
      }
      case 'rl_post_train_reward_weights':
      case 'reward_weights': {
        if (!Array.isArray(v)) fail(key, `expected a list of numbers, got ${JSON.stringify(v)}`);
        rewards.reward_weights = (v as unknown[]).map((w) => num(key, w));
        break;
      }
      case 'lr_scheduler_type':
        grpo[key] = String(v);
        break;
      case 'lr_scheduler_kwargs':
        if (!v || typeof v !== 'object' || Array.isArray(v)) fail(key, 'expected a mapping');
        grpo[key] = Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, num(`${key}.${k}`, x)]));
        break;
      case 'max_steps': {
        grpo.max_steps = num(key, v, true);
        // Tina wrote the manual stop into a comment: "use 1500 for lr scheduler but stop at 850 steps".
        const m = /stop at (\d+)/.exec(comment);
        if (m && opts.stopAtStep === undefined) {
          grpo.stop_at_step = Number(m[1]);
          notes.push(
            `${at(key)}: schedule horizon ${grpo.max_steps}; stop_at_step ${m[1]} taken from its comment "${comment.trim()}"`,
          );
        }
        break;
      }
      case 'gradient_accumulation_steps':
        gradAccum = num(key, v, true);
        break;
      case 'save_steps':
        saveSteps = num(key, v, true);
        break;
      case 'seed':
        grpo.seed = num(key, v, true);
        break;
      case 'loss_type':
        if (typeof v === 'string' && TRL_REFUSED_LOSS_TYPES[v])
          fail(
            key,
            `loss_type '${v}' (TRL ${TRL_REFUSED_LOSS_TYPES[v]!.since}) is not implemented by loractor: ${TRL_REFUSED_LOSS_TYPES[v]!.why}`,
          );
        grpo[key] = v;
        break;
      case 'scale_rewards':
      case 'importance_sampling_level':
      case 'dynamic_sampling':
        grpo[key] = v;
        break;
      case 'mask_truncated_completions':
        if (typeof v !== 'boolean') fail(key, `expected true or false, got ${JSON.stringify(v)}`);
        grpo[key] = v;
        break;
      case 'steps_per_generation':
        // TRL counts micro-batches per process; loractor folds the processes into the micro-batches.
        stepsPerGeneration = v === null ? null : num(key, v, true);
        break;
      case 'num_train_epochs':
        grpo[key] = num(key, v);
        break;
      case 'do_eval':
        if (v !== false) fail(key, 'HF in-training evaluation is not supported; use the eval section (eval_steps)');
        ignored.push({ key, why: 'false' });
        break;
      case 'eval_strategy':
      case 'evaluation_strategy':
        if (v !== 'no') fail(key, 'HF in-training evaluation is not supported; use the eval section');
        ignored.push({ key, why: "'no'" });
        break;
      default:
        if (GRPO_NUMBER_KEYS.includes(key)) grpo[key] = v === null ? null : num(key, v);
        else if (GRPO_INT_KEYS.includes(key)) grpo[key] = v === null ? null : num(key, v, true);
        else if (REWARD_KWARG_KEYS.includes(key)) rewards[key] = num(key, v);
        else
          fail(
            key,
            'is not a key loractor can map (not a GRPO/model/PEFT/reward setting it knows, nor a known infrastructure key); remove it or map it by hand',
          );
    }
  }

  if (rewardFuncs === null)
    throw new RecipeImportError(
      `${src}: no reward functions (rl_post_train_reward_funcs or reward_funcs)`,
      'reward_funcs',
    );
  if (datasetId === null)
    throw new RecipeImportError(`${src}: no dataset (model_post_train_dataset_name or dataset_name)`, 'dataset_name');
  if (!usePeft) {
    const what = `${src}: a full fine-tune (use_peft is ${entries.has('use_peft') ? JSON.stringify(entries.get('use_peft')!.value) : 'not set'}, so TRL trains every weight of the model)`;
    if (!opts.asLora)
      throw new RecipeImportError(
        `${what}: loractor trains LoRA adapters only. Pass --as-lora to import it as a LoRA run (as if use_peft: true were added: TRL/PEFT's LoRA defaults unless the recipe sets lora_*), which prints what it changes`,
        'use_peft',
      );
    notes.push(
      `--as-lora: ${what} becomes a LoRA run: the base weights stay frozen and an adapter r ${String(lora.lora_r)}, alpha ${String(lora.lora_alpha)}, dropout ${String(lora.lora_dropout)} on ${lora.lora_target_modules ? (lora.lora_target_modules as string[]).join(', ') : "q_proj, v_proj (PEFT's Qwen2 default)"} is trained; the reference policy is the base (adapter off), not a frozen copy; learning_rate ${String(grpo.learning_rate)} is kept as written (LoRA usually wants a larger one); optimizer state and checkpoints cover the adapter only`,
    );
  }
  if (entries.get('save_strategy')?.value === 'epoch' && !entries.has('save_steps')) {
    saveSteps = 0;
    notes.push('save_strategy "epoch": a checkpoint at the end of the run only (run.checkpoint_every 0)');
  }
  if (!lora.lora_target_modules) {
    lora.lora_target_modules = ['q_proj', 'v_proj'];
    notes.push("lora_target_modules not set: PEFT's Qwen2 default q_proj, v_proj used");
  }
  rewards.reward_funcs = rewardFuncs;
  if (tinaName !== null) Object.assign(data, tinaDataOptions(tinaName, datasetId, notes));
  if (family === 'open-r1' && data.chat_template_jinja === undefined) data.chat_template = 'model'; // open-r1 renders with the tokenizer's own template

  const procs = opts.numProcesses ?? (family === 'tina' ? TINA_PROCESSES : OPEN_R1_PROCESSES);
  grpo.gradient_accumulation_steps = gradAccum * procs;
  if (stepsPerGeneration !== null) grpo.steps_per_generation = stepsPerGeneration * procs;
  if (disableDropout) lora.lora_dropout = 0;
  const G = grpo.num_generations as number;
  const completions = (grpo.per_device_train_batch_size as number) * gradAccum * procs;
  grpo.prompts_per_step = completions / G;
  notes.push(
    `batch: per_device_train_batch_size ${String(grpo.per_device_train_batch_size)} × ${procs} processes × gradient_accumulation_steps ${gradAccum} = ${completions} completions (${completions / G} prompts × G ${G}) per step; loractor folds the processes into gradient_accumulation_steps ${gradAccum * procs}`,
  );
  if (opts.stopAtStep !== undefined) grpo.stop_at_step = opts.stopAtStep;

  const launchName = tinaName ?? '';
  if (opts.cosineMaxLen !== undefined) rewards.cosine_max_len = opts.cosineMaxLen;
  else if (opts.tinaLaunch && TINA_LAUNCH_COSINE_3584.has(launchName)) {
    rewards.cosine_max_len = 3584;
    notes.push(`cosine_max_len 3584 from Tina's launch script for '${launchName}'`);
  } else if (TINA_LAUNCH_COSINE_3584.has(launchName))
    notes.push(
      `note: Tina's launch script ran '${launchName}' with --cosine_max_len 3584; pass --tina-launch (or --cosine-max-len 3584) to reproduce it`,
    );

  if (systemPrompt === 'auto') systemPrompt = datasetId.includes('open-rs') ? 'open_rs' : 'open_r1'; // Tina's rule, made explicit
  const hubId = String(entries.get('model_name_or_path')?.value ?? '');
  const inPackage = (p: string): string =>
    relative(opts.configDir ?? join(repoRoot(), 'configs', 'tina'), join(repoRoot(), p))
      .split(sep)
      .join('/');
  const folder = inPackage(
    'data/' + datasetId.replace(/\//g, '-') + (datasetConfig && datasetConfig !== 'default' ? '/' + datasetConfig : ''),
  );
  const modelPath = opts.modelPath ?? inPackage(`models/${basename(hubId || 'model')}`);
  const runName = (tinaName ?? basename(src).replace(/\.ya?ml$/, '')).replace(/_/g, '-');
  const config: Record<string, unknown> = {
    $schema: '../loractor.schema.json',
    description: `Imported from ${basename(src)} by tools/import-recipe. ${notes.join('. ')}. Ignored (infrastructure): ${ignored.map((i) => i.key).join(', ') || 'none'}.`,
    run: { out_dir: opts.outDir ?? inPackage(`runs/tina/${runName}`), seed: grpo.seed, checkpoint_every: saveSteps },
    // The hub id goes into every checkpoint's adapter_config.json (base_model_name_or_path) and model card.
    model: { path: modelPath, ...(/^[\w.-]+\/[\w.-]+$/.test(hubId) ? { hub_id: hubId } : {}), engine: 'builtin' },
    lora: { ...lora },
    data: {
      source: 'dataset',
      path: opts.dataPath ?? folder,
      dataset_id: datasetId,
      system_prompt: systemPrompt,
      ...data,
    },
    grpo,
    rewards,
    // Tina's evaluation (tina-recipe.md §0.7, §2.4): offline on chosen checkpoints; gpqa from a user file.
    eval: {
      benchmarks: ['aime24', 'aime25', 'amc23', 'math500', 'minerva', 'gpqa'],
      benchmark_paths: { gpqa: inPackage('data/gpqa_diamond.jsonl') },
      num_samples: 1,
      temperature: 0.6,
      top_p: 0.95,
      max_new_tokens: 32768,
      seed: 42,
      eval_steps: 0,
      eval_before_training: false,
    },
    actors: {},
  };
  validateImported(config, src);
  return { config, ignored, notes };
}

/**
 * Tina's data handling by dataset name (tina/post_train_hf/grpo.py): "deepscaler" in the name grades
 * against $answer$, "2thought" maps II-Thought's messages/verification_info, "l1" samples a target
 * length per row. loractor's default mapping keys DeepScaleR on the dataset id instead, so the L1
 * recipes (DeepScaleR rows, no "deepscaler" in the name) name the plain mapping explicitly.
 */
function tinaDataOptions(name: string, datasetId: string, notes: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (name.includes('2thought')) out.column_mapping = 'ii_thought';
  else if (!name.includes('deepscaler') && datasetId.toLowerCase().includes('deepscaler')) {
    out.column_mapping = 'tina';
    notes.push(
      `'${name}' reads DeepScaleR rows without Tina's deepscaler step: the gold is the worked solution column, as Tina's grpo.py does for a name without "deepscaler"`,
    );
  }
  if (name.includes('l1')) {
    out.l1_target_length = { ...TINA_L1_TARGET };
    notes.push(
      `'${name}': each row gets a target length in [${TINA_L1_TARGET.min}, ${TINA_L1_TARGET.max}] (Tina: random.randint), asked for in the system prompt ("Think for N tokens.") and given to the L1 rewards`,
    );
  }
  return out;
}

/** Run the produced sections through their own schemas, so a bad value is reported now, by field. */
function validateImported(c: Record<string, unknown>, src: string): void {
  try {
    parseSection(modelSectionSchema, c.model, 'model');
    parseSection(loraSectionSchema, c.lora, 'lora');
    parseSection(dataSectionSchema, c.data, 'data');
    parseRewardsConfig(c.rewards);
  } catch (err) {
    throw new RecipeImportError(`${src}: the imported config is invalid: ${(err as Error).message}`, '');
  }
  const r = grpoConfigSchema.safeParse(c.grpo);
  if (!r.success)
    throw new RecipeImportError(
      `${src}: the imported config is invalid: grpo.${r.error.issues[0]!.path.join('.')}: ${r.error.issues[0]!.message}`,
      String(r.error.issues[0]!.path[0] ?? ''),
    );
  const { issues } = crossValidateGrpoConfig(r.data, r.data.max_steps === -1 ? 1 : undefined);
  if (issues.length)
    throw new RecipeImportError(
      `${src}: the imported config is invalid: grpo.${issues[0]!.field}: ${issues[0]!.message}`,
      issues[0]!.field,
    );
}

const USAGE = `usage: node dist/tools/import-recipe.js RECIPE.yaml [--out config.json] [--tina-launch] [--cosine-max-len N] [--num-processes N]
       [--stop-at-step N] [--as-tina-ran] [--as-lora] [--trl-version X.Y.Z] [--model-path DIR] [--data-path DIR] [--out-dir DIR] [--rewards tina|open-r1]

Converts a Tina / open-r1 GRPO recipe (YAML) into a loractor run config (JSON on stdout, or --out),
naming every key it maps, keeps or ignores.`;

/** CLI entry; returns the exit code (0 ok, 1 refused, 2 usage). */
export function runImportRecipe(argv: string[]): number {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        out: { type: 'string' },
        'tina-launch': { type: 'boolean' },
        'cosine-max-len': { type: 'string' },
        'num-processes': { type: 'string' },
        'stop-at-step': { type: 'string' },
        'as-tina-ran': { type: 'boolean' },
        'model-path': { type: 'string' },
        'data-path': { type: 'string' },
        'out-dir': { type: 'string' },
        rewards: { type: 'string' },
        'trl-version': { type: 'string' },
        'as-lora': { type: 'boolean' },
      },
    }));
  } catch (err) {
    console.error(`import-recipe: ${(err as Error).message} (see import-recipe --help)`);
    return 2;
  }
  if (positionals.length !== 1) {
    console.error(`import-recipe: expected one RECIPE.yaml, got ${positionals.length} (see import-recipe --help)`);
    return 2;
  }
  const intOpt = (name: string): number | undefined => {
    const s = values[name];
    if (s === undefined) return undefined;
    if (typeof s !== 'string' || !/^\d+$/.test(s))
      throw new Error(`--${name}: expected a positive integer, got '${String(s)}'`);
    return Number(s);
  };
  if (values.rewards !== undefined && values.rewards !== 'tina' && values.rewards !== 'open-r1') {
    console.error(`import-recipe: --rewards: expected tina or open-r1, got '${String(values.rewards)}'`);
    return 2;
  }
  const file = positionals[0]!;
  try {
    const text = readFileSync(file, 'utf8');
    const stop = intOpt('stop-at-step');
    const res = importRecipe(text, {
      source: file,
      tinaLaunch: values['tina-launch'] === true,
      asTinaRan: values['as-tina-ran'] === true,
      cosineMaxLen: intOpt('cosine-max-len'),
      numProcesses: intOpt('num-processes'),
      ...(stop !== undefined ? { stopAtStep: stop } : {}),
      modelPath: values['model-path'] as string | undefined,
      dataPath: values['data-path'] as string | undefined,
      outDir: values['out-dir'] as string | undefined,
      rewards: values.rewards as 'tina' | 'open-r1' | undefined,
      configDir: typeof values.out === 'string' ? dirname(resolve(values.out)) : process.cwd(),
      ...(typeof values['trl-version'] === 'string' ? { trlVersion: values['trl-version'] } : {}),
      asLora: values['as-lora'] === true,
    });
    const json = JSON.stringify(res.config, null, 2) + '\n';
    for (const n of res.notes) console.error(`import-recipe: ${n}`);
    console.error(
      `import-recipe: ignored (infrastructure): ${res.ignored.map((i) => `${i.key} (${i.why})`).join('; ') || 'none'}`,
    );
    if (typeof values.out === 'string') {
      writeFileSync(values.out, json);
      console.error(`import-recipe: wrote ${values.out}`);
    } else process.stdout.write(json);
    return 0;
  } catch (err) {
    console.error(`import-recipe: ${(err as Error).message}`);
    return 1;
  }
}

if (isMainScript(import.meta.url))
  process.exitCode = runImportRecipe(scriptArgs({ name: 'import-recipe', help: USAGE }));

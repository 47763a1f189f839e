// Everything a training run checks before it does any work, in the order that lets the cheapest check
// fail first: the config sections (each error names its field), the model's dimensions against the
// lengths (context) and the host's memory (budget), then the tokenizer, the whole dataset (over-long
// and unencodable rows), the GRPO schedule, the WebLLM artifacts, and last the base weights. Nothing
// is written anywhere until planRun returns: the run folder is opened after it.
import { learnerSectionSchema, type LearnerDeviceConfig as LearnerSection } from '../rl/learner-config.js';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import type { LoraSettings } from '../model/adapter-layout.js';
import { readQwen2Config } from '../model/config.js';
import { loadModel } from '../model/load.js';
import { loadTokenizer, type ModelTokenizer } from '../model/tokenizer.js';
import { resolveConfigPath } from '../config/paths.js';
import { contextLimits, estimateRunMemory, judgeMemory, type BudgetKnobs } from '../config/budget.js';
import { grpoConfigSchema, resolveGrpoConfig, type ResolvedGrpoConfig } from '../rl/config.js';
import { parseRewardsConfig, type RewardsConfig } from '../rewards/config.js';
import { absolutizeSpec, type RewardFuncSpec } from '../rewards/registry.js';
import { parseEvalConfig, type EvalConfig } from '../eval/config.js';
import { checkWebLlmRollout, requireWebLlmPaths, type WebLlmRolloutPaths } from '../engines/webllm/model-match.js';
import { checkDataForRewards, dataSectionSchema, evalScheduleSchema, loraSectionSchema, modelSectionSchema, parseSection, type DataSection, type LoraSection, type ModelSection } from './config.js';
import { preparePrompts, type PromptData } from './prompts.js';
import type { Model } from '../model/weights.js';
import { createHash } from 'node:crypto';
import type { RoleSpec } from '../runtime/actor-system.js';
import { actorSpecsFromConfig } from '../config/actors.js';
import type { LoractorConfig } from '../config/schema.js';
import { faultsSectionSchema, type FaultsSection } from './config.js';

type RawConfig = Record<string, unknown> & { run?: Record<string, unknown> };

export interface RunSettings {
  out_dir?: string; max_steps?: number; seed?: number; checkpoint_every?: number; sync_timeout_s?: number; sync_retries?: number;
  max_reward_failure_rate?: number; max_consecutive_skipped_updates?: number; learner_recovery?: boolean;
}

export interface RunPlan {
  /** The config as given (sections not validated here pass through to config.resolved.json). */
  raw: RawConfig;
  run: RunSettings;
  seed: number;
  modelCfg: ModelSection;
  loraCfg: LoraSection;
  /** Where the learner runs (cpu or webgpu) and how (weights dtype, recomputation). */
  learnerCfg: LearnerSection;
  lora: LoraSettings;
  /** The data section with its path made absolute. */
  data: DataSection;
  schedule: { eval_steps: number; eval_before_training: boolean };
  evalCfg: EvalConfig;
  rewardsCfg: RewardsConfig;
  modelDir: string;
  model: Model<Float32Array>;
  tok: ModelTokenizer;
  webllm: WebLlmRolloutPaths | null;
  prompts: PromptData;
  grpo: ResolvedGrpoConfig;
  lastStep: number;
  /** Lines for the run's log (context and memory warnings, dataset notes). */
  notes: string[];
  /** sha256 of what must not change between a run and its resumption (the stop step and the folder may). */
  configSha: string;
  /** The `actors` section's overrides of the standard roles. */
  overrides: Record<string, RoleSpec>;
  faults: FaultsSection;
}

/** A config problem found before any work (the message names the field); runTraining fails with it. */
export class RunConfigError extends Error {
  override name = 'RunConfigError';
}

/** Validate the config and everything it names; load the model and the prompts. Writes nothing. */
export async function planRun(raw: RawConfig, opts: { configPath?: string; seed?: number; maxSteps?: number }): Promise<RunPlan> {
  const run = (raw.run ?? {}) as RunSettings;
  const seed = opts.seed ?? run.seed ?? 42;
  const at = (p: string): string => resolveConfigPath(p, opts.configPath);
  const modelCfg = parseSection(modelSectionSchema, raw.model, 'model');
  const loraCfg = parseSection(loraSectionSchema, raw.lora, 'lora');
  const learnerCfg = parseSection(learnerSectionSchema, raw.learner, 'learner');
  const data0 = parseSection(dataSectionSchema, raw.data, 'data');
  const data: DataSection = data0.source === 'dataset' ? { ...data0, path: at(data0.path) } : data0;
  const { eval_steps, eval_before_training, ...evalRest } = (raw.eval ?? {}) as Record<string, unknown>;
  const schedule = parseSection(evalScheduleSchema, { eval_steps, eval_before_training }, 'eval');
  const evalParsed = parseEvalConfig({ benchmarks: ['synthetic'], ...evalRest, seed: (evalRest.seed as number | undefined) ?? 42 }, 'config: eval');
  const evalCfg: EvalConfig = {
    ...evalParsed,
    ...(evalParsed.benchmarks_dir !== undefined ? { benchmarks_dir: at(evalParsed.benchmarks_dir) } : {}),
    benchmark_paths: Object.fromEntries(Object.entries(evalParsed.benchmark_paths).map(([k, v]) => [k, at(v)])),
  };
  const rewards0 = parseRewardsConfig(raw.rewards);
  checkDataForRewards(data0, rewards0.reward_funcs);
  const rewardsCfg: RewardsConfig = { ...rewards0, reward_funcs: rewards0.reward_funcs.map((s) => absolutizeSpec(s as RewardFuncSpec, at('.'))) as RewardsConfig['reward_funcs'] };
  const modelDir = at(modelCfg.path);
  const webllmPaths = modelCfg.engine === 'webllm' ? requireWebLlmPaths(modelCfg, at) : null;
  const lora: LoraSettings = { r: loraCfg.lora_r, alpha: loraCfg.lora_alpha, dropout: loraCfg.lora_dropout, targetModules: [...loraCfg.lora_target_modules] };
  const { overrides, faults } = checkActors(raw, run);

  // Lengths and memory from the model's dimensions alone (config.json), before anything big is read.
  const dims = readQwen2Config(join(modelDir, 'config.json'));
  const parsedGrpo = grpoConfigSchema.safeParse({ ...(raw.grpo as object), seed });
  if (!parsedGrpo.success) resolveGrpoConfig({ ...(raw.grpo as object), seed }); // throws naming the field
  const g0 = parsedGrpo.data!;
  const evalOn = schedule.eval_steps > 0 || schedule.eval_before_training;
  const ctx = contextLimits(dims, g0, evalOn ? evalCfg.max_new_tokens : undefined);
  if (ctx.problems.length) throw new RunConfigError(`config: ${ctx.problems.join('; ')}`);
  const knobs = budgetKnobs(dims, lora, g0, modelCfg, run, ctx.promptTokens, evalOn ? evalCfg : undefined, schedule.eval_steps, learnerCfg);
  const budget = estimateRunMemory(knobs);
  const memory = judgeMemory(budget, totalmem());
  if (memory.problem) throw new RunConfigError(`config: ${memory.problem} (loractor check prints the whole estimate)`);
  // The GPU's memory is known only when the config states it (WebGPU does not report it).
  const gpuMemory = learnerCfg.gpu_memory_gib !== null ? judgeMemory(budget, learnerCfg.gpu_memory_gib * 2 ** 30, 'gpu') : null;
  if (gpuMemory?.problem) throw new RunConfigError(`config: ${gpuMemory.problem} (learner.gpu_memory_gib; loractor check prints the whole estimate)`);
  const notes = [...ctx.warnings, ...(memory.warning ? [memory.warning] : []), ...(gpuMemory?.warning ? [gpuMemory.warning] : [])];

  const tok = loadTokenizer(modelDir, dims);
  const prompts = await preparePrompts(data, tok, { maxPromptTokens: ctx.promptTokens, limitField: ctx.limitField });
  notes.push(...prompts.report.notes);
  // One seed per run (run.seed, or --seed over both): a grpo.seed that disagrees with run.seed would be silently overridden.
  const grpoSeed = (raw.grpo as { seed?: number | null } | undefined)?.seed;
  if (grpoSeed !== undefined && grpoSeed !== null && grpoSeed !== (run.seed ?? 42)) throw new RunConfigError(`config: grpo.seed ${grpoSeed} differs from run.seed ${run.seed ?? 42}; the run's seed (run.seed, or --seed) is what every random choice uses: set run.seed instead`);
  const grpo = resolveGrpoConfig({ ...(raw.grpo as object), seed }, prompts.size !== undefined ? { datasetSize: prompts.size } : {});
  const lastStep = opts.maxSteps ?? run.max_steps ?? grpo.stopAtStep ?? grpo.maxSteps;
  if (!(lastStep >= 1)) throw new RunConfigError('config: run.max_steps (or grpo.max_steps) must give at least one step');
  const model = loadModel(modelDir);
  const webllm = webllmPaths ? checkWebLlmRollout(webllmPaths, { model: model.config, modelDir, topK: grpo.config.top_k ?? 0 }) : null;
  // The learner scores tokens under the truncated distribution the engine sampled from (so the
  // importance ratios are exact); web-llm reports full-vocabulary log-probs under top_p.
  if (webllm && grpo.config.top_p < 1) throw new RunConfigError(`config: grpo.top_p ${grpo.config.top_p} is not supported with model.engine 'webllm': web-llm reports log-probs of the whole vocabulary, not of the nucleus it samples from, so the importance ratios against the learner would be wrong; set grpo.top_p to 1 or use the builtin engine`);
  // Truncated scoring needs whole rows of logits, which the fused GPU LM head never holds.
  if (learnerCfg.device === 'webgpu' && (grpo.config.top_p < 1 || (grpo.config.top_k ?? 0) > 0)) throw new RunConfigError(`config: learner.device 'webgpu' scores under the full distribution; grpo.top_p ${grpo.config.top_p} / top_k ${grpo.config.top_k ?? 0} need the truncated one, which only the cpu learner computes: set learner.device "cpu", or top_p 1 and top_k 0`);
  // Paths as written (not resolved), so a run folder moved together with its config still resumes.
  const configSha = createHash('sha256').update(JSON.stringify({ seed, model: modelCfg, lora: loraCfg, data: data0, grpo: grpo.config, rewards: rewards0, eval: evalParsed })).digest('hex');
  return { raw, run, seed, modelCfg, learnerCfg, loraCfg, lora, data, schedule, evalCfg, rewardsCfg, modelDir, model, tok, webllm, prompts, grpo, lastStep, notes, configSha, overrides, faults };
}

/** The `actors` section tunes the standard roles only; the learner is one worker, retried only with recovery. */
function checkActors(raw: RawConfig, run: RunSettings): { overrides: Record<string, RoleSpec>; faults: FaultsSection } {
  // An entry for 'rollout' applies to every rollout-N. The role's own config always comes from the coordinator.
  const overrides = actorSpecsFromConfig({ actors: (raw.actors ?? {}) as LoractorConfig['actors'] });
  for (const name of Object.keys(overrides)) {
    if (name === 'reward') throw new RunConfigError('config: actors.reward: the reward role is set by rewards.reward_num_workers and rewards.reward_timeout_s');
    if (!['rollout', 'advantage', 'learner', 'evaluator'].includes(name)) throw new RunConfigError(`config: actors.${name}: not a role of the training job (rollout, advantage, learner, evaluator)`);
  }
  const faults = parseSection(faultsSectionSchema, raw.faults ?? [], 'faults');
  // One learner worker owns the adapter (single writer of the WeightStore); without recovery a retry
  // would start from a fresh worker's step 0 or from half-updated state, so it is not allowed.
  const learner = overrides.learner as { threads?: number; retries?: number } | undefined;
  if (learner?.threads !== undefined && learner.threads !== 1) throw new RunConfigError(`config: actors.learner.threads: the learner is one worker (it is the adapter's only writer), got ${learner.threads}`);
  if (!(run.learner_recovery ?? true) && (learner?.retries ?? 0) > 0) throw new RunConfigError('config: actors.learner.retries: retrying the learner needs run.learner_recovery (its state would be lost with the worker)');
  return { overrides, faults };
}

/** The budget's view of a config (shared by runTraining and `loractor check`). */
export function budgetKnobs(
  dims: BudgetKnobs['model'], lora: LoraSettings, g: { per_device_train_batch_size: number; gradient_accumulation_steps: number; num_generations: number; max_completion_length: number; beta: number; max_staleness: number },
  model: { rollout_actors: number; rollout_max_batch: number; engine?: BudgetKnobs['engine']; rollout_weight_dtype?: 'f16' | 'f32' }, run: { learner_recovery?: boolean }, promptTokens: number, evalCfg: EvalConfig | undefined, evalSteps: number,
  learner?: { device: string; weight_dtype: 'f16' | 'f32'; recompute: boolean },
): BudgetKnobs {
  return {
    model: dims, lora: { r: lora.r, targetModules: lora.targetModules as BudgetKnobs['lora']['targetModules'] },
    promptsPerStep: Math.max(1, Math.floor((g.per_device_train_batch_size * g.gradient_accumulation_steps) / g.num_generations)), numGenerations: g.num_generations,
    perDeviceTrainBatchSize: g.per_device_train_batch_size, gradientAccumulationSteps: g.gradient_accumulation_steps,
    promptTokens, maxCompletionLength: g.max_completion_length, referencePass: g.beta !== 0, maxStaleness: g.max_staleness,
    rolloutActors: model.rollout_actors, rolloutMaxBatch: model.rollout_max_batch, learnerRecovery: run.learner_recovery ?? true,
    ...(evalCfg ? { eval: { batchSize: evalCfg.batch_size, numSamples: evalCfg.num_samples, maxNewTokens: evalCfg.max_new_tokens, problems: evalCfg.limit ?? evalCfg.synthetic_count, everySteps: evalSteps } } : {}),
    ...(model.engine ? { engine: model.engine } : {}), ...(model.rollout_weight_dtype ? { rolloutWeightDtype: model.rollout_weight_dtype } : {}),
    ...(learner?.device === 'webgpu' ? { gpuLearner: { weightDtype: learner.weight_dtype, recompute: learner.recompute, dropout: lora.dropout > 0 } } : {}),
  };
}

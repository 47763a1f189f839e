// Everything a training run checks before it does any work, in the order that lets the cheapest check
// fail first: the config sections (each error names its field), the model's dimensions against the
// lengths (context) and the host's memory (budget), then the tokenizer, the whole dataset (over-long
// and unencodable rows), the GRPO schedule, the WebLLM artifacts, and last the base weights. Nothing
// is written anywhere until planRun returns: the run folder is opened after it. The config itself is
// resolved by resolveRunConfig (run-config.ts), where every default lives.
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { LoraSettings } from '../model/adapter-layout.js';
import { readQwen2Config } from '../model/config.js';
import { loadModel } from '../model/load.js';
import { loadTokenizer, type ModelTokenizer } from '../model/tokenizer.js';
import type { Model } from '../model/weights.js';
import { resolveConfigPath } from '../config/paths.js';
import { ConfigError } from '../config/load.js';
import type { LoractorConfig } from '../config/schema.js';
import { estimateRunMemory, judgeMemory, type BudgetKnobs } from '../config/budget.js';
import { contextLimits } from '../config/context-limits.js';
import { resolveGrpoConfig, type ResolvedGrpoConfig } from '../rl/config.js';
import type { EvalConfig } from '../eval/config.js';
import { checkWebLlmRollout, requireWebLlmPaths, type WebLlmRolloutPaths } from '../engines/webllm/model-match.js';
import { preparePrompts, type PromptData } from './prompts.js';
import {
  asConfigError,
  isRunConfig,
  resolveRunConfig,
  type RunConfig,
  type RunConfigOptions,
  type RunSettings,
} from './run-config.js';

export type { RunSettings };

export interface RunPlan extends RunConfig {
  /** The config as validated, defaults filled (sections not used here pass through to config.resolved.json). */
  raw: LoractorConfig;
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
}

/** A config problem found before any work (the message names the field); the CLI exits 2 with it. */
export class RunConfigError extends ConfigError {
  override name = 'RunConfigError';
  constructor(message: string, path = '') {
    super(message, '', path);
  }
}

/** Resolve the config (resolveRunConfig), then validate everything it names; load the model and the prompts. Writes nothing. */
export async function planRun(config: unknown, opts: RunConfigOptions = {}): Promise<RunPlan> {
  const rc = isRunConfig(config) ? config : resolveRunConfig(config, opts);
  const { run, seed, modelCfg, lora, modelDir, learnerCfg, data, schedule, evalCfg, grpo0: g0 } = rc;
  const webllmPaths =
    modelCfg.engine === 'webllm' ? requireWebLlmPaths(modelCfg, (p) => resolveConfigPath(p, rc.configPath)) : null;

  // Lengths and memory from the model's dimensions alone (config.json), before anything big is read.
  const dims = readQwen2Config(join(modelDir, 'config.json'));
  const evalOn = schedule.eval_steps > 0 || schedule.eval_before_training;
  const ctx = contextLimits(dims, g0, evalOn ? evalCfg.max_new_tokens : undefined);
  if (ctx.problems.length) throw new RunConfigError(`config: ${ctx.problems.join('; ')}`);
  const knobs = budgetKnobs(
    dims,
    lora,
    g0,
    modelCfg,
    run,
    ctx.promptTokens,
    evalOn ? evalCfg : undefined,
    schedule.eval_steps,
    learnerCfg,
  );
  const budget = estimateRunMemory(knobs);
  const memory = judgeMemory(budget, totalmem());
  if (memory.problem) throw new RunConfigError(`config: ${memory.problem} (loractor check prints the whole estimate)`);
  // The GPU's memory is known only when the config states it (WebGPU does not report it).
  const gpuMemory =
    learnerCfg.gpu_memory_gib !== null ? judgeMemory(budget, learnerCfg.gpu_memory_gib * 2 ** 30, 'gpu') : null;
  if (gpuMemory?.problem)
    throw new RunConfigError(
      `config: ${gpuMemory.problem} (learner.gpu_memory_gib; loractor check prints the whole estimate)`,
    );
  const notes = [
    ...ctx.warnings,
    ...(memory.warning ? [memory.warning] : []),
    ...(gpuMemory?.warning ? [gpuMemory.warning] : []),
  ];

  const tok = loadTokenizer(modelDir, dims);
  const prompts = await preparePrompts(data, tok, { maxPromptTokens: ctx.promptTokens, limitField: ctx.limitField });
  notes.push(...prompts.report.notes);
  const grpo = asConfigError(rc.configPath ?? '(inline)', () =>
    resolveGrpoConfig(rc.grpoInput, prompts.size !== undefined ? { datasetSize: prompts.size } : {}),
  );
  const lastStep = run.max_steps ?? grpo.stopAtStep ?? grpo.maxSteps;
  if (!(lastStep >= 1))
    throw new RunConfigError('config: run.max_steps (or grpo.max_steps) must give at least one step', 'run.max_steps');
  const model = loadModel(modelDir);
  const webllm = webllmPaths
    ? checkWebLlmRollout(webllmPaths, { model: model.config, modelDir, topK: grpo.config.top_k ?? 0 })
    : null;
  // The learner scores tokens under the truncated distribution the engine sampled from (so the
  // importance ratios are exact); web-llm reports full-vocabulary log-probs under top_p.
  if (webllm && grpo.config.top_p < 1)
    throw new RunConfigError(
      `config: grpo.top_p ${grpo.config.top_p} is not supported with model.engine 'webllm': web-llm reports log-probs of the whole vocabulary, not of the nucleus it samples from, so the importance ratios against the learner would be wrong; set grpo.top_p to 1 or use the builtin engine`,
      'grpo.top_p',
    );
  // Truncated scoring needs whole rows of logits, which the fused GPU LM head never holds.
  if (learnerCfg.device === 'webgpu' && (grpo.config.top_p < 1 || (grpo.config.top_k ?? 0) > 0))
    throw new RunConfigError(
      `config: learner.device 'webgpu' scores under the full distribution; grpo.top_p ${grpo.config.top_p} / top_k ${grpo.config.top_k ?? 0} need the truncated one, which only the cpu learner computes: set learner.device "cpu", or top_p 1 and top_k 0`,
      'learner.device',
    );
  // Paths as written (not resolved), so a run folder moved together with its config still resumes.
  const configSha = createHash('sha256')
    .update(
      JSON.stringify({
        seed,
        model: modelCfg,
        lora: rc.loraCfg,
        data: rc.data0,
        grpo: grpo.config,
        rewards: rc.rewards0,
        eval: rc.evalParsed,
      }),
    )
    .digest('hex');
  return { ...rc, raw: rc.config, model, tok, webllm, prompts, grpo, lastStep, notes, configSha };
}

/** The budget's view of a config (shared by runTraining and `loractor check`). */
export function budgetKnobs(
  dims: BudgetKnobs['model'],
  lora: LoraSettings,
  g: {
    per_device_train_batch_size: number;
    gradient_accumulation_steps: number;
    num_generations: number;
    max_completion_length: number;
    beta: number;
    max_staleness: number;
  },
  model: {
    rollout_actors: number;
    rollout_max_batch: number;
    engine?: BudgetKnobs['engine'];
    rollout_weight_dtype?: 'f16' | 'f32';
  },
  run: { learner_recovery?: boolean },
  promptTokens: number,
  evalCfg: EvalConfig | undefined,
  evalSteps: number,
  learner?: { device: string; weight_dtype: 'f16' | 'f32'; recompute: boolean },
): BudgetKnobs {
  return {
    model: dims,
    lora: { r: lora.r, targetModules: lora.targetModules as BudgetKnobs['lora']['targetModules'] },
    promptsPerStep: Math.max(
      1,
      Math.floor((g.per_device_train_batch_size * g.gradient_accumulation_steps) / g.num_generations),
    ),
    numGenerations: g.num_generations,
    perDeviceTrainBatchSize: g.per_device_train_batch_size,
    gradientAccumulationSteps: g.gradient_accumulation_steps,
    promptTokens,
    maxCompletionLength: g.max_completion_length,
    referencePass: g.beta !== 0,
    maxStaleness: g.max_staleness,
    rolloutActors: model.rollout_actors,
    rolloutMaxBatch: model.rollout_max_batch,
    learnerRecovery: run.learner_recovery ?? true,
    ...(evalCfg
      ? {
          eval: {
            batchSize: evalCfg.batch_size,
            numSamples: evalCfg.num_samples,
            maxNewTokens: evalCfg.max_new_tokens,
            problems: evalCfg.limit ?? evalCfg.synthetic_count,
            everySteps: evalSteps,
          },
        }
      : {}),
    ...(model.engine ? { engine: model.engine } : {}),
    ...(model.rollout_weight_dtype ? { rolloutWeightDtype: model.rollout_weight_dtype } : {}),
    ...(learner?.device === 'webgpu'
      ? { gpuLearner: { weightDtype: learner.weight_dtype, recompute: learner.recompute, dropout: lora.dropout > 0 } }
      : {}),
  };
}

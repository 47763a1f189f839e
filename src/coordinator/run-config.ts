// resolveRunConfig: the one place a training config becomes typed settings. The root schema fills
// every default (src/config/schema.ts and the section schemas it composes: nowhere else says what a
// missing knob means), the command line's --seed / --max-steps are applied, paths inside the config
// resolve against its folder, and the checks that need no file (sections, the seed rule, the actor
// overrides, the GRPO knobs) run. Every failure is a ConfigError naming the field (exit 2).
// Used by the CLI (before training starts), runTraining (a library caller's raw config) and `check`.
import type { z } from 'zod';
import { ConfigError, validateConfig } from '../config/load.js';
import { ConfigFieldError } from '../config/field-error.js';
import { rootConfigSchema, type LoractorConfig } from '../config/schema.js';
import type { runSchema } from '../config/sections.js';
import { actorSpecsFromConfig } from '../config/actors.js';
import { resolveConfigPath } from '../config/paths.js';
import type { RoleSpec } from '../runtime/actor-system.js';
import type { LoraSettings } from '../model/adapter-layout.js';
import { grpoConfigSchema, GrpoConfigError, resolveGrpoConfig, type GrpoConfig } from '../rl/config.js';
import type { LearnerDeviceConfig } from '../rl/learner-config.js';
import { parseRewardsConfig, type RewardsConfig } from '../rewards/config.js';
import { absolutizeSpec, type RewardFuncSpec } from '../rewards/registry.js';
import { parseEvalConfig, type EvalConfig } from '../eval/config.js';
import {
  checkDataForRewards,
  dataSectionSchema,
  evalScheduleSchema,
  loraSectionSchema,
  modelSectionSchema,
  parseSection,
  type DataSection,
  type FaultsSection,
  type LoraSection,
  type ModelSection,
} from './config.js';

/** The `run` section with its defaults. */
export type RunSettings = z.output<typeof runSchema>;

/** A training config, validated and resolved: what runTraining, planRun and `check` work from. */
export interface RunConfig {
  /** Marks a resolved config (runTraining takes a raw one too). */
  readonly resolved: true;
  /** The config as validated, defaults filled (sections not used here pass through to config.resolved.json). */
  config: LoractorConfig;
  /** The config file (relative paths inside the config resolve against its folder); absent: the cwd. */
  configPath?: string;
  /** run.*, with --seed and --max-steps applied. */
  run: RunSettings;
  seed: number;
  modelCfg: ModelSection;
  /** model.path made absolute. */
  modelDir: string;
  loraCfg: LoraSection;
  lora: LoraSettings;
  learnerCfg: LearnerDeviceConfig;
  /** The data section as written (its hash is part of the resume check). */
  data0: DataSection;
  /** The data section with its path made absolute. */
  data: DataSection;
  schedule: { eval_steps: number; eval_before_training: boolean };
  /** The eval section as parsed (paths as written). */
  evalParsed: EvalConfig;
  /** With benchmarks_dir and benchmark_paths made absolute. */
  evalCfg: EvalConfig;
  /** The rewards section as parsed (custom modules' paths as written). */
  rewards0: RewardsConfig;
  /** With custom reward modules' paths made absolute. */
  rewardsCfg: RewardsConfig;
  /** The grpo section as given, the run's seed in it (resolveGrpoConfig runs on it once the dataset size is known). */
  grpoInput: Record<string, unknown>;
  /** The grpo section parsed (defaults filled); the schedule horizon may still depend on the dataset. */
  grpo0: GrpoConfig & { seed: number };
  /** The `actors` section's overrides of the standard roles. */
  overrides: Record<string, RoleSpec>;
  faults: FaultsSection;
}

export interface RunConfigOptions {
  configPath?: string;
  /** --seed: overrides run.seed. */
  seed?: number;
  /** --max-steps: overrides run.max_steps. */
  maxSteps?: number;
}

export function isRunConfig(x: unknown): x is RunConfig {
  return typeof x === 'object' && x !== null && (x as { resolved?: unknown }).resolved === true;
}

/** Validate and resolve a training config (a parsed JSON object or a LoractorConfig). Throws ConfigError. */
export function resolveRunConfig(raw: unknown, opts: RunConfigOptions = {}): RunConfig {
  const source = opts.configPath ?? '(inline)';
  const config = validateConfig(raw, source, rootConfigSchema) as LoractorConfig;
  const run: RunSettings = {
    ...config.run,
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.maxSteps !== undefined ? { max_steps: opts.maxSteps } : {}),
  };
  const seed = run.seed;
  const at = (p: string): string => resolveConfigPath(p, opts.configPath);
  // Sections the root schema left optional are required to train; each parser names its own fields.
  const modelCfg = asConfigError(source, () => parseSection(modelSectionSchema, config.model, 'model'));
  const loraCfg = asConfigError(source, () => parseSection(loraSectionSchema, config.lora, 'lora'));
  const learnerCfg = config.learner;
  const data0 = asConfigError(source, () => parseSection(dataSectionSchema, config.data, 'data'));
  const data: DataSection = data0.source === 'dataset' ? { ...data0, path: at(data0.path) } : data0;
  const { eval_steps, eval_before_training, ...evalRest } = (config.eval ?? {}) as Record<string, unknown>;
  const schedule = asConfigError(source, () =>
    parseSection(evalScheduleSchema, { eval_steps, eval_before_training }, 'eval'),
  );
  const evalParsed = asConfigError(source, () =>
    parseEvalConfig({ benchmarks: ['synthetic'], ...evalRest }, 'config: eval'),
  );
  const evalCfg: EvalConfig = {
    ...evalParsed,
    ...(evalParsed.benchmarks_dir !== undefined ? { benchmarks_dir: at(evalParsed.benchmarks_dir) } : {}),
    benchmark_paths: Object.fromEntries(Object.entries(evalParsed.benchmark_paths).map(([k, v]) => [k, at(v)])),
  };
  const rewards0 = asConfigError(source, () => parseRewardsConfig(config.rewards));
  asConfigError(source, () => checkDataForRewards(data0, rewards0.reward_funcs));
  const rewardsCfg: RewardsConfig = {
    ...rewards0,
    reward_funcs: rewards0.reward_funcs.map((s) =>
      absolutizeSpec(s as RewardFuncSpec, at('.')),
    ) as RewardsConfig['reward_funcs'],
  };
  const lora: LoraSettings = {
    r: loraCfg.lora_r,
    alpha: loraCfg.lora_alpha,
    dropout: loraCfg.lora_dropout,
    targetModules: [...loraCfg.lora_target_modules],
  };
  const { overrides, faults } = checkActors(config, run, source);
  // One seed per run (run.seed, or --seed over both): a grpo.seed that disagrees would be silently overridden.
  const grpoSeed = config.grpo?.seed;
  if (grpoSeed !== undefined && grpoSeed !== null && grpoSeed !== seed)
    throw new ConfigError(
      `config: grpo.seed ${grpoSeed} differs from run.seed ${seed}; the run's seed (run.seed, or --seed) is what every random choice uses: set run.seed instead`,
      source,
      'grpo.seed',
    );
  const grpoInput = { ...((raw as { grpo?: object } | null)?.grpo ?? {}), seed };
  const parsedGrpo = grpoConfigSchema.safeParse(grpoInput);
  if (!parsedGrpo.success) asConfigError(source, () => resolveGrpoConfig(grpoInput)); // throws naming the field
  const grpo0 = { ...parsedGrpo.data!, seed };
  return {
    resolved: true,
    config,
    ...(opts.configPath !== undefined ? { configPath: opts.configPath } : {}),
    run,
    seed,
    modelCfg,
    modelDir: at(modelCfg.path),
    loraCfg,
    lora,
    learnerCfg,
    data0,
    data,
    schedule,
    evalParsed,
    evalCfg,
    rewards0,
    rewardsCfg,
    grpoInput,
    grpo0,
    overrides,
    faults,
  };
}

/** Run `f`; a plain config error it throws (a section parser's, the GRPO resolver's) becomes a ConfigError. */
export function asConfigError<T>(source: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if (err instanceof GrpoConfigError)
      throw new ConfigError(
        `config: ${err.issues.map((i) => `grpo.${i.field}: ${i.message}`).join('; ')}`,
        source,
        `grpo.${err.issues[0]?.field ?? ''}`,
      );
    if (err instanceof ConfigFieldError) throw new ConfigError(err.message, source, err.field);
    throw err;
  }
}

/** The `actors` section tunes the standard roles only; the learner is one worker, retried only with recovery. */
function checkActors(
  config: LoractorConfig,
  run: RunSettings,
  source: string,
): { overrides: Record<string, RoleSpec>; faults: FaultsSection } {
  // An entry for 'rollout' applies to every rollout-N. The role's own config always comes from the coordinator.
  const overrides = actorSpecsFromConfig({ actors: config.actors });
  for (const name of Object.keys(overrides)) {
    if (name === 'reward')
      throw new ConfigError(
        'config: actors.reward: the reward pool is set by rewards.reward_num_workers and rewards.reward_timeout_s',
        source,
        'actors.reward',
      );
    if (!['rollout', 'advantage', 'learner', 'evaluator'].includes(name))
      throw new ConfigError(
        `config: actors.${name}: not a role of the training job (rollout, advantage, learner, evaluator)`,
        source,
        `actors.${name}`,
      );
  }
  // One learner worker owns the adapter (single writer of the WeightStore); without recovery a retry
  // would start from a fresh worker's step 0 or from half-updated state, so it is not allowed.
  const learner = overrides.learner as { threads?: number; retries?: number } | undefined;
  if (learner?.threads !== undefined && learner.threads !== 1)
    throw new ConfigError(
      `config: actors.learner.threads: the learner is one worker (it is the adapter's only writer), got ${learner.threads}`,
      source,
      'actors.learner.threads',
    );
  if (!run.learner_recovery && (learner?.retries ?? 0) > 0)
    throw new ConfigError(
      'config: actors.learner.retries: retrying the learner needs run.learner_recovery (its state would be lost with the worker)',
      source,
      'actors.learner.retries',
    );
  return { overrides, faults: config.faults ?? [] };
}

// `loractor check --actors=CONFIG`: is this run ready to start? Validates the config, then looks at
// everything the run will need, without starting it: the model folder (Qwen2 config.json, complete
// safetensors with the right shapes/dtypes, tokenizer that fits the vocabulary, a chat template that
// renders), the dataset (exists, has the columns Tina's mapping needs), MLC artifacts for the webllm
// engine, evaluation benchmark files, the lengths against the model's context, and the memory and time
// the run needs (src/config/budget.ts; a run that cannot fit in memory is NOT READY, naming the knobs
// to change — training applies the same check). It reports EVERY problem found, not just the first,
// so a user fixes the whole list in one go. Relative paths in the config resolve against its folder.
// Exit 0 = ready, 1 = not ready, 2 = usage error.
// This module reads the config and runs the sections in order (checkConfig) and is the CLI entry (run);
// the model folder and MLC artifacts are checked in check-model.ts, the dataset in check-data.ts, the
// benchmark files in check-benchmarks.ts, the lengths, memory and time in check-budget.ts, the learner's
// device in check-webgpu.ts, and the report and its printing live in check-report.ts.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { rootConfigSchema } from '../config/schema.js';
import {
  checkDataForRewards,
  dataSectionSchema,
  evalScheduleSchema,
  loraSectionSchema,
  modelSectionSchema,
  parseSection,
  type DataSection,
  type LoraSection,
  type ModelSection,
} from '../coordinator/config.js';
import { resolveGrpoConfig, type ResolvedGrpoConfig } from '../rl/config.js';
import { parseRewardsConfig } from '../rewards/config.js';
import { parseEvalConfig, type EvalConfig } from '../eval/config.js';
import type { Qwen2Config } from '../model/config.js';
import type { ModelTokenizer } from '../model/tokenizer.js';
import { formatBytes } from '../config/budget.js';
import { resolveRunConfig, type RunConfig } from '../coordinator/run-config.js';
import { ConfigError } from '../config/load.js';
import { getTaskFamily } from '../data/tasks/index.js';
import { learnerSectionSchema } from '../rl/learner-config.js';
import { checkLearnerDevice } from './check-webgpu.js';
import type { LoraModule } from '../model/lora.js';
import { formatReport, type CheckReport } from './check-report.js';
import { checkMlc, checkModel } from './check-model.js';
import { checkDataset } from './check-data.js';
import { checkBenchmarks } from './check-benchmarks.js';
import { checkLengthsAndBudget } from './check-budget.js';

export const USAGE = `usage: loractor check --actors=CONFIG.json

Validates a run config and everything the run needs (model, tokenizer, dataset, MLC artifacts,
benchmarks, memory) without training, and lists every problem found. Exit 0 ready, 1 not ready, 2 usage.`;

export type { CheckReport };

// The lead adds `description` to the root schema; accept it here meanwhile (a no-op once it is there).
const rootWithDescription = rootConfigSchema.extend({
  description: z.string().optional().describe('Free text: what this config reproduces and its quirks.'),
});

export { formatBytes, formatReport };

/** Run every check on one config file. Never throws for a problem with the run; only reports it. */
export async function checkConfig(configFile: string): Promise<CheckReport> {
  const rep: CheckReport = { configFile, problems: [], warnings: [], passed: [], memory: [] };

  // 1. The config itself: JSON, root schema, then each section with its own parser (all of them).
  const json = readConfigJson(configFile, rep);
  if (!json) return rep;
  const { raw } = json;
  checkRootSchema(raw, rep);
  const { model, lora, data, evalSchedule, evalCfg } = parseSections(raw, rep);
  const rc = resolveRun(raw, configFile, rep);
  const grpoRaw = grpoInputOf(raw, rc);

  const configProblems = rep.problems.length;
  if (configProblems === 0) rep.passed.push(`config ${configFile}: valid`);

  // 2. Dataset (before grpo: max_steps -1 needs the number of prompts).
  await checkDataSource(data, configFile, rep);
  const grpo = checkGrpo(grpoRaw, rep);

  // 3. Model folder.
  let qcfg: Qwen2Config | undefined;
  let tok: ModelTokenizer | undefined;
  if (model) ({ cfg: qcfg, tok } = checkModel(model, configFile, data, rep));

  // 4. MLC artifacts (webllm engine) and evaluation benchmark files.
  if (model?.engine === 'webllm') checkMlc(model, configFile, rep);
  if (evalCfg) checkBenchmarks(evalCfg, configFile, rep);

  // 5. Lengths against the context, every dataset row against the prompt limit, memory and time.
  if (qcfg && grpo)
    await checkLengthsAndBudget(
      { configFile, raw, rc, qcfg, tok, grpo, model, lora, data, evalSchedule, evalCfg },
      rep,
    );

  // 6. The learner's device (webgpu: adapter, features, limits, GPU memory).
  await checkLearner(raw, qcfg, lora, grpo, rep);
  return rep;
}

/** Run `f`; a throw becomes a problem "what: message" and the result undefined. */
function attempt<T>(rep: CheckReport, what: string, f: () => T): T | undefined {
  try {
    return f();
  } catch (err) {
    rep.problems.push(`${what}: ${(err as Error).message}`);
    return undefined;
  }
}

/** The config file's JSON (boxed: the file may hold any JSON value), or undefined with the problem. */
function readConfigJson(configFile: string, rep: CheckReport): { raw: Record<string, unknown> } | undefined {
  try {
    return {
      raw: JSON.parse(readFileSync(configFile, 'utf8').replace(/^\uFEFF/, '')) as Record<string, unknown>,
    };
  } catch (err) {
    rep.problems.push(`config ${configFile}: ${(err as Error).message}`);
    return undefined;
  }
}

function checkRootSchema(raw: Record<string, unknown>, rep: CheckReport): void {
  const root = rootWithDescription.safeParse(raw);
  if (!root.success)
    for (const iss of root.error.issues)
      rep.problems.push(
        `config: ${iss.path.join('.') || '(root)'}: ${iss.message}${iss.code === 'unrecognized_keys' ? ` (${(iss as { keys: string[] }).keys.join(', ')})` : ''}`,
      );
}

/** The sections check reads, each from its own parser; undefined where that section has a problem. */
interface ParsedSections {
  model: ModelSection | undefined;
  lora: LoraSection | undefined;
  data: DataSection | undefined;
  evalSchedule: { eval_steps: number; eval_before_training: boolean } | undefined;
  evalCfg: EvalConfig | undefined;
}

function parseSections(raw: Record<string, unknown>, rep: CheckReport): ParsedSections {
  const model = attempt(rep, 'config', () => parseSection(modelSectionSchema, raw.model, 'model')) as
    | ModelSection
    | undefined;
  const lora = attempt(rep, 'config', () => parseSection(loraSectionSchema, raw.lora, 'lora')) as
    | LoraSection
    | undefined;
  const data = attempt(rep, 'config', () => parseSection(dataSectionSchema, raw.data, 'data')) as
    | DataSection
    | undefined;
  const { eval_steps, eval_before_training, ...evalRest } = (raw.eval ?? {}) as Record<string, unknown>;
  const evalSchedule = attempt(rep, 'config', () =>
    parseSection(evalScheduleSchema, { eval_steps, eval_before_training }, 'eval'),
  );
  const evalCfg = attempt(rep, 'config', () => parseEvalConfig({ benchmarks: ['synthetic'], ...evalRest }, 'eval')) as
    | EvalConfig
    | undefined;
  const rewardsCfg = attempt(rep, 'config', () => parseRewardsConfig(raw.rewards)) as
    | ReturnType<typeof parseRewardsConfig>
    | undefined;
  if (rewardsCfg && data) attempt(rep, 'config', () => checkDataForRewards(data, rewardsCfg.reward_funcs));
  return { model, lora, data, evalSchedule, evalCfg };
}

// Then the resolution training does (src/coordinator/run-config.ts: the same defaults, the one-seed
// rule, the actors and faults sections); its problem is listed when the sections above found none.
function resolveRun(raw: Record<string, unknown>, configFile: string, rep: CheckReport): RunConfig | undefined {
  try {
    return resolveRunConfig(raw, { configPath: configFile });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    if (rep.problems.length === 0) rep.problems.push(err.message);
    return undefined;
  }
}

/** The grpo section as training resolves it: the run's one seed, when the run config did not resolve. */
function grpoInputOf(raw: Record<string, unknown>, rc: RunConfig | undefined): unknown {
  const runSeed = rc?.seed ?? (raw.run as { seed?: number } | undefined)?.seed;
  return (
    rc?.grpoInput ?? {
      ...((raw.grpo ?? {}) as object),
      ...(runSeed !== undefined ? { seed: runSeed } : {}),
    }
  );
}

async function checkDataSource(data: DataSection | undefined, configFile: string, rep: CheckReport): Promise<void> {
  if (data?.source === 'dataset') rep.datasetRows = await checkDataset(data, configFile, rep);
  else if (data?.source === 'task')
    attempt(rep, `data.task`, () => {
      getTaskFamily(data.task);
      rep.passed.push(`data: synthetic task '${data.task}'`);
    });
}

/** The grpo schedule, resolved once the dataset's size is known (max_steps -1); undefined otherwise. */
function checkGrpo(grpoRaw: unknown, rep: CheckReport): ResolvedGrpoConfig | undefined {
  const horizonFromData = (grpoRaw as { max_steps?: number }).max_steps === -1;
  let grpo: ResolvedGrpoConfig | undefined;
  if (horizonFromData && rep.datasetRows === undefined) {
    rep.warnings.push(
      'grpo.max_steps is -1 (one pass over the data): the schedule horizon is known once the dataset is readable',
    );
  } else {
    grpo = attempt(rep, 'config', () =>
      resolveGrpoConfig(grpoRaw, rep.datasetRows !== undefined ? { datasetSize: rep.datasetRows } : {}),
    );
  }
  if (grpo) {
    rep.passed.push(
      `grpo: ${grpo.completionsPerStep} completions per step = ${grpo.promptsPerStep} prompts × G ${grpo.config.num_generations}; schedule horizon ${grpo.maxSteps} steps (warmup ${grpo.schedule.warmupSteps}), stop at step ${grpo.stopAtStep}`,
    );
    for (const w of grpo.warnings) rep.warnings.push(`grpo.${w.field}: ${w.message}`);
  }
  return grpo;
}

async function checkLearner(
  raw: Record<string, unknown>,
  qcfg: Qwen2Config | undefined,
  lora: LoraSection | undefined,
  grpo: ResolvedGrpoConfig | undefined,
  rep: CheckReport,
): Promise<void> {
  const learner = attempt(rep, 'config', () => parseSection(learnerSectionSchema, raw.learner, 'learner'));
  if (learner && qcfg && lora && grpo) {
    await checkLearnerDevice(
      learner,
      qcfg,
      { r: lora.lora_r, modules: lora.lora_target_modules as LoraModule[], dropout: lora.lora_dropout },
      grpo,
      rep,
    );
  }
}

export async function run(argv: string[]): Promise<number> {
  let file: string | undefined;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { actors: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
    file = values.actors ?? positionals[0];
  } catch (err) {
    console.error(`loractor check: ${(err as Error).message}`);
    return 2;
  }
  if (!file) {
    console.error('loractor check: missing --actors=CONFIG.json');
    return 2;
  }
  const rep = await checkConfig(file);
  console.log(`loractor check ${file}`);
  console.log(formatReport(rep));
  return rep.problems.length ? 1 : 0;
}

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
// benchmark files in check-benchmarks.ts, the learner's device in check-webgpu.ts, and the report and
// its printing live in check-report.ts.
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
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
import {
  contextLimits,
  estimateRunMemory,
  estimateStepTime,
  formatBytes,
  formatSeconds,
  judgeMemory,
} from '../config/budget.js';
import { measureFlops } from '../config/throughput.js';
import { budgetKnobs } from '../coordinator/setup.js';
import { resolveRunConfig, type RunConfig } from '../coordinator/run-config.js';
import { ConfigError } from '../config/load.js';
import { preparePrompts } from '../coordinator/prompts.js';
import { getTaskFamily } from '../data/tasks/index.js';
import { learnerSectionSchema } from '../rl/learner-config.js';
import { checkLearnerDevice } from './check-webgpu.js';
import type { LoraModule } from '../model/lora.js';
import { formatReport, resolvePath, type CheckReport } from './check-report.js';
import { checkMlc, checkModel } from './check-model.js';
import { checkDataset } from './check-data.js';
import { checkBenchmarks } from './check-benchmarks.js';

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
  const problem = (s: string) => rep.problems.push(s);
  const attempt = <T>(what: string, f: () => T): T | undefined => {
    try {
      return f();
    } catch (err) {
      problem(`${what}: ${(err as Error).message}`);
      return undefined;
    }
  };

  // 1. The config itself: JSON, root schema, then each section with its own parser (all of them).
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(configFile, 'utf8').replace(/^\uFEFF/, '')) as Record<string, unknown>;
  } catch (err) {
    problem(`config ${configFile}: ${(err as Error).message}`);
    return rep;
  }
  const root = rootWithDescription.safeParse(raw);
  if (!root.success)
    for (const iss of root.error.issues)
      problem(
        `config: ${iss.path.join('.') || '(root)'}: ${iss.message}${iss.code === 'unrecognized_keys' ? ` (${(iss as { keys: string[] }).keys.join(', ')})` : ''}`,
      );
  const model = attempt('config', () => parseSection(modelSectionSchema, raw.model, 'model')) as
    | ModelSection
    | undefined;
  const lora = attempt('config', () => parseSection(loraSectionSchema, raw.lora, 'lora')) as LoraSection | undefined;
  const data = attempt('config', () => parseSection(dataSectionSchema, raw.data, 'data')) as DataSection | undefined;
  const { eval_steps, eval_before_training, ...evalRest } = (raw.eval ?? {}) as Record<string, unknown>;
  const evalSchedule = attempt('config', () =>
    parseSection(evalScheduleSchema, { eval_steps, eval_before_training }, 'eval'),
  );
  const evalCfg = attempt('config', () => parseEvalConfig({ benchmarks: ['synthetic'], ...evalRest }, 'eval')) as
    | EvalConfig
    | undefined;
  const rewardsCfg = attempt('config', () => parseRewardsConfig(raw.rewards)) as
    | ReturnType<typeof parseRewardsConfig>
    | undefined;
  if (rewardsCfg && data) attempt('config', () => checkDataForRewards(data, rewardsCfg.reward_funcs));
  // Then the resolution training does (src/coordinator/run-config.ts: the same defaults, the one-seed
  // rule, the actors and faults sections); its problem is listed when the sections above found none.
  let rc: RunConfig | undefined;
  try {
    rc = resolveRunConfig(raw, { configPath: configFile });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    if (rep.problems.length === 0) problem(err.message);
  }
  const runSeed = rc?.seed ?? (raw.run as { seed?: number } | undefined)?.seed;
  const grpoRaw = rc?.grpoInput ?? {
    ...((raw.grpo ?? {}) as object),
    ...(runSeed !== undefined ? { seed: runSeed } : {}),
  };

  const configProblems = rep.problems.length;
  if (configProblems === 0) rep.passed.push(`config ${configFile}: valid`);

  // 2. Dataset (before grpo: max_steps -1 needs the number of prompts).
  if (data?.source === 'dataset') rep.datasetRows = await checkDataset(data, configFile, rep);
  else if (data?.source === 'task')
    attempt(`data.task`, () => {
      getTaskFamily(data.task);
      rep.passed.push(`data: synthetic task '${data.task}'`);
    });
  const horizonFromData = (grpoRaw as { max_steps?: number }).max_steps === -1;
  let grpo: ResolvedGrpoConfig | undefined;
  if (horizonFromData && rep.datasetRows === undefined) {
    rep.warnings.push(
      'grpo.max_steps is -1 (one pass over the data): the schedule horizon is known once the dataset is readable',
    );
  } else {
    grpo = attempt('config', () =>
      resolveGrpoConfig(grpoRaw, rep.datasetRows !== undefined ? { datasetSize: rep.datasetRows } : {}),
    );
  }
  if (grpo) {
    rep.passed.push(
      `grpo: ${grpo.completionsPerStep} completions per step = ${grpo.promptsPerStep} prompts × G ${grpo.config.num_generations}; schedule horizon ${grpo.maxSteps} steps (warmup ${grpo.schedule.warmupSteps}), stop at step ${grpo.stopAtStep}`,
    );
    for (const w of grpo.warnings) rep.warnings.push(`grpo.${w.field}: ${w.message}`);
  }

  // 3. Model folder.
  let qcfg: Qwen2Config | undefined;
  let tok: ModelTokenizer | undefined;
  if (model) ({ cfg: qcfg, tok } = checkModel(model, configFile, data, rep));

  // 4. MLC artifacts (webllm engine) and evaluation benchmark files.
  if (model?.engine === 'webllm') checkMlc(model, configFile, rep);
  if (evalCfg) checkBenchmarks(evalCfg, configFile, rep);

  // 5. Lengths against the context, every dataset row against the prompt limit, memory and time.
  const grpoCfg = grpo?.config;
  if (qcfg && grpoCfg) {
    const evalOn = evalSchedule !== undefined && (evalSchedule.eval_steps > 0 || evalSchedule.eval_before_training);
    const ctx = contextLimits(qcfg, grpoCfg, evalOn && evalCfg ? evalCfg.max_new_tokens : undefined);
    rep.problems.push(...ctx.problems);
    rep.warnings.push(...ctx.warnings);
    if (data?.source === 'dataset' && tok && !ctx.problems.length) {
      try {
        const prepared = await preparePrompts({ ...data, path: resolvePath(data.path, configFile) }, tok, {
          maxPromptTokens: ctx.promptTokens,
          limitField: ctx.limitField,
        });
        for (const n of prepared.report.notes) rep.warnings.push(n.replace(/^data: (warning: )?/, 'data: '));
        if (!prepared.report.overlong)
          rep.passed.push(`data: every row fits the prompt limit of ${ctx.promptTokens} tokens (${ctx.limitField})`);
      } catch (err) {
        rep.problems.push(`data: ${(err as Error).message}`);
      }
    }
    if (lora && model) {
      const loraSettings = {
        r: lora.lora_r,
        alpha: lora.lora_alpha,
        dropout: lora.lora_dropout,
        targetModules: [...lora.lora_target_modules],
      };
      const learnerParsed = learnerSectionSchema.safeParse(raw.learner); // its errors are reported in step 6
      const knobs = budgetKnobs(
        qcfg,
        loraSettings,
        grpoCfg,
        model,
        rc?.run ?? ((raw.run ?? {}) as { learner_recovery?: boolean }),
        ctx.promptTokens,
        evalOn ? evalCfg : undefined,
        evalSchedule?.eval_steps ?? 0,
        learnerParsed.success ? learnerParsed.data : undefined,
      );
      const items = estimateRunMemory(knobs);
      rep.memory.push(...items.map((i) => ({ item: i.item, bytes: i.bytes })));
      const verdict = judgeMemory(items, totalmem());
      rep.memory.push({ item: 'total (estimate, upper bound)', bytes: verdict.total });
      if (verdict.problem) rep.problems.push(verdict.problem);
      if (verdict.warning) rep.warnings.push(verdict.warning);
      // The rollout engine's GPU lines (model.engine webgpu) with the GPU learner's, against the GPU's
      // memory when the config states it (the learner-only check of step 6 also asks nvidia-smi).
      const gpuTotal = items.filter((i) => i.device === 'gpu').reduce((a, i) => a + i.bytes, 0);
      if (knobs.engine === 'webgpu') {
        rep.memory.push({ item: 'GPU total (estimate, upper bound)', bytes: gpuTotal });
        const gib = learnerParsed.success ? learnerParsed.data.gpu_memory_gib : null;
        if (gib === null)
          rep.warnings.push(
            `memory: the run needs about ${formatBytes(gpuTotal)} of GPU memory; WebGPU does not report the GPU's, so set learner.gpu_memory_gib to check it`,
          );
        else {
          const g = judgeMemory(items, gib * 2 ** 30, 'gpu');
          if (g.problem) rep.problems.push(`${g.problem} (learner.gpu_memory_gib ${gib})`);
          else if (g.warning) rep.warnings.push(g.warning);
          else
            rep.passed.push(
              `memory: the run needs about ${formatBytes(gpuTotal)} of the GPU's ${formatBytes(gib * 2 ** 30)}`,
            );
        }
      }
      const t = estimateStepTime(knobs, measureFlops());
      const steps = grpo!.stopAtStep;
      rep.time = `about ${formatSeconds(t.stepS)} per step (rollout ${formatSeconds(t.rolloutS)}, learner ${formatSeconds(t.learnerS)}${knobs.eval ? `, each evaluation ${formatSeconds(t.evalS)}` : ''}), ${formatSeconds(t.stepS * steps)} for ${steps} steps (from the FLOPs at this machine's measured matmul speed, every completion at full length: a rough figure, since small decode batches and thread hand-offs run below that speed)`;
    }
  }

  // 6. The learner's device (webgpu: adapter, features, limits, GPU memory).
  const learner = attempt('config', () => parseSection(learnerSectionSchema, raw.learner, 'learner'));
  if (learner && qcfg && lora && grpo) {
    await checkLearnerDevice(
      learner,
      qcfg,
      { r: lora.lora_r, modules: lora.lora_target_modules as LoraModule[], dropout: lora.lora_dropout },
      grpo,
      rep,
    );
  }
  return rep;
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

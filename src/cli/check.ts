// `loractor check --actors=CONFIG`: is this run ready to start? Validates the config, then looks at
// everything the run will need, without starting it: the model folder (Qwen2 config.json, complete
// safetensors with the right shapes/dtypes, tokenizer that fits the vocabulary, a chat template that
// renders), the dataset (exists, has the columns Tina's mapping needs), MLC artifacts for the webllm
// engine, evaluation benchmark files, the lengths against the model's context, and the memory and time
// the run needs (src/config/budget.ts; a run that cannot fit in memory is NOT READY, naming the knobs
// to change — training applies the same check). It reports EVERY problem found, not just the first,
// so a user fixes the whole list in one go. Relative paths in the config resolve against its folder.
// Exit 0 = ready, 1 = not ready, 2 = usage error.
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { parquetMetadata, parquetSchema } from 'hyparquet';
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
import { getBenchmark } from '../eval/benchmarks.js';
import { readQwen2Config, type Qwen2Config } from '../model/config.js';
import { readSafetensorsHeader, type SafetensorsEntry } from '../model/safetensors.js';
import { weightSpecs } from '../model/weights.js';
import { loadTokenizer, type ModelTokenizer } from '../model/tokenizer.js';
import {
  contextLimits,
  estimateRunMemory,
  estimateStepTime,
  formatBytes,
  formatSeconds,
  judgeMemory,
} from '../config/budget.js';
import { measureFlops } from '../config/throughput.js';
import { resolveConfigPath } from '../config/paths.js';
import { budgetKnobs } from '../coordinator/setup.js';
import { resolveRunConfig, type RunConfig } from '../coordinator/run-config.js';
import { ConfigError } from '../config/load.js';
import { preparePrompts } from '../coordinator/prompts.js';
import { datasetFiles } from '../data/hf-dataset.js';
import { mapTinaRow } from '../data/tina-columns.js';
import { buildTinaPrompt, REASON_CHAT_TEMPLATE, SYSTEM_PROMPTS, systemPromptFor } from '../data/prompts.js';
import { getTaskFamily } from '../data/tasks/index.js';
import { loadMlcArtifacts } from '../engines/webllm/mlc-artifacts.js';
import { benchmarksDir } from '../util/paths.js';
import { learnerSectionSchema } from '../rl/learner-config.js';
import { checkLearnerDevice } from './check-webgpu.js';
import type { LoraModule } from '../model/lora.js';

export const USAGE = `usage: loractor check --actors=CONFIG.json

Validates a run config and everything the run needs (model, tokenizer, dataset, MLC artifacts,
benchmarks, memory) without training, and lists every problem found. Exit 0 ready, 1 not ready, 2 usage.`;

/** What check found; `problems` empty = ready. */
export interface CheckReport {
  configFile: string;
  problems: string[];
  warnings: string[];
  /** Lines of progress ("ok ..."), in order. */
  passed: string[];
  memory: { item: string; bytes: number }[];
  /** The time estimate, one line. */
  time?: string;
  datasetRows?: number;
}

// The lead adds `description` to the root schema; accept it here meanwhile (a no-op once it is there).
const rootWithDescription = rootConfigSchema.extend({
  description: z.string().optional().describe('Free text: what this config reproduces and its quirks.'),
});

/** Same rule as the coordinator: a relative path in the config resolves against the config's folder. */
function resolvePath(p: string, configFile: string): string {
  return resolveConfigPath(p, configFile);
}

export { formatBytes };

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

function checkModel(
  model: ModelSection,
  configFile: string,
  data: DataSection | undefined,
  rep: CheckReport,
): { cfg?: Qwen2Config; tok?: ModelTokenizer } {
  const dir = resolvePath(model.path, configFile);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    rep.problems.push(
      `model.path: folder ${dir} does not exist (expected a Hugging Face model folder: config.json, model.safetensors, tokenizer.json, tokenizer_config.json)`,
    );
    return {};
  }
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json'])
    if (!existsSync(join(dir, f))) rep.problems.push(`model: missing ${join(dir, f)}`);
  let cfg: Qwen2Config | undefined;
  if (existsSync(join(dir, 'config.json'))) {
    try {
      cfg = readQwen2Config(join(dir, 'config.json'));
      rep.passed.push(
        `model: config.json is Qwen2 (${cfg.numLayers} layers, hidden ${cfg.hiddenSize}, vocab ${cfg.vocabSize})`,
      );
    } catch (err) {
      rep.problems.push(`model: ${(err as Error).message}`);
    }
  }
  if (cfg) checkWeights(dir, cfg, rep);
  let tok: ModelTokenizer | undefined;
  if (existsSync(join(dir, 'tokenizer.json'))) {
    try {
      tok = loadTokenizer(dir, cfg);
      rep.passed.push(`model: tokenizer loads (${tok.size} ids${cfg ? `, fits vocab ${cfg.vocabSize}` : ''})`);
      if (tok.eosTokenId === null)
        rep.problems.push(
          `model: ${join(dir, 'tokenizer_config.json')} has no eos_token (generation could never stop)`,
        );
      if (tok.chatTemplate === null)
        rep.problems.push(
          `model: no chat template (tokenizer_config.json field "chat_template" or chat_template.jinja)`,
        );
      else {
        const text = tok.applyChatTemplate([{ role: 'user', content: 'What is 1 + 1?' }], {
          addGenerationPrompt: true,
        });
        if (!text.includes('What is 1 + 1?'))
          rep.problems.push('model: the chat template renders without the user message');
        else rep.passed.push('model: chat template renders');
      }
      if (data?.source === 'dataset') {
        // Tina replaces the chat template with REASON_CHAT_TEMPLATE and uses the model's bos token.
        const sys =
          data.system_prompt_text ??
          (data.system_prompt === 'none'
            ? ''
            : data.system_prompt === 'auto'
              ? systemPromptFor(data.dataset_id ?? data.path)
              : SYSTEM_PROMPTS[data.system_prompt]);
        const prompt = buildTinaPrompt('What is 1 + 1?', sys, REASON_CHAT_TEMPLATE, { bosToken: tok.bosToken ?? '' });
        const n = tok.encode(prompt).length;
        rep.passed.push(`data: Tina prompt (REASON_CHAT_TEMPLATE + system prompt) renders to ${n} tokens`);
      }
    } catch (err) {
      rep.problems.push(`model: ${(err as Error).message}`);
    }
  }
  return { ...(cfg ? { cfg } : {}), ...(tok ? { tok } : {}) };
}

/** Headers of model.safetensors or of every shard named in model.safetensors.index.json. */
function checkWeights(dir: string, cfg: Qwen2Config, rep: CheckReport): void {
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  const entries = new Map<string, SafetensorsEntry & { file: string }>();
  const files: string[] = [];
  if (existsSync(single)) files.push(single);
  else if (existsSync(index)) {
    try {
      const map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: Record<string, string> }).weight_map;
      if (!map || typeof map !== 'object') throw new Error('field "weight_map" is missing');
      for (const f of new Set(Object.values(map))) {
        if (existsSync(join(dir, f))) files.push(join(dir, f));
        else rep.problems.push(`model: shard ${join(dir, f)} (listed in ${index}) is missing`);
      }
    } catch (err) {
      rep.problems.push(`model: ${index}: ${(err as Error).message}`);
      return;
    }
  } else {
    rep.problems.push(`model: no weights: neither ${single} nor ${index}`);
    return;
  }
  for (const f of files) {
    try {
      for (const e of readSafetensorsHeader(f).entries.values()) entries.set(e.name, { ...e, file: f });
    } catch (err) {
      rep.problems.push(`model: ${(err as Error).message}`);
    }
  }
  const missing: string[] = [];
  let bad = 0;
  const dtypes = new Set<string>();
  for (const spec of weightSpecs(cfg)) {
    const e = entries.get(spec.name);
    if (!e) {
      missing.push(spec.name);
      continue;
    }
    dtypes.add(e.dtype);
    if (e.shape.join(',') !== spec.shape.join(',')) {
      bad++;
      rep.problems.push(
        `model: ${e.file}: tensor "${spec.name}" has shape [${e.shape}], config.json implies [${spec.shape}]`,
      );
    }
  }
  if (missing.length)
    rep.problems.push(
      `model: ${missing.length} tensor(s) missing from the weights: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? `, … (${missing.length - 5} more)` : ''}`,
    );
  if (!missing.length && !bad && files.length)
    rep.passed.push(
      `model: weights complete (${weightSpecs(cfg).length} tensors, ${[...dtypes].join('/')}, ${files.length} file${files.length > 1 ? 's' : ''})`,
    );
}

/** Column names of a data file without reading it all (Parquet footer, first JSONL line, or the JSON array). */
function sampleColumns(file: string): { columns: string[]; row?: Record<string, unknown>; rows?: number } {
  if (/\.parquet$/i.test(file)) {
    const fd = openSync(file, 'r');
    try {
      const size = fstatSync(fd).size;
      const tail = Buffer.alloc(8);
      if (size < 12) throw new Error(`${file}: not a Parquet file (${size} bytes)`);
      readSync(fd, tail, 0, 8, size - 8);
      const metaLen = tail.readUInt32LE(0);
      if (tail.toString('latin1', 4) !== 'PAR1' || metaLen + 8 > size)
        throw new Error(`${file}: not a Parquet file (bad footer)`);
      const buf = Buffer.alloc(metaLen + 8);
      readSync(fd, buf, 0, metaLen + 8, size - metaLen - 8);
      const meta = parquetMetadata(new Uint8Array(buf));
      return { columns: parquetSchema(meta).children.map((c) => c.element.name), rows: Number(meta.num_rows) };
    } finally {
      closeSync(fd);
    }
  }
  const text = readFileSync(file, 'utf8');
  if (/\.json$/i.test(file) && text.trimStart().startsWith('[')) {
    const arr = JSON.parse(text) as Record<string, unknown>[];
    return { columns: Object.keys(arr[0] ?? {}), row: arr[0], rows: arr.length };
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (!lines.length) throw new Error(`${file}: no rows`);
  let row: Record<string, unknown>;
  try {
    row = JSON.parse(lines[0]!) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${file}:1: invalid JSON (${(err as Error).message})`);
  }
  return { columns: Object.keys(row), row, rows: lines.length };
}

async function checkDataset(
  data: Extract<DataSection, { source: 'dataset' }>,
  configFile: string,
  rep: CheckReport,
): Promise<number | undefined> {
  const path = resolvePath(data.path, configFile);
  const id = data.dataset_id ?? data.path;
  let files: string[];
  try {
    files = datasetFiles(path);
  } catch (err) {
    rep.problems.push(
      `data.path: ${(err as Error).message} (expected a local copy of the Hugging Face dataset ${id}: a .jsonl/.parquet file, or its folder with e.g. data/train-00000-of-00001.parquet)`,
    );
    return undefined;
  }
  let rows = 0;
  for (const f of files) {
    try {
      const s = sampleColumns(f);
      rows += s.rows ?? 0;
      // Tina's mapping on a sample row names what is missing; for Parquet (no row read) a stand-in
      // row with the file's column names and string values.
      mapTinaRow(s.row ?? Object.fromEntries(s.columns.map((c) => [c, 'x'])), id, 0, {
        mapping: data.column_mapping,
        promptColumn: data.prompt_column,
      });
    } catch (err) {
      rep.problems.push(`data: ${f}: ${(err as Error).message}`);
      return undefined;
    }
  }
  rep.passed.push(`data: ${files.length} file(s), ${rows} rows, Tina columns present (${id})`);
  return rows;
}

function checkMlc(model: ModelSection, configFile: string, rep: CheckReport): void {
  if (!model.mlc_dir)
    rep.problems.push('model.mlc_dir: required by engine "webllm" (the folder tools/convert-to-mlc writes)');
  if (!model.mlc_lib)
    rep.problems.push('model.mlc_lib: required by engine "webllm" (the compiled model library, .wasm)');
  if (!model.mlc_dir || !model.mlc_lib) return;
  const dir = resolvePath(model.mlc_dir, configFile);
  const lib = resolvePath(model.mlc_lib, configFile);
  let complete = true;
  for (const f of [join(dir, 'mlc-chat-config.json'), join(dir, 'ndarray-cache.json'), lib]) {
    if (!existsSync(f)) {
      rep.problems.push(`model: MLC artifact ${f} is missing`);
      complete = false;
    }
  }
  if (!complete) return;
  try {
    loadMlcArtifacts(dir, lib);
    rep.passed.push(`model: MLC artifacts in ${dir} match ${lib}`);
  } catch (err) {
    rep.problems.push(`model: ${(err as Error).message}`);
  }
}

function checkBenchmarks(cfg: EvalConfig, configFile: string, rep: CheckReport): void {
  const found: string[] = [];
  for (const name of cfg.benchmarks) {
    let def;
    try {
      def = getBenchmark(name);
    } catch (err) {
      rep.problems.push(`eval.benchmarks: ${(err as Error).message}`);
      continue;
    }
    if (def.name === 'synthetic') {
      found.push(name);
      continue;
    }
    const override = cfg.benchmark_paths[name];
    const file = override
      ? resolvePath(override, configFile)
      : def.file
        ? join(
            cfg.benchmarks_dir !== undefined ? resolvePath(cfg.benchmarks_dir, configFile) : benchmarksDir(),
            def.file,
          )
        : null;
    if (file === null)
      rep.problems.push(`eval.benchmark_paths.${name}: benchmark '${name}' ships no file; give the path of your copy`);
    else if (!existsSync(file))
      rep.problems.push(
        `eval: benchmark '${name}' file ${file} does not exist${override ? ` (eval.benchmark_paths.${name})` : ''}`,
      );
    else found.push(name);
  }
  if (found.length) rep.passed.push(`eval: benchmark files present for ${found.join(', ')}`);
}

export function formatReport(rep: CheckReport): string {
  const out: string[] = [];
  for (const p of rep.passed) out.push(`  ok   ${p}`);
  if (rep.memory.length) {
    out.push('', '  memory needs:');
    const w = Math.max(...rep.memory.map((m) => m.item.length));
    for (const m of rep.memory) out.push(`    ${m.item.padEnd(w)}  ${formatBytes(m.bytes).padStart(11)}`);
  }
  if (rep.time) out.push('', `  time: ${rep.time}`);
  for (const wn of rep.warnings) out.push(`  warn ${wn}`);
  if (rep.problems.length) {
    out.push('', `NOT READY: ${rep.problems.length} problem(s):`);
    for (const p of rep.problems) out.push(`  - ${p}`);
  } else out.push('', `READY: ${rep.configFile}`);
  return out.join('\n');
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

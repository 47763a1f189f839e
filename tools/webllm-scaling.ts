// WebLLM scaled out: N rollout actors (model.rollout_actors with engine webllm), each its own worker
// thread with its own WebLLM engine and Dawn device on the same GPU, generating one request split
// across them the way the coordinator splits a step's prompts. Aggregate tokens/s against N.
// Weights: the synthetic checkpoint of the WebLLM tests in the shape the library was compiled for,
// converted to its storage (tools/convert-to-mlc/synthetic.ts); needs a compiled library (q0f32, q0f16
// or q4f16_1; LORACTOR_MLC_LIB, docs/webllm.md). bench-gpu-rollout runs it; it also runs alone:
//   node dist/tools/webllm-scaling.js --lib FILE.wasm [--actors 1,2,4,8] [--sequences 16] [--tokens 64] [--cache DIR] [--out FILE]
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { ActorSystem } from '../src/runtime/actor-system.js';
import { WeightStore } from '../src/runtime/weight-store.js';
import { loadModel } from '../src/model/load.js';
import { describeModel } from '../src/model/weights.js';
import { createLoraLayout } from '../src/model/lora.js';
import { TrainingProtocols, type GenerateReply } from '../protocols/training.js';
import { int32View } from '../protocols/shared-tensor.js';
import { syntheticText } from '../src/engines/webllm/synthetic-checkpoint.js';
import { syntheticMlcModelFor } from './convert-to-mlc/synthetic.js';
import { packageActor } from '../src/runtime/modules.js';
import { isMainScript, scriptOptions, UsageError } from '../src/cli/standard-flags.js';

export interface WebLlmScalingRow {
  actors: number;
  sequences: number;
  tokens: number;
  /** Start of the N workers (WebLLM load, shader compilation) in seconds. */
  startS: number;
  wallS: number;
  tokensPerS: number;
  /** Aggregate ÷ one actor's. */
  speedup: number;
  /** Peak resident memory of the whole process (every worker, Dawn's allocations) while N actors ran, MiB. */
  rssMiB: number;
  /** (peak − resident memory before the actors started) ÷ N, MiB: one actor's engine, weights and device. */
  rssPerActorMiB: number;
  error?: string;
}

export interface WebLlmScalingOptions {
  lib: string;
  cache: string;
  actors: number[];
  /** Sequences per measurement (split across the actors). */
  sequences: number;
  tokens: number;
  log?: (line: string) => void;
}

type Reply = GenerateReply;

/** What every measurement runs on: the checkpoint (HF and MLC forms), its model and the adapter's LoRA settings. */
interface ScalingModel {
  hf: string;
  mlcDir: string;
  model: ReturnType<typeof loadModel>;
  lora: { r: number; alpha: number; dropout: number; targetModules: string[] };
  layoutSize: number;
}

function prepareModel(o: WebLlmScalingOptions): ScalingModel {
  const { hf, mlcDir } = syntheticMlcModelFor(o.lib, o.cache);
  const model = loadModel(hf);
  const lora = {
    r: 32,
    alpha: 128,
    dropout: 0,
    targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  };
  return { hf, mlcDir, model, lora, layoutSize: createLoraLayout(model.config, lora).size };
}

/** N rollout actors with engine webllm, each its own worker thread, reading adapters from store. */
function startRolloutActors(
  m: ScalingModel,
  o: WebLlmScalingOptions,
  names: string[],
  store: WeightStore,
): Promise<ActorSystem> {
  return ActorSystem.start(
    Object.fromEntries(
      names.map((name) => [
        name,
        {
          module: packageActor('rollout'),
          retries: 0,
          config: {
            model: describeModel(m.model),
            tokenizerDir: m.hf,
            store: store.describe(),
            lora: m.lora,
            readerName: name,
            engine: 'webllm',
            webllm: { mlcDir: m.mlcDir, libFile: o.lib, contextWindow: 64 + o.tokens },
          },
        },
      ]),
    ),
  );
}

type ScalingPrompt = { ids: number[]; text: string; promptIndex: number };

function scalingPrompts(sequences: number): ScalingPrompt[] {
  return Array.from({ length: sequences }, (_, i) => {
    const ids = [1 + (i % 50), 2 + (i % 50), 3, 4];
    return { ids, text: syntheticText(Int32Array.from(ids)), promptIndex: i };
  });
}

function askGenerate(system: ActorSystem, name: string, part: ScalingPrompt[], maxTokens: number): Promise<Reply> {
  return system.ask<Reply>(
    name,
    'generate',
    {
      step: 1,
      prompts: part,
      n: 1,
      sampling: { temperature: 1, top_p: 1, top_k: 0, max_tokens: maxTokens, seed: 7 },
      minPolicyVersion: 0,
    },
    { protocol: TrainingProtocols.GenerateRequest },
  );
}

/** The row fields of one measurement with n actors on a started system: start time, tokens, wall time. */
async function measureActors(system: ActorSystem, names: string[], o: WebLlmScalingOptions, t0: number) {
  const n = names.length;
  const prompts = scalingPrompts(o.sequences);
  // Warm-up: every worker loads its engine and compiles its shaders.
  await Promise.all(names.map((name) => askGenerate(system, name, prompts.slice(0, 1), 1)));
  const startS = (performance.now() - t0) / 1000;
  const g0 = performance.now();
  const replies = await Promise.all(
    names.map((name, a) =>
      askGenerate(
        system,
        name,
        prompts.filter((_, i) => i % n === a),
        o.tokens,
      ),
    ),
  );
  const wallS = (performance.now() - g0) / 1000;
  const tokens = replies.reduce((s, r) => s + r.completions.reduce((x, c) => x + int32View(c.tokenIds).length, 0), 0);
  return { tokens, startS, wallS, tokensPerS: tokens / wallS };
}

/** One row: n actors started, warmed up and timed on one request split across them (an error is a row too). */
async function benchActorCount(
  m: ScalingModel,
  o: WebLlmScalingOptions,
  n: number,
  first: WebLlmScalingRow | undefined,
): Promise<WebLlmScalingRow> {
  const store = WeightStore.create(m.layoutSize);
  const rss = sampleRss();
  const t0 = performance.now();
  const names = Array.from({ length: n }, (_, i) => `rollout-${i}`);
  let system: ActorSystem | null = null;
  try {
    system = await startRolloutActors(m, o, names, store);
    const { tokens, startS, wallS, tokensPerS } = await measureActors(system, names, o, t0);
    const row: WebLlmScalingRow = {
      actors: n,
      sequences: o.sequences,
      tokens,
      startS,
      wallS,
      tokensPerS,
      speedup: first ? tokensPerS / first.tokensPerS : 1,
      ...rss.stop(n),
    };
    o.log?.(
      `webllm ${n} actor(s): ${tokensPerS.toFixed(3)} tokens/s (${tokens} tokens in ${wallS.toFixed(1)} s; start ${startS.toFixed(1)} s; peak RSS ${row.rssMiB.toFixed(0)} MiB)`,
    );
    return row;
  } catch (e) {
    const row = failedRow(n, o.sequences, rss.stop(n), e as Error);
    o.log?.(`webllm ${n} actor(s): ${(e as Error).message}`);
    return row;
  } finally {
    await system?.shutdown({ drain: false });
  }
}

function failedRow(
  actors: number,
  sequences: number,
  rss: { rssMiB: number; rssPerActorMiB: number },
  e: Error,
): WebLlmScalingRow {
  return {
    actors,
    sequences,
    tokens: 0,
    startS: 0,
    wallS: 0,
    tokensPerS: 0,
    speedup: 0,
    ...rss,
    error: e.message,
  };
}

export async function benchWebLlmScaling(o: WebLlmScalingOptions): Promise<WebLlmScalingRow[]> {
  const m = prepareModel(o);
  const rows: WebLlmScalingRow[] = [];
  for (const n of o.actors) rows.push(await benchActorCount(m, o, n, rows[0]));
  return rows;
}

/** Peak process RSS from now until stop(), sampled every 500 ms, against the RSS at the start. */
function sampleRss(): { stop(actors: number): { rssMiB: number; rssPerActorMiB: number } } {
  const before = process.memoryUsage.rss();
  let peak = before;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 500);
  timer.unref();
  return {
    stop(actors) {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage.rss());
      return { rssMiB: peak / 2 ** 20, rssPerActorMiB: (peak - before) / 2 ** 20 / actors };
    },
  };
}

/** The rows as a Markdown table (absolute figures are the adapter's: SwiftShader's say nothing of a GPU). */
export function formatWebLlmScaling(rows: WebLlmScalingRow[]): string {
  const lines = [
    '| actors | sequences | tokens | start s | wall s | tokens/s | speedup | peak RSS MiB | RSS/actor MiB |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(
      r.error
        ? `| ${r.actors} | ${r.sequences} | failed: ${r.error} | | | | | ${r.rssMiB.toFixed(0)} | |`
        : `| ${r.actors} | ${r.sequences} | ${r.tokens} | ${r.startS.toFixed(1)} | ${r.wallS.toFixed(1)} | ${r.tokensPerS.toFixed(4)} | ${r.speedup.toFixed(2)} | ${r.rssMiB.toFixed(0)} | ${r.rssPerActorMiB.toFixed(0)} |`,
    );
  }
  return lines.join('\n');
}

const USAGE = `usage: node dist/tools/webllm-scaling.js --lib FILE.wasm [--actors 1,2,4,8] [--sequences N] [--tokens N] [--cache DIR] [--out FILE]
  WebLLM's aggregate tokens/s against the number of rollout actors (each its own thread, engine and device),
  on a synthetic checkpoint in the library's shape (a q0f32, q0f16 or q4f16_1 library: --lib or
  LORACTOR_MLC_LIB). The table goes to stderr; the rows as JSON to stdout, and to --out FILE when given.`;

if (isMainScript(import.meta.url)) {
  const { values: v } = scriptOptions({
    name: 'webllm-scaling',
    help: USAGE,
    options: {
      lib: { type: 'string' },
      actors: { type: 'string', default: '1,2,4,8' },
      sequences: { type: 'string', default: '16' },
      tokens: { type: 'string', default: '64' },
      cache: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const lib = v.lib ?? process.env.LORACTOR_MLC_LIB;
  if (!lib) throw new UsageError('--lib (or LORACTOR_MLC_LIB) is required: the compiled WebLLM model library');
  const positive = (s: string, field: string): number => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`${field}: expected a positive integer, got '${s}'`);
    return n;
  };
  const rows = await benchWebLlmScaling({
    lib,
    cache: v.cache ?? join(tmpdir(), 'loractor-webllm-cache'),
    actors: v.actors!.split(',').map((x) => positive(x, '--actors')),
    sequences: positive(v.sequences!, '--sequences'),
    tokens: positive(v.tokens!, '--tokens'),
    log: (l) => console.error(l),
  });
  console.error(formatWebLlmScaling(rows));
  const json = JSON.stringify({ time: new Date().toISOString(), lib, rows }, null, 2) + '\n';
  if (v.out) {
    const out = resolve(v.out);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, json);
    console.error(`wrote ${out}`);
  }
  console.log(json.trimEnd());
}

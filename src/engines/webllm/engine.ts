// GenerationEngine on WebLLM (@mlc-ai/web-llm 0.2.79) running on WebGPU in Node (Dawn via the
// `webgpu` package). Runs on the thread that creates it (the rollout worker). Local MLC artifacts
// only: they are served on 127.0.0.1 to web-llm, never fetched from the network.
//
// web-llm has no batching: n completions per prompt are a sequential loop, each seeded from
// sampling.seed, the prompt index and the sample index. Token ids come from the pipeline's
// outputIds (exact, not re-tokenized strings); log-probs are web-llm's logprobs, i.e.
// log-softmax(logits / T) over the whole vocabulary (top_p affects sampling, not the reported value).
import type { AdapterSnapshot } from '../../model/adapter-layout.js';
import { Rng } from '../../util/rng.js';
import type { Completion, FinishReason, GenerationEngine, PromptInput, SamplingParams } from '../types.js';
import { serveMlcArtifacts, type ArtifactServer } from './artifact-server.js';
import { loadMlcArtifacts, type MlcArtifacts } from './mlc-artifacts.js';
import { clearArtifactCaches, importWebLlm, missingShaderF16 } from './node-env.js';
import {
  checkWebLlmInternals,
  checkWebLlmModule,
  detokenize,
  lastOutputIds,
  stopTokenIds,
  tokenize,
  type Pipeline,
} from './private-access.js';
import { applyAdapter, createWeightSync, type SyncStats, type WeightSyncState } from './weight-sync.js';
import { createSerialQueue, type SerialQueue } from '../../util/serial.js';

export interface WebLlmEngineOptions {
  /** Folder with mlc-chat-config.json, ndarray-cache.json, params_shard_*.bin, tokenizer.json. */
  mlcDir: string;
  /** The compiled model library (*.wasm) matching web-llm 0.2.79 (v0_2_48 libs). */
  libFile: string;
  /** KV cache length (default: the artifacts' context_window_size). Smaller saves GPU memory. */
  contextWindow?: number;
  /** Warnings (f16 sync, ...); default console.warn. */
  warn?: (msg: string) => void;
}

export interface WebLlmGenerationStats {
  completions: number;
  completionTokens: number;
  /** Mean time to first token (prefill) per completion, seconds. */
  meanTimeToFirstTokenS: number;
  /** Decode tokens per second over all completions (excluding prefill). */
  decodeTokensPerS: number;
  /** All generated tokens / wall time of generate(). */
  tokensPerS: number;
}

export interface WebLlmEngine extends GenerationEngine {
  readonly artifacts: MlcArtifacts;
  readonly loadSeconds: number;
  lastSyncStats: SyncStats | null;
  lastGenerationStats: WebLlmGenerationStats | null;
  /** KV cache length in tokens: prompt + completion must fit. */
  readonly contextWindow: number;
  /** Why the engine can no longer serve (a failed sync that could not be rolled back), or null. */
  readonly unusable: string | null;
  /** Test hook: corrupt the named MLC tensor on the GPU right after the next sync writes it. */
  injectWriteFault(mlcTensorName: string): void;
}

const MODEL_ID = 'loractor-mlc';

/** Per-completion seed derived from sampling.seed (web-llm takes an integer seed per request). */
export function completionSeed(seed: number, promptIndex: number, sampleIndex: number): number {
  return Rng.derive(seed, 'webllm', promptIndex, sampleIndex).nextU32() & 0x7fffffff;
}

type WebLlmModule = Awaited<ReturnType<typeof importWebLlm>>;
type MLCEngine = Awaited<ReturnType<WebLlmModule['CreateMLCEngine']>>;

/** What completionFinish reads of a web-llm completion choice. */
interface CompletionChoice {
  finish_reason: string | null;
  logprobs?: { content?: { token: string }[] | null } | null;
}

/** The loaded web-llm engine, and its pipeline (the internals the sync and token ids go through). */
interface LoadedWebLlm {
  mlc: MLCEngine;
  pipeline: Pipeline;
  loadSeconds: number;
}

/**
 * What the engine's parts share, built once by createWebLlmEngine: the loaded engine, the weight sync,
 * the queue its calls run on and the adapter version last applied.
 */
interface WebLlmState {
  mlc: MLCEngine;
  pipeline: Pipeline;
  sync: WeightSyncState;
  /** KV cache length in tokens (0: unknown, prompts are not checked against it). */
  contextWindow: number;
  version: number;
  closed: boolean;
  /** generate and setAdapter calls, one at a time. */
  calls: SerialQueue;
}

export async function createWebLlmEngine(opts: WebLlmEngineOptions): Promise<WebLlmEngine> {
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  const artifacts = loadMlcArtifacts(opts.mlcDir, opts.libFile); // clear errors before any GPU work
  const { mlc, pipeline, loadSeconds } = await loadWebLlm(opts, artifacts);
  const st: WebLlmState = {
    mlc,
    pipeline,
    sync: createWeightSync(artifacts, pipeline, warn),
    contextWindow: opts.contextWindow ?? Number(artifacts.chatConfig.context_window_size ?? 0),
    version: 0,
    closed: false,
    calls: createSerialQueue(),
  };
  const engine: WebLlmEngine = {
    name: 'webllm',
    artifacts,
    loadSeconds,
    lastSyncStats: null,
    lastGenerationStats: null,
    contextWindow: st.contextWindow,
    get unusable() {
      return st.sync.broken;
    },
    get policyVersion() {
      return st.version;
    },
    generate(prompts, n, sampling) {
      return exclusive(st, async () => {
        const { out, stats } = await generateAll(st, prompts, n, sampling);
        engine.lastGenerationStats = stats;
        return out;
      });
    },
    setAdapter(snapshot: AdapterSnapshot | null) {
      return exclusive(st, async () => {
        engine.lastSyncStats = await applyAdapter(st.sync, snapshot);
        st.version = snapshot?.version ?? 0;
      });
    },
    injectWriteFault(name: string) {
      st.sync.corruptNextWrite = name;
    },
    close: () => closeEngine(st),
  };
  return engine;
}

/** Loads the artifacts into web-llm on the GPU, serving them on 127.0.0.1 only while it loads. */
async function loadWebLlm(opts: WebLlmEngineOptions, artifacts: MlcArtifacts): Promise<LoadedWebLlm> {
  const webllm = await importWebLlm();
  checkWebLlmModule();
  await checkShaderF16(opts, artifacts);
  const server: ArtifactServer = await serveMlcArtifacts(opts.mlcDir, opts.libFile);
  const t0 = performance.now();
  const mlc = await createMlcEngine(webllm, server, opts);
  await server.close();
  clearArtifactCaches(); // the weights are on the GPU now; drop the CPU copies of the shards
  const loadSeconds = (performance.now() - t0) / 1000;
  let pipeline: Pipeline;
  try {
    pipeline = checkWebLlmInternals(mlc, MODEL_ID);
  } catch (e) {
    await mlc.unload();
    throw e;
  }
  return { mlc, pipeline, loadSeconds };
}

async function checkShaderF16(opts: WebLlmEngineOptions, artifacts: MlcArtifacts): Promise<void> {
  if (/f16/.test(artifacts.lib.quantization)) {
    const why = await missingShaderF16();
    if (why) {
      throw new Error(
        `WebLLM: ${opts.libFile} is a ${artifacts.lib.quantization} library, whose kernels compute in f16, but ${why}; use a q0f32 library or a GPU whose adapter offers shader-f16`,
      );
    }
  }
}

/** web-llm's CreateMLCEngine on the served artifacts; on failure the server is closed and the cause named. */
async function createMlcEngine(
  webllm: WebLlmModule,
  server: ArtifactServer,
  opts: WebLlmEngineOptions,
): Promise<MLCEngine> {
  try {
    const overrides = opts.contextWindow ? { context_window_size: opts.contextWindow } : undefined;
    return await webllm.CreateMLCEngine(MODEL_ID, {
      appConfig: { model_list: [{ model: server.modelUrl, model_id: MODEL_ID, model_lib: server.libUrl, overrides }] },
      logLevel: 'WARN',
    });
  } catch (e) {
    await server.close();
    // undici reports every transport failure as "fetch failed"; the reason is in its cause.
    const cause = (e as Error).cause as Error | undefined;
    const why = cause?.message ? `${(e as Error).message} (${cause.message})` : (e as Error).message;
    throw new Error(`WebLLM failed to load ${opts.mlcDir} with ${opts.libFile}: ${why}`, { cause: e });
  }
}

// generate() and setAdapter() run one at a time: a completion never straddles a weight change.
function exclusive<T>(st: WebLlmState, fn: () => Promise<T>): Promise<T> {
  return st.calls.run(() => {
    if (st.closed) throw new Error('WebLLM engine is closed');
    if (st.sync.broken) throw new Error(`WebLLM engine unusable: ${st.sync.broken}`);
    return fn();
  });
}

async function closeEngine(st: WebLlmState): Promise<void> {
  if (st.closed) return;
  await st.calls.idle();
  st.closed = true;
  await st.mlc.unload();
}

// web-llm takes text, so a prompt is only servable when its text tokenizes back to exactly its ids.
// Every check runs before any GPU work, so a bad prompt fails its request and nothing else.
function promptText(st: WebLlmState, p: PromptInput, index: number, maxTokens: number): string {
  const { contextWindow, pipeline } = st;
  if (p.ids.length === 0) throw new Error(`WebLLM engine: prompt ${index} is empty (no token ids)`);
  if (contextWindow > 0 && p.ids.length + maxTokens > contextWindow) {
    throw new Error(
      `WebLLM engine: prompt ${index} has ${p.ids.length} tokens; with max_tokens ${maxTokens} it exceeds the context window of ${contextWindow}`,
    );
  }
  const text = p.text ?? detokenize(pipeline, p.ids);
  if (p.text === undefined && text.includes('\uFFFD')) {
    throw new Error(
      `WebLLM engine: prompt ${index}: its token ids do not decode to valid UTF-8 (U+FFFD at character ${text.indexOf('\uFFFD')}); web-llm takes text, so this prompt cannot be sent as ids`,
    );
  }
  const ids = tokenize(pipeline, text);
  if (ids.length !== p.ids.length || ids.some((v, i) => v !== p.ids[i])) {
    throw new Error(
      `WebLLM engine: prompt ${index}: text does not tokenize to the given ids (web-llm takes text; got ${ids.length} ids [${Array.from(ids.slice(0, 8))}...], expected ${p.ids.length} [${Array.from(p.ids.slice(0, 8))}...])`,
    );
  }
  return text;
}

/** Every prompt × n completion, one at a time (web-llm has no batching), and the call's statistics. */
async function generateAll(
  st: WebLlmState,
  prompts: PromptInput[],
  n: number,
  sampling: SamplingParams,
): Promise<{ out: Completion[]; stats: WebLlmGenerationStats }> {
  if (sampling.top_k > 0)
    throw new Error(
      `WebLLM engine: top_k=${sampling.top_k} is not supported by web-llm 0.2.79 (use top_k 0 and top_p)`,
    );
  if (!(n >= 1)) throw new Error(`WebLLM engine: n must be ≥ 1, got ${n}`);
  const texts = prompts.map((p, pi) => promptText(st, p, pi, sampling.max_tokens));
  const out: Completion[] = [];
  const t0 = performance.now();
  let ttft = 0;
  let tokens = 0;
  for (let pi = 0; pi < prompts.length; pi++) {
    const text = texts[pi]!;
    for (let si = 0; si < n; si++) {
      const r = await generateOne(
        st,
        text,
        sampling,
        completionSeed(sampling.seed, prompts[pi]!.seedKey ?? pi, si),
        pi,
        si,
      );
      out.push(r.completion);
      ttft += r.ttft;
      tokens += r.completion.tokenIds.length;
    }
  }
  const wall = (performance.now() - t0) / 1000;
  const count = out.length;
  const stats: WebLlmGenerationStats = {
    completions: count,
    completionTokens: tokens,
    meanTimeToFirstTokenS: ttft / Math.max(1, count),
    decodeTokensPerS: (tokens - count) / Math.max(1e-9, wall - ttft),
    tokensPerS: tokens / Math.max(1e-9, wall),
  };
  return { out, stats };
}

async function generateOne(
  st: WebLlmState,
  text: string,
  sampling: SamplingParams,
  seed: number,
  promptIndex: number,
  sampleIndex: number,
): Promise<{ completion: Completion; ttft: number }> {
  // Greedy as the other engines define it: the argmax token, reported with its temperature-1
  // log-prob. web-llm at temperature 0 reports log-probs of 0, so greedy runs at temperature 1
  // with a nucleus so small that only the most likely token is kept (its reported log-prob is
  // log-softmax(logits) over the whole vocabulary: top_p does not change what it reports).
  const greedy = !(sampling.temperature > 0);
  const res = await st.mlc.completions.create({
    prompt: text,
    max_tokens: sampling.max_tokens,
    temperature: greedy ? 1 : sampling.temperature,
    top_p: greedy ? 1e-9 : sampling.top_p,
    stop: sampling.stop,
    logprobs: true,
    seed,
    frequency_penalty: 0,
    presence_penalty: 0,
    repetition_penalty: 1,
  });
  const choice = res.choices[0]!;
  const ids = lastOutputIds(st.pipeline);
  const lps = (choice.logprobs?.content ?? []).map((c: { logprob: number }) => c.logprob);
  const finish = completionFinish(st, choice, ids, lps.length, promptIndex, sampleIndex);
  const extra = (res.usage as { extra?: { time_to_first_token_s?: number; decode_tokens_per_s?: number } } | undefined)
    ?.extra;
  const completion: Completion = {
    promptIndex,
    sampleIndex,
    tokenIds: Int32Array.from(ids),
    logprobs: Float32Array.from(lps),
    text: choice.text,
    finishReason: finish,
    policyVersion: st.version,
  };
  return { completion, ttft: extra?.time_to_first_token_s ?? 0 };
}

/**
 * Why the completion ended; a stop token sampled last is appended to `ids` (the pipeline's outputIds),
 * which web-llm leaves out. Checks one log-prob per token.
 */
function completionFinish(
  st: WebLlmState,
  choice: CompletionChoice,
  ids: number[],
  nLogprobs: number,
  promptIndex: number,
  sampleIndex: number,
): FinishReason {
  const { pipeline } = st;
  let finish: FinishReason = choice.finish_reason === 'length' ? 'length' : 'stop';
  if (nLogprobs === ids.length + 1) {
    // The last sampled token was a stop token: web-llm does not append it to outputIds.
    const stops = stopTokenIds(pipeline);
    const tokStr = choice.logprobs!.content![nLogprobs - 1]!.token;
    const id = stops.length === 1 ? stops[0]! : stops.find((s) => detokenize(pipeline, [s]) === tokStr);
    if (id === undefined) throw new Error(`WebLLM engine: cannot identify the stop token "${tokStr}" among ${stops}`);
    ids.push(id);
    finish = 'eos';
  } else if (nLogprobs !== ids.length) {
    throw new Error(
      `WebLLM engine: ${nLogprobs} log-probs for ${ids.length} tokens (prompt ${promptIndex}, sample ${sampleIndex})`,
    );
  }
  return finish;
}

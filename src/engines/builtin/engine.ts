// The builtin generation engine: batched prefill and decode on the model core's KV cache, on the
// CPU, over base weights mapped zero-copy from shared memory. All B·G sequences of a call decode
// together (one decodeStep per token position for every live sequence); each sequence samples from
// its own seeded stream Rng.derive(seed, prompt seedKey ?? index, sampleIndex), so a batched call produces the
// same completions as one-at-a-time calls, and the same seed gives the same completions.
import { checkGenerateRequest } from '../check-request.js';
import { createKvCache, decodeStep, prefill, type KvCache } from '../../model/kv-cache.js';
import { loraScale, type LoraAdapter } from '../../model/lora.js';
import type { Model } from '../../model/weights.js';
import type { AdapterSnapshot } from '../../model/adapter-layout.js';
import { Rng } from '../../util/rng.js';
import type { Completion, FinishReason, GenerationEngine, PromptInput, SamplingParams } from '../types.js';
import { createSamplerScratch, sampleToken, type SamplerScratch } from './sampling.js';
import { rawLogprob } from '../raw-logprob.js';
import { createSerialQueue } from '../../util/serial.js';

export interface TextDecoder {
  decode(ids: ArrayLike<number>): string;
  /** Token ids that end a completion (the model's EOS). */
  eosTokenIds: readonly number[];
}

export interface BuiltinEngineOptions {
  model: Model<Float32Array>;
  tokenizer: TextDecoder;
  /** Most sequences decoded together; larger requests run in chunks (default 64). */
  maxBatch?: number;
  /** Context length: prompt + completion must fit (default: the model's max_position_embeddings). */
  maxContext?: number;
}

export interface BuiltinEngine extends GenerationEngine {
  /** The adapter currently applied (null = base model). */
  readonly adapter: LoraAdapter<Float32Array> | null;
  /** Tokens generated and seconds spent in the last generate call (prefill included). */
  readonly lastStats: { tokens: number; seconds: number; prefillSeconds: number; sequences: number };
}

/**
 * What the engine's parts share, built once by createBuiltinEngine: the setup fixed at creation, the
 * KV cache (grown between calls), the adapter setAdapter last applied and the last call's stats.
 */
interface BuiltinState {
  model: Model<Float32Array>;
  maxBatch: number;
  maxContext: number;
  eos: Set<number>;
  decode: (ids: ArrayLike<number>) => string;
  scratch: SamplerScratch;
  adapter: LoraAdapter<Float32Array> | null;
  version: number;
  cache: KvCache<Float32Array> | null;
  lastStats: { tokens: number; seconds: number; prefillSeconds: number; sequences: number };
}

export function createBuiltinEngine(opts: BuiltinEngineOptions): BuiltinEngine {
  const e = builtinState(opts);
  // One KV cache per engine: calls are serialised (a second call waits for the first).
  const calls = createSerialQueue();
  return {
    name: 'builtin',
    generate(prompts: PromptInput[], n: number, sampling: SamplingParams): Promise<Completion[]> {
      return calls.run(() => generateNow(e, prompts, n, sampling));
    },
    async setAdapter(snapshot: AdapterSnapshot | null): Promise<void> {
      applyAdapter(e, snapshot);
    },
    get policyVersion() {
      return e.version;
    },
    get adapter() {
      return e.adapter;
    },
    get lastStats() {
      return e.lastStats;
    },
    async close() {
      e.cache = null;
    },
  };
}

function builtinState(opts: BuiltinEngineOptions): BuiltinState {
  const { model, tokenizer } = opts;
  return {
    model,
    maxBatch: opts.maxBatch ?? 64,
    maxContext: opts.maxContext ?? model.config.maxPositionEmbeddings,
    eos: new Set(tokenizer.eosTokenIds),
    // A completion may be just EOS: decode nothing to '' (some tokenizers reject an empty id list).
    decode: (ids: ArrayLike<number>): string => (ids.length === 0 ? '' : tokenizer.decode(ids)),
    scratch: createSamplerScratch(model.config.vocabSize),
    adapter: null,
    version: 0,
    cache: null,
    lastStats: { tokens: 0, seconds: 0, prefillSeconds: 0, sequences: 0 },
  };
}

function applyAdapter(e: BuiltinState, snapshot: AdapterSnapshot | null): void {
  if (!snapshot) {
    e.adapter = null;
    e.version = 0;
    return;
  }
  if (snapshot.params.length !== snapshot.layout.size)
    throw new Error(`setAdapter: params has ${snapshot.params.length} values, layout needs ${snapshot.layout.size}`);
  // Own copy (never reused): a generate() in flight keeps reading the version it started with.
  const params = Float32Array.from(snapshot.params);
  e.adapter = { settings: snapshot.settings, layout: snapshot.layout, params };
  e.version = snapshot.version;
}

function cacheFor(e: BuiltinState, seqs: number, len: number): KvCache<Float32Array> {
  const { cache } = e;
  if (!cache || cache.maxSeqs < seqs || cache.maxLen < len)
    e.cache = createKvCache(e.model, Math.max(seqs, cache?.maxSeqs ?? 0), Math.max(len, cache?.maxLen ?? 0));
  return e.cache!;
}

/** The adapter a generate call runs with, fixed at its start. */
interface PinnedAdapter {
  ad: LoraAdapter<Float32Array> | null;
  scale: number;
  ver: number;
}

/** One (prompt, sample) sequence of a call. */
interface Job {
  p: number;
  s: number;
}

async function generateNow(
  e: BuiltinState,
  prompts: PromptInput[],
  n: number,
  sampling: SamplingParams,
): Promise<Completion[]> {
  checkGenerateRequest(prompts, n, sampling, { maxContext: e.maxContext, vocabSize: e.model.config.vocabSize });
  const t0 = performance.now();
  const jobs: Job[] = [];
  for (let p = 0; p < prompts.length; p++) for (let s = 0; s < n; s++) jobs.push({ p, s });
  const out: Completion[] = [];
  let tokens = 0;
  let prefillMs = 0;
  // Capture the version: a setAdapter() between decode steps must not change a running generation.
  const ad = e.adapter;
  const pin: PinnedAdapter = { ad, scale: ad ? loraScale(ad.settings) : 0, ver: e.version };
  for (let start = 0; start < jobs.length; start += e.maxBatch) {
    const chunk = jobs.slice(start, start + e.maxBatch);
    const done = await generateChunk(e, prompts, chunk, sampling, pin, out);
    tokens += done.tokens;
    prefillMs += done.prefillMs;
  }
  Object.assign(e.lastStats, {
    tokens,
    seconds: (performance.now() - t0) / 1000,
    prefillSeconds: prefillMs / 1000,
    sequences: jobs.length,
  });
  return out;
}

/** A chunk's sequences while they decode, by slot: sampling stream, tokens, log-probs, finish. */
interface ChunkSeqs {
  rngs: Rng[];
  ids: number[][];
  lps: number[][];
  raws: number[][];
  finish: (FinishReason | null)[];
}

/** Prefill and decode up to maxBatch sequences together; their completions are appended to `out`. */
async function generateChunk(
  e: BuiltinState,
  prompts: PromptInput[],
  chunk: Job[],
  sampling: SamplingParams,
  pin: PinnedAdapter,
  out: Completion[],
): Promise<{ tokens: number; prefillMs: number }> {
  const longest = Math.max(...chunk.map((j) => prompts[j.p]!.ids.length));
  const kv = cacheFor(e, chunk.length, longest + sampling.max_tokens);
  const slots = chunk.map((_, i) => i);
  const seqs: ChunkSeqs = {
    rngs: chunk.map((j) => Rng.derive(sampling.seed, prompts[j.p]!.seedKey ?? j.p, j.s)),
    ids: chunk.map(() => []),
    lps: chunk.map(() => []),
    raws: chunk.map(() => []),
    finish: chunk.map(() => null),
  };
  const tp = performance.now();
  const logits = prefill(
    e.model,
    pin.ad,
    pin.scale,
    kv,
    slots,
    chunk.map((j) => prompts[j.p]!.ids),
  );
  const prefillMs = performance.now() - tp;
  const tokens = await decodeChunk(e, seqs, kv, slots, logits, sampling, pin);
  pushCompletions(e, chunk, seqs, pin.ver, out);
  return { tokens, prefillMs };
}

/** Samples every live sequence, one decodeStep per token position, until all have finished; returns the tokens. */
async function decodeChunk(
  e: BuiltinState,
  seqs: ChunkSeqs,
  kv: KvCache<Float32Array>,
  slots: number[],
  prefillLogits: Float32Array,
  sampling: SamplingParams,
  pin: PinnedAdapter,
): Promise<number> {
  let logits = prefillLogits;
  let tokens = 0;
  let live = slots.slice();
  const V = e.model.config.vocabSize;
  for (let step = 0; live.length > 0; step++) {
    const next: number[] = [];
    const stillLive: number[] = [];
    for (let k = 0; k < live.length; k++) {
      const i = live[k]!;
      tokens++;
      if (takeToken(e, seqs, i, logits.subarray(k * V, (k + 1) * V), sampling)) {
        stillLive.push(i);
        next.push(seqs.ids[i]![seqs.ids[i]!.length - 1]!);
      }
    }
    live = stillLive;
    if (live.length === 0) break;
    logits = decodeStep(e.model, pin.ad, pin.scale, kv, live, next);
    // Yield to the event loop between decode steps so an actor stays responsive to aborts.
    if (step % 16 === 15) await new Promise((r) => setImmediate(r));
  }
  return tokens;
}

/** Samples slot i's next token from its logits row and records it; true while its sequence goes on. */
function takeToken(e: BuiltinState, seqs: ChunkSeqs, i: number, row: Float32Array, sampling: SamplingParams): boolean {
  const ids = seqs.ids[i]!;
  const { token, logprob } = sampleToken(row, sampling, seqs.rngs[i]!, e.scratch);
  ids.push(token);
  seqs.lps[i]!.push(logprob);
  seqs.raws[i]!.push(rawLogprob(row, token));
  if (e.eos.has(token) && !sampling.ignore_eos) seqs.finish[i] = 'eos';
  else if (sampling.stop?.length && endsWithStop(e.decode(ids), sampling.stop)) seqs.finish[i] = 'stop';
  else if (ids.length >= sampling.max_tokens) seqs.finish[i] = 'length';
  else return true;
  return false;
}

function pushCompletions(e: BuiltinState, chunk: Job[], seqs: ChunkSeqs, ver: number, out: Completion[]): void {
  chunk.forEach((j, i) => {
    const tokenIds = Int32Array.from(seqs.ids[i]!);
    out.push({
      promptIndex: j.p,
      sampleIndex: j.s,
      tokenIds,
      logprobs: Float32Array.from(seqs.lps[i]!),
      modelLogprobs: Float32Array.from(seqs.raws[i]!),
      text: e.decode(seqs.finish[i] === 'eos' ? tokenIds.subarray(0, tokenIds.length - 1) : tokenIds),
      finishReason: seqs.finish[i]!,
      policyVersion: ver,
    });
  });
}

function endsWithStop(text: string, stops: string[]): boolean {
  for (const s of stops) if (s && text.endsWith(s)) return true;
  return false;
}

// The builtin generation engine: batched prefill and decode on the model core's KV cache, on the
// CPU, over base weights mapped zero-copy from shared memory. All B·G sequences of a call decode
// together (one decodeStep per token position for every live sequence); each sequence samples from
// its own seeded stream Rng.derive(seed, prompt seedKey ?? index, sampleIndex), so a batched call produces the
// same completions as one-at-a-time calls, and the same seed gives the same completions.
import { createKvCache, decodeStep, prefill, type KvCache } from '../../model/kv-cache.js';
import { loraScale, type LoraAdapter } from '../../model/lora.js';
import type { Model } from '../../model/weights.js';
import type { AdapterSnapshot } from '../../model/adapter-layout.js';
import { Rng } from '../../util/rng.js';
import type { Completion, FinishReason, GenerationEngine, PromptInput, SamplingParams } from '../types.js';
import { createSamplerScratch, sampleToken } from './sampling.js';
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

export function createBuiltinEngine(opts: BuiltinEngineOptions): BuiltinEngine {
  const { model, tokenizer } = opts;
  const maxBatch = opts.maxBatch ?? 64;
  const maxContext = opts.maxContext ?? model.config.maxPositionEmbeddings;
  const eos = new Set(tokenizer.eosTokenIds);
  // A completion may be just EOS: decode nothing to '' (some tokenizers reject an empty id list).
  const decode = (ids: ArrayLike<number>): string => (ids.length === 0 ? '' : tokenizer.decode(ids));
  const scratch = createSamplerScratch(model.config.vocabSize);
  let adapter: LoraAdapter<Float32Array> | null = null;
  let version = 0;
  let cache: KvCache<Float32Array> | null = null;
  const lastStats = { tokens: 0, seconds: 0, prefillSeconds: 0, sequences: 0 };

  function cacheFor(seqs: number, len: number): KvCache<Float32Array> {
    if (!cache || cache.maxSeqs < seqs || cache.maxLen < len)
      cache = createKvCache(model, Math.max(seqs, cache?.maxSeqs ?? 0), Math.max(len, cache?.maxLen ?? 0));
    return cache;
  }

  function checkRequest(prompts: PromptInput[], n: number, s: SamplingParams): void {
    if (!Number.isInteger(n) || n < 1) throw new Error(`generate: n must be a positive integer, got ${n}`);
    if (!Number.isInteger(s.max_tokens) || s.max_tokens < 1)
      throw new Error(`generate: sampling.max_tokens must be a positive integer, got ${s.max_tokens}`);
    prompts.forEach((p, i) => {
      if (p.ids.length === 0) throw new Error(`generate: prompt ${i} is empty (no token ids)`);
      if (p.ids.length + s.max_tokens > maxContext) {
        throw new Error(
          `generate: prompt ${i} has ${p.ids.length} tokens; with max_tokens ${s.max_tokens} it exceeds the context of ${maxContext}`,
        );
      }
      for (const id of p.ids) {
        if (!Number.isInteger(id) || id < 0 || id >= model.config.vocabSize)
          throw new Error(
            `generate: prompt ${i} has token id ${id} outside the vocabulary [0, ${model.config.vocabSize})`,
          );
      }
    });
  }

  // One KV cache per engine: calls are serialised (a second call waits for the first).
  const calls = createSerialQueue();
  function generate(prompts: PromptInput[], n: number, sampling: SamplingParams): Promise<Completion[]> {
    return calls.run(() => generateNow(prompts, n, sampling));
  }

  async function generateNow(prompts: PromptInput[], n: number, sampling: SamplingParams): Promise<Completion[]> {
    checkRequest(prompts, n, sampling);
    const t0 = performance.now();
    const jobs: { p: number; s: number }[] = [];
    for (let p = 0; p < prompts.length; p++) for (let s = 0; s < n; s++) jobs.push({ p, s });
    const out: Completion[] = [];
    let tokens = 0;
    let prefillMs = 0;
    // Capture the version: a setAdapter() between decode steps must not change a running generation.
    const ad = adapter;
    const ver = version;
    const scale = ad ? loraScale(ad.settings) : 0;
    for (let start = 0; start < jobs.length; start += maxBatch) {
      const chunk = jobs.slice(start, start + maxBatch);
      const longest = Math.max(...chunk.map((j) => prompts[j.p]!.ids.length));
      const kv = cacheFor(chunk.length, longest + sampling.max_tokens);
      const slots = chunk.map((_, i) => i);
      const rngs = chunk.map((j) => Rng.derive(sampling.seed, prompts[j.p]!.seedKey ?? j.p, j.s));
      const ids: number[][] = chunk.map(() => []);
      const lps: number[][] = chunk.map(() => []);
      const raws: number[][] = chunk.map(() => []);
      const finish: (FinishReason | null)[] = chunk.map(() => null);
      const tp = performance.now();
      let logits = prefill(
        model,
        ad,
        scale,
        kv,
        slots,
        chunk.map((j) => prompts[j.p]!.ids),
      );
      prefillMs += performance.now() - tp;
      let live = slots.slice();
      const V = model.config.vocabSize;
      for (let step = 0; live.length > 0; step++) {
        const next: number[] = [];
        const stillLive: number[] = [];
        for (let k = 0; k < live.length; k++) {
          const i = live[k]!;
          const row = logits.subarray(k * V, (k + 1) * V);
          const { token, logprob } = sampleToken(row, sampling, rngs[i]!, scratch);
          ids[i]!.push(token);
          lps[i]!.push(logprob);
          raws[i]!.push(rawLogprob(row, token));
          tokens++;
          if (eos.has(token) && !sampling.ignore_eos) finish[i] = 'eos';
          else if (sampling.stop?.length && endsWithStop(decode(ids[i]!), sampling.stop)) finish[i] = 'stop';
          else if (ids[i]!.length >= sampling.max_tokens) finish[i] = 'length';
          else {
            stillLive.push(i);
            next.push(token);
          }
        }
        live = stillLive;
        if (live.length === 0) break;
        logits = decodeStep(model, ad, scale, kv, live, next);
        // Yield to the event loop between decode steps so an actor stays responsive to aborts.
        if (step % 16 === 15) await new Promise((r) => setImmediate(r));
      }
      chunk.forEach((j, i) => {
        const tokenIds = Int32Array.from(ids[i]!);
        out.push({
          promptIndex: j.p,
          sampleIndex: j.s,
          tokenIds,
          logprobs: Float32Array.from(lps[i]!),
          modelLogprobs: Float32Array.from(raws[i]!),
          text: decode(finish[i] === 'eos' ? tokenIds.subarray(0, tokenIds.length - 1) : tokenIds),
          finishReason: finish[i]!,
          policyVersion: ver,
        });
      });
    }
    Object.assign(lastStats, {
      tokens,
      seconds: (performance.now() - t0) / 1000,
      prefillSeconds: prefillMs / 1000,
      sequences: jobs.length,
    });
    return out;
  }

  return {
    name: 'builtin',
    generate,
    async setAdapter(snapshot: AdapterSnapshot | null): Promise<void> {
      if (!snapshot) {
        adapter = null;
        version = 0;
        return;
      }
      if (snapshot.params.length !== snapshot.layout.size)
        throw new Error(
          `setAdapter: params has ${snapshot.params.length} values, layout needs ${snapshot.layout.size}`,
        );
      // Own copy (never reused): a generate() in flight keeps reading the version it started with.
      const params = Float32Array.from(snapshot.params);
      adapter = { settings: snapshot.settings, layout: snapshot.layout, params };
      version = snapshot.version;
    },
    get policyVersion() {
      return version;
    },
    get adapter() {
      return adapter;
    },
    get lastStats() {
      return lastStats;
    },
    async close() {
      cache = null;
    },
  };
}

function endsWithStop(text: string, stops: string[]): boolean {
  for (const s of stops) if (s && text.endsWith(s)) return true;
  return false;
}

// The webgpu generation engine: batched decoding on the GPU with the learner's kernels.
//
// Continuous batching: every prompt × n sequence of a call is queued; up to maxBatch run at once,
// each in a slot that owns pages of the paged KV cache; a finished sequence frees its slot and pages
// at once and the next queued sequence is admitted in the next iteration. One iteration = a prefill
// of the newly admitted sequences (each distinct prompt once, its keys/values written into the pages
// of every sequence that starts from it) and one decode step of the running ones, then the sampler,
// then one read-back of (token, behaviour log-prob, raw log-prob) per sequence.
//
// Sampling is on the GPU (ops/webgpu/sampling.ts): the same kept-set rule as the builtin engine and
// the learner (src/rl/token-distribution.ts), greedy at temperature 0; each sequence draws its
// uniforms from Rng.derive(seed, prompt seedKey ?? index, sampleIndex), one per sampled token, so
// completions do not depend on batching or admission order. LoRA is applied unmerged from resident
// adapter versions (adapters.ts). KV cache dtype: f16 when the base matrices are stored in f16, f32
// when they are f32 (exact agreement with the builtin engine on f32 weights).
import type { Model } from '../../model/weights.js';
import { loraScale, loraSlots, type LayerLoraSlots } from '../../model/lora.js';
import type { AdapterLayout, AdapterSnapshot } from '../../model/adapter-layout.js';
import {
  allocTensor,
  beginScope,
  createGpuContext,
  endScope,
  memoryStats,
  readI32,
  releaseTensor,
  uploadTensor,
  writeTensor,
  type GpuContext,
} from '../../ops/webgpu/context.js';
import { webgpuOps } from '../../ops/webgpu/index.js';
import { uploadModel, type WeightDType } from '../../ops/webgpu/model-upload.js';
import {
  createPagedKvCache,
  kvBytesPerToken,
  releasePagedKvCache,
  type KvDType,
  type PagedKvCache,
} from '../../ops/webgpu/paged-kv.js';
import { sampleTokens, type SamplingConfig } from '../../ops/webgpu/sampling.js';
import { viewOf, type GpuTensor } from '../../ops/webgpu/tensor.js';
import { Rng } from '../../util/rng.js';
import type { TextDecoder } from '../builtin/engine.js';
import type { Completion, FinishReason, GenerationEngine, PromptInput, SamplingParams } from '../types.js';
import {
  applyVersion,
  createAdapterSlots,
  pinServing,
  releaseAdapterSlots,
  unpin,
  type SyncReport,
} from './adapters.js';
import { createPagePool, pagesFor, poolRow, releasePages, reservePages, type PagePool } from './pages.js';
import { decodeLogits, prefillLogits, type StepAdapter, type StepState } from './step.js';
import { decodeOps, defaultSkinnyRows } from './decode-ops.js';
import { createSerialQueue } from '../../util/serial.js';

export interface WebGpuEngineOptions {
  /** The model on the host (config, and the weights to upload unless gpuModel is given). */
  model: Model<Float32Array>;
  tokenizer: TextDecoder;
  /** An existing context and the base weights already on it (shared with a GPU learner). */
  shared?: { ctx: GpuContext; model: Model<GpuTensor> };
  /** Storage of the uploaded base matrices when not shared (default f16). */
  weightDtype?: WeightDType;
  /** KV cache dtype (default: f16 when the base matrices are f16, else f32). */
  kvDtype?: KvDType;
  /** Most sequences decoded together (default 64). */
  maxBatch?: number;
  /** Context length: prompt + completion must fit (default: the model's max_position_embeddings). */
  maxContext?: number;
  /** Adapter versions kept on the GPU (max_staleness + 1; default 2). One more slot takes syncs. */
  residentVersions?: number;
  /** Tokens per KV page (default 16). */
  pageSize?: number;
  /** Most prompt tokens per prefill pass (default 4096). */
  maxPrefillTokens?: number;
  /** Cap on KV cache bytes (default: what maxBatch sequences of a call's longest length need). */
  maxKvBytes?: number;
  /** Adapter features to leave out (tests of portable paths). */
  disableFeatures?: string[];
  /** Passes of at most this many rows use the few-row product (decode-ops.ts). Default: 8, every pass on CPU adapters. */
  skinnyRows?: number;
}

export interface WebGpuGenerationStats {
  tokens: number;
  seconds: number;
  /** Time to the first sampled tokens (the first prefill and its read-back). */
  prefillSeconds: number;
  sequences: number;
  /** Engine iterations (prefill and/or decode step + read-back). */
  iterations: number;
  /** Most sequences running at once. */
  peakBatch: number;
  /** Host time spent enqueuing GPU work (encoding, uploads): a step cannot be faster than this. */
  encodeSeconds: number;
  /** GPU dispatches enqueued. */
  dispatches: number;
}

export interface WebGpuEngine extends GenerationEngine {
  readonly description: string;
  readonly ctx: GpuContext;
  readonly kvDtype: KvDType;
  readonly lastStats: WebGpuGenerationStats;
  /** The last setAdapter: a pointer flip or a verified upload, and how long it took. */
  readonly lastSync: SyncReport | null;
  /** Versions resident on the GPU, oldest first. */
  readonly residentVersions: number[];
  /** Fault drill: corrupt the next adapter upload on the GPU (the sync must reject it). */
  injectWriteFault(): void;
}

interface Seq {
  job: number;
  prompt: number;
  sample: number;
  slot: number;
  rng: Rng;
  ids: number[];
  lps: number[];
  raws: number[];
  /** Tokens whose keys/values are in the cache. */
  cached: number;
  done: FinishReason | null;
}

export async function createWebGpuEngine(opts: WebGpuEngineOptions): Promise<WebGpuEngine> {
  const c = opts.model.config;
  const ctx = opts.shared?.ctx ?? (await createGpuContext({ disableFeatures: opts.disableFeatures }));
  const owned = !opts.shared;
  const gmodel = opts.shared?.model ?? uploadModel(ctx, opts.model, { weightDtype: opts.weightDtype ?? 'f16' }).model;
  const ops = decodeOps(ctx, webgpuOps(ctx), opts.skinnyRows ?? defaultSkinnyRows(ctx));
  const kvDtype: KvDType = opts.kvDtype ?? (gmodel.weights.layers[0]?.q.dtype === 'f16' ? 'f16' : 'f32');
  if (kvDtype === 'f16' && (c.numKvHeads * c.headDim) % 2)
    throw new Error('webgpu engine: an f16 KV cache needs an even nKvHeads·headDim');
  const maxBatch = opts.maxBatch ?? 64;
  const maxContext = opts.maxContext ?? c.maxPositionEmbeddings;
  const pageSize = opts.pageSize ?? 16;
  const maxPrefillTokens = opts.maxPrefillTokens ?? 4096;
  const V = c.vocabSize;
  const maxPagesPerSeq = Math.ceil(maxContext / pageSize);
  const eos = new Set(opts.tokenizer.eosTokenIds);
  const decodeText = (ids: ArrayLike<number>): string => (ids.length === 0 ? '' : opts.tokenizer.decode(ids));
  const adapters = createAdapterSlots(ctx, opts.residentVersions ?? 2);
  // Persistent per-engine buffers: page table, token per slot, sampler output.
  const table = allocTensor(ctx, maxBatch * maxPagesPerSeq, 'i32', false, true);
  const tokens = allocTensor(ctx, maxBatch, 'i32', true, true);
  const out = allocTensor(ctx, 3 * maxBatch, 'i32', false, true);
  let kv: PagedKvCache | null = null;
  let version = 0;
  let lastSync: SyncReport | null = null;
  const lastStats: WebGpuGenerationStats = {
    tokens: 0,
    seconds: 0,
    prefillSeconds: 0,
    sequences: 0,
    iterations: 0,
    peakBatch: 0,
    encodeSeconds: 0,
    dispatches: 0,
  };
  const slotsCache = new WeakMap<AdapterLayout, LayerLoraSlots[]>();

  function checkRequest(prompts: PromptInput[], n: number, s: SamplingParams): void {
    if (!Number.isInteger(n) || n < 1) throw new Error(`generate: n must be a positive integer, got ${n}`);
    if (!Number.isInteger(s.max_tokens) || s.max_tokens < 1)
      throw new Error(`generate: sampling.max_tokens must be a positive integer, got ${s.max_tokens}`);
    prompts.forEach((p, i) => {
      if (p.ids.length === 0) throw new Error(`generate: prompt ${i} is empty (no token ids)`);
      if (p.ids.length + s.max_tokens > maxContext)
        throw new Error(
          `generate: prompt ${i} has ${p.ids.length} tokens; with max_tokens ${s.max_tokens} it exceeds the context of ${maxContext}`,
        );
      for (const id of p.ids)
        if (!Number.isInteger(id) || id < 0 || id >= V)
          throw new Error(`generate: prompt ${i} has token id ${id} outside the vocabulary [0, ${V})`);
    });
  }

  /** A KV cache with room for min(jobs, maxBatch) sequences of `longest` tokens (grown between calls). */
  function cacheFor(jobs: number, longest: number): { kv: PagedKvCache; pool: PagePool } {
    const perSeq = Math.ceil(longest / pageSize);
    const rowBytes = kvBytesPerToken(1, c.numKvHeads * c.headDim, kvDtype) / 2; // one layer, K or V
    const byBinding = Math.floor(ctx.maxBinding / (rowBytes * pageSize));
    const byBudget = opts.maxKvBytes
      ? Math.floor(opts.maxKvBytes / (kvBytesPerToken(c.numLayers, c.numKvHeads * c.headDim, kvDtype) * pageSize))
      : Infinity;
    const want = Math.min(Math.min(jobs, maxBatch) * perSeq, byBinding, byBudget);
    if (want < perSeq)
      throw new Error(
        `webgpu engine: one sequence of ${longest} tokens needs ${perSeq} KV pages; the cache holds at most ${Math.min(byBinding, byBudget)} (maxKvBytes or the storage binding limit)`,
      );
    if (!kv || kv.numPages < want) {
      if (kv) releasePagedKvCache(ctx, kv);
      kv = null;
      kv = createPagedKvCache(ctx, {
        layers: c.numLayers,
        numPages: want,
        pageSize,
        kvWidth: c.numKvHeads * c.headDim,
        dtype: kvDtype,
      });
    }
    return { kv, pool: createPagePool(kv.numPages, pageSize, maxBatch, maxPagesPerSeq) };
  }

  function stepAdapter(pinned: ReturnType<typeof pinServing>): StepAdapter {
    if (!pinned) return { adapter: null, slots: null, scale: 0 };
    const { settings, layout } = pinned.snapshot;
    let slots = slotsCache.get(layout);
    if (!slots) slotsCache.set(layout, (slots = loraSlots(c, settings, layout)));
    return { adapter: { settings, layout, params: pinned.params }, slots, scale: loraScale(settings) };
  }

  const calls = createSerialQueue();
  let syncs: Promise<unknown> = Promise.resolve();
  function generate(prompts: PromptInput[], n: number, sampling: SamplingParams): Promise<Completion[]> {
    return calls.run(() => generateNow(prompts, n, sampling));
  }

  async function generateNow(prompts: PromptInput[], n: number, sampling: SamplingParams): Promise<Completion[]> {
    checkRequest(prompts, n, sampling);
    const t0 = performance.now();
    const pinned = pinServing(adapters);
    const ver = version;
    try {
      const ad = stepAdapter(pinned);
      const jobs: { p: number; s: number }[] = [];
      for (let p = 0; p < prompts.length; p++) for (let s = 0; s < n; s++) jobs.push({ p, s });
      const longest = Math.max(...prompts.map((p) => p.ids.length)) + sampling.max_tokens;
      const { kv: cache, pool } = cacheFor(jobs.length, longest);
      const st: StepState = {
        ctx,
        ops,
        model: gmodel,
        kv: cache,
        table,
        maxPagesPerSeq,
        rope: ops.ropeTable(c.ropeTheta, c.headDim, longest),
      };
      const cfg: SamplingConfig = { temperature: sampling.temperature, topK: sampling.top_k, topP: sampling.top_p };
      const greedy = !(sampling.temperature > 0);
      const results: Completion[] = new Array(jobs.length);
      const freeSlots = Array.from({ length: maxBatch }, (_, i) => maxBatch - 1 - i);
      let next = 0;
      let live: Seq[] = [];
      const stats: WebGpuGenerationStats = {
        tokens: 0,
        seconds: 0,
        prefillSeconds: 0,
        sequences: jobs.length,
        iterations: 0,
        peakBatch: 0,
        encodeSeconds: 0,
        dispatches: 0,
      };
      const dispatches0 = memoryStats(ctx).dispatches;
      while (next < jobs.length || live.length) {
        // Admission: free slots and pages for the whole worst case of each new sequence.
        const admitted: Seq[] = [];
        while (next < jobs.length && freeSlots.length) {
          const j = jobs[next]!;
          const slot = freeSlots[freeSlots.length - 1]!;
          if (!reservePages(pool, slot, prompts[j.p]!.ids.length + sampling.max_tokens)) break;
          freeSlots.pop();
          admitted.push({
            job: next,
            prompt: j.p,
            sample: j.s,
            slot,
            rng: Rng.derive(sampling.seed, prompts[j.p]!.seedKey ?? j.p, j.s),
            ids: [],
            lps: [],
            raws: [],
            cached: 0,
            done: null,
          });
          writeTensor(
            ctx,
            viewOf(table, slot * maxPagesPerSeq, maxPagesPerSeq),
            pool.table.subarray(slot * maxPagesPerSeq, (slot + 1) * maxPagesPerSeq),
            'page table',
          );
          next++;
        }
        if (!admitted.length && !live.length)
          throw new Error(`webgpu engine: no sequence fits the KV cache (${pool.numPages} pages of ${pageSize})`);
        const order = await iteration(st, pool, ad, prompts, admitted, live, cfg, greedy, stats);
        stats.iterations++;
        if (stats.iterations === 1) stats.prefillSeconds = (performance.now() - t0) / 1000;
        const running = live.concat(admitted);
        stats.peakBatch = Math.max(stats.peakBatch, running.length);
        for (const [seq, token, lp, raw] of order) {
          seq.ids.push(token);
          seq.lps.push(lp);
          seq.raws.push(raw);
          stats.tokens++;
          if (eos.has(token) && !sampling.ignore_eos) seq.done = 'eos';
          else if (sampling.stop?.length && endsWithStop(decodeText(seq.ids), sampling.stop)) seq.done = 'stop';
          else if (seq.ids.length >= sampling.max_tokens) seq.done = 'length';
        }
        live = [];
        for (const seq of running) {
          if (!seq.done) {
            live.push(seq);
            continue;
          }
          releasePages(pool, seq.slot);
          freeSlots.push(seq.slot);
          results[seq.job] = completionOf(seq, ver, eos, decodeText);
        }
      }
      stats.seconds = (performance.now() - t0) / 1000;
      stats.dispatches = memoryStats(ctx).dispatches - dispatches0;
      Object.assign(lastStats, stats);
      return results;
    } finally {
      unpin(pinned);
    }
  }

  /**
   * One iteration: prefill + first token of the admitted sequences, one decode step + next token of
   * the running ones; returns (sequence, token, behaviour log-prob, raw log-prob) in sample order.
   */
  async function iteration(
    st: StepState,
    pool: PagePool,
    ad: StepAdapter,
    prompts: PromptInput[],
    admitted: Seq[],
    live: Seq[],
    cfg: SamplingConfig,
    greedy: boolean,
    stats: WebGpuGenerationStats,
  ): Promise<[Seq, number, number, number][]> {
    const order: Seq[] = [];
    const tEnc = performance.now();
    const u32 = new Uint32Array(1),
      f32 = new Float32Array(u32.buffer);
    const uniform = (s: Seq): number => {
      f32[0] = greedy ? 0 : s.rng.next();
      return u32[0]!;
    };
    beginScope(ctx);
    try {
      const sample = (logits: GpuTensor, seqs: Seq[], rowOf: (i: number) => number): void => {
        const m = seqs.length;
        const start = order.length;
        const metaArr = new Int32Array(3 * m);
        seqs.forEach((s, i) => {
          metaArr[3 * i] = rowOf(i);
          metaArr[3 * i + 1] = s.slot;
          metaArr[3 * i + 2] = uniform(s);
        });
        sampleTokens(
          ctx,
          {
            logits,
            meta: uploadTensor(ctx, metaArr),
            probs: greedy ? allocTensor(ctx, 1) : allocTensor(ctx, m * V),
            out: viewOf(out, 3 * start, 3 * m),
            next: tokens,
          },
          m,
          V,
          cfg,
        );
        order.push(...seqs);
      };
      // Prefill: distinct prompts of the admitted sequences, in chunks of at most maxPrefillTokens rows.
      const byPrompt = new Map<number, Seq[]>();
      for (const s of admitted) {
        const l = byPrompt.get(s.prompt);
        if (l) l.push(s);
        else byPrompt.set(s.prompt, [s]);
      }
      const distinct = [...byPrompt.keys()];
      for (let i = 0; i < distinct.length; ) {
        const chunk: number[] = [];
        let rows = 0;
        while (
          i < distinct.length &&
          (chunk.length === 0 || rows + prompts[distinct[i]!]!.ids.length <= maxPrefillTokens)
        ) {
          rows += prompts[distinct[i]!]!.ids.length;
          chunk.push(distinct[i++]!);
        }
        const writes: number[] = [],
          dsts: number[] = [];
        let r0 = 0;
        const seqs: Seq[] = [],
          rowOfSeq: number[] = [];
        chunk.forEach((p, k) => {
          const len = prompts[p]!.ids.length;
          for (const s of byPrompt.get(p)!) {
            for (let j = 0; j < len; j++) {
              writes.push(r0 + j);
              dsts.push(poolRow(pool, s.slot, j));
            }
            s.cached = len;
            seqs.push(s);
            rowOfSeq.push(k);
          }
          r0 += len;
        });
        const map = Int32Array.from([...writes, ...dsts]);
        const logits = prefillLogits(st, ad, {
          prompts: chunk.map((p) => prompts[p]!.ids),
          writeMap: uploadTensor(ctx, map),
          writes: writes.length,
        });
        sample(logits, seqs, (i) => rowOfSeq[i]!);
      }
      if (live.length) {
        const n = live.length;
        const slots = new Int32Array(n),
          positions = new Int32Array(n),
          seqInfo = new Int32Array(2 * n),
          map = new Int32Array(2 * n);
        let maxLen = 0;
        live.forEach((s, r) => {
          slots[r] = s.slot;
          positions[r] = s.cached;
          seqInfo[2 * r] = s.slot;
          seqInfo[2 * r + 1] = s.cached + 1;
          map[r] = r;
          map[n + r] = poolRow(pool, s.slot, s.cached);
          s.cached++;
          maxLen = Math.max(maxLen, s.cached);
        });
        const logits = decodeLogits(st, ad, {
          n,
          rowSlots: uploadTensor(ctx, slots),
          tokens,
          positions,
          seqs: uploadTensor(ctx, seqInfo),
          writeMap: uploadTensor(ctx, map),
          maxLen,
        });
        sample(logits, live, (i) => i);
      }
      stats.encodeSeconds += (performance.now() - tEnc) / 1000;
      const res = await readI32(ctx, viewOf(out, 0, 3 * order.length));
      const bits = new Float32Array(res.buffer, res.byteOffset, res.length);
      return order.map((s, i) => [s, res[3 * i]!, bits[3 * i + 1]!, bits[3 * i + 2]!]);
    } finally {
      endScope(ctx);
    }
  }

  const description = `webgpu (${ctx.info.adapter}; weights ${gmodel.weights.layers[0]?.q.dtype ?? 'f32'}${opts.shared ? ', on a shared context (one copy)' : ''}; KV cache ${kvDtype}, pages of ${pageSize}; batch ≤ ${maxBatch}; features ${ctx.info.features.join(' ') || 'none'})`;

  return {
    name: 'webgpu',
    description,
    ctx,
    kvDtype,
    generate,
    setAdapter(snapshot: AdapterSnapshot | null): Promise<void> {
      // Syncs are serialised among themselves; a generation running meanwhile keeps the version it pinned.
      const run = syncs.then(async () => {
        lastSync = await applyVersion(adapters, snapshot);
        version = snapshot ? snapshot.version : 0;
      });
      syncs = run.catch(() => undefined);
      return run;
    },
    get policyVersion() {
      return version;
    },
    get lastStats() {
      return lastStats;
    },
    get lastSync() {
      return lastSync;
    },
    get residentVersions() {
      return adapters.resident.map((r) => r.version);
    },
    injectWriteFault() {
      adapters.corruptNext = true;
    },
    async close() {
      await calls.idle();
      await syncs;
      releaseAdapterSlots(adapters);
      if (kv) releasePagedKvCache(ctx, kv);
      kv = null;
      for (const t of [table, tokens, out]) releaseTensor(ctx, t);
      if (owned) ctx.device.destroy();
    },
  };
}

function completionOf(
  seq: Seq,
  version: number,
  eos: Set<number>,
  decode: (ids: ArrayLike<number>) => string,
): Completion {
  const tokenIds = Int32Array.from(seq.ids);
  const endsEos = seq.done === 'eos' && eos.has(tokenIds[tokenIds.length - 1]!);
  return {
    promptIndex: seq.prompt,
    sampleIndex: seq.sample,
    tokenIds,
    logprobs: Float32Array.from(seq.lps),
    modelLogprobs: Float32Array.from(seq.raws),
    text: decode(endsEos ? tokenIds.subarray(0, tokenIds.length - 1) : tokenIds),
    finishReason: seq.done!,
    policyVersion: version,
  };
}

function endsWithStop(text: string, stops: string[]): boolean {
  for (const s of stops) if (s && text.endsWith(s)) return true;
  return false;
}

export { pagesFor };

// The webgpu generation engine: batched decoding on the GPU with the learner's kernels.
//
// Continuous batching: every prompt × n sequence of a call is queued; up to maxBatch run at once,
// each in a slot that owns pages of the paged KV cache; a finished sequence frees its slot and pages
// at once and the next queued sequence is admitted in the next iteration. One iteration = a prefill
// of the newly admitted sequences (each distinct prompt once, its keys/values written into the pages
// of every sequence that starts from it) and one decode step of the running ones, then the sampler,
// then one read-back of (token, behaviour log-prob, raw log-prob) per sequence. The next iteration
// is encoded while the GPU runs this one (`overlap`, engine-schedule.ts).
//
// Sampling is on the GPU (ops/webgpu/sampling.ts): the same kept-set rule as the builtin engine and
// the learner (src/rl/token-distribution.ts), greedy at temperature 0; each sequence draws its
// uniforms from Rng.derive(seed, prompt seedKey ?? index, sampleIndex), one per sampled token, so
// completions do not depend on batching or admission order. LoRA is applied unmerged from resident
// adapter versions (adapters.ts). KV cache dtype: f16 when the base matrices are stored in f16, f32
// when they are f32 (exact agreement with the builtin engine on f32 weights).
//
// Where each part lives: creation, adapter syncs and closing here; the options, stats and shared
// engine state in engine-types.ts; the batching loop (admission, request checks, completions) in
// engine-schedule.ts; one prefill/decode/sample/read-back iteration in engine-iteration.ts, its decode
// step replayed from a recording while its key holds (decode-graph.ts); KV cache sizing in
// engine-kv-cache.ts. The page pool (pages.ts), model passes (step.ts), resident adapter
// versions (adapters.ts) and few-row ops (decode-ops.ts) were separate already.
import type { AdapterLayout, AdapterSnapshot } from '../../model/adapter-layout.js';
import type { LayerLoraSlots } from '../../model/lora.js';
import type { Model } from '../../model/weights.js';
import type { Ops } from '../../ops/types.js';
import { allocTensor, createGpuContext, releaseTensor, type GpuContext } from '../../ops/webgpu/context.js';
import { webgpuOps } from '../../ops/webgpu/index.js';
import { uploadModel } from '../../ops/webgpu/model-upload.js';
import { releasePagedKvCache, type KvDType } from '../../ops/webgpu/paged-kv.js';
import type { GpuTensor } from '../../ops/webgpu/tensor.js';
import type { Completion, PromptInput, SamplingParams } from '../types.js';
import { applyVersion, createAdapterSlots, releaseAdapterSlots, type SyncReport } from './adapters.js';
import { pagesFor } from './pages.js';
import { decodeOps, defaultFoldSwiglu, defaultSkinnyRows } from './decode-ops.js';
import { createSerialQueue, type SerialQueue } from '../../util/serial.js';
import { fusedWeights } from './fused-projections.js';
import type { EngineState, WebGpuEngine, WebGpuEngineOptions } from './engine-types.js';
import { generateNow, zeroStats } from './engine-schedule.js';

export type { WebGpuEngine, WebGpuEngineOptions, WebGpuGenerationStats } from './engine-types.js';

/** What the engine object keeps beside the shared state: its call and sync queues and the last sync's report. */
interface Serving {
  /** Whether the engine made its context (and destroys its device on close) or was given a shared one. */
  owned: boolean;
  calls: SerialQueue;
  syncs: Promise<unknown>;
  lastSync: SyncReport | null;
}

export async function createWebGpuEngine(opts: WebGpuEngineOptions): Promise<WebGpuEngine> {
  const rows = opts.skinnyRows;
  if (rows !== undefined && (typeof rows !== 'number' || !(rows >= 0)))
    throw new Error(
      `webgpu engine: skinnyRows must be a number ≥ 0 (Infinity: always the few-row kernel), got ${rows}`,
    );
  for (const k of ['overlap', 'recordDecode', 'foldNorm'] as const)
    if (opts[k] !== undefined && typeof opts[k] !== 'boolean')
      throw new Error(`webgpu engine: ${k} must be true or false, got ${String(opts[k])}`);
  const ctx = opts.shared?.ctx ?? (await createGpuContext({ disableFeatures: opts.disableFeatures }));
  const owned = !opts.shared;
  const e = engineState(opts, ctx);
  return engineObject(e, { owned, calls: createSerialQueue(), syncs: Promise.resolve(), lastSync: null });
}

/** The base weights on the GPU (uploaded unless shared), the ops over them, and the KV cache dtype that suits them. */
function baseOnGpu(
  opts: WebGpuEngineOptions,
  ctx: GpuContext,
): { model: Model<GpuTensor>; ops: Ops<GpuTensor>; kvDtype: KvDType } {
  const c = opts.model.config;
  const gmodel = opts.shared?.model ?? uploadModel(ctx, opts.model, { weightDtype: opts.weightDtype ?? 'f16' }).model;
  const ops = decodeOps(ctx, webgpuOps(ctx), opts.skinnyRows ?? defaultSkinnyRows(ctx), opts.foldNorm !== false);
  const kvDtype: KvDType = opts.kvDtype ?? (gmodel.weights.layers[0]?.q.dtype === 'f16' ? 'f16' : 'f32');
  if (kvDtype === 'f16' && (c.numKvHeads * c.headDim) % 2)
    throw new Error('webgpu engine: an f16 KV cache needs an even nKvHeads·headDim');
  return { model: gmodel, ops, kvDtype };
}

/** The state the engine's parts share: the sizes, the adapter slots and the persistent buffers; no KV cache yet. */
function engineState(opts: WebGpuEngineOptions, ctx: GpuContext): EngineState {
  const c = opts.model.config;
  const { model, ops, kvDtype } = baseOnGpu(opts, ctx);
  const maxBatch = opts.maxBatch ?? 64;
  const maxContext = opts.maxContext ?? c.maxPositionEmbeddings;
  const pageSize = opts.pageSize ?? 16;
  const maxPrefillTokens = opts.maxPrefillTokens ?? 4096;
  const maxPagesPerSeq = Math.ceil(maxContext / pageSize);
  const eos = new Set(opts.tokenizer.eosTokenIds);
  const decodeText = (ids: ArrayLike<number>): string => (ids.length === 0 ? '' : opts.tokenizer.decode(ids));
  const fused = fusedWeights(model, { qkv: opts.fuseQkv !== false, gateUp: opts.fuseGateUp !== false });
  const stackFor = opts.stackLoraA === false ? null : c;
  const adapters = createAdapterSlots(ctx, opts.residentVersions ?? 2, stackFor);
  return {
    fused,
    foldSwiglu: fused.gateUp !== null && (opts.foldSwiglu ?? defaultFoldSwiglu(ctx)),
    foldNorm: stackFor !== null && opts.foldNorm !== false,
    opts,
    config: c,
    ctx,
    ops,
    model,
    kvDtype,
    maxBatch,
    maxContext,
    pageSize,
    maxPrefillTokens,
    maxPagesPerSeq,
    overlap: opts.overlap ?? true,
    recordDecode: opts.recordDecode ?? true,
    eos,
    decodeText,
    adapters,
    ...engineBuffers(ctx, maxBatch, maxPagesPerSeq),
    kv: null,
    version: 0,
    lastStats: zeroStats(0),
    slotsCache: new WeakMap<AdapterLayout, LayerLoraSlots[]>(),
  };
}

// Persistent per-engine buffers: page table, token per slot, sampler output.
function engineBuffers(
  ctx: GpuContext,
  maxBatch: number,
  maxPagesPerSeq: number,
): { table: GpuTensor; tokens: GpuTensor; out: GpuTensor } {
  const table = allocTensor(ctx, maxBatch * maxPagesPerSeq, 'i32', false, true);
  const tokens = allocTensor(ctx, maxBatch, 'i32', true, true);
  const out = allocTensor(ctx, 3 * maxBatch, 'i32', false, true);
  return { table, tokens, out };
}

function describeEngine(e: EngineState): string {
  const { ctx, model: gmodel, opts, kvDtype, pageSize, maxBatch } = e;
  const shared = opts.shared ? ', on a shared context (one copy)' : '';
  const weights = `weights ${gmodel.weights.layers[0]?.q.dtype ?? 'f32'}${shared}`;
  const features = `features ${ctx.info.features.join(' ') || 'none'}`;
  const cache = `KV cache ${kvDtype}, pages of ${pageSize}`;
  const groups = [
    e.fused.qkv && 'q,k,v',
    e.fused.gateUp && 'gate,up',
    e.foldSwiglu && 'SwiGLU into down_proj',
    e.foldNorm && 'norms into the LoRA A products',
  ];
  const fusedList = groups.filter(Boolean);
  const fused = `fused ${fusedList.join(', ') || 'none'}`;
  const steps = e.recordDecode ? 'decode steps replayed' : 'every decode step encoded';
  return `webgpu (${ctx.info.adapter}; ${weights}; ${cache}; batch ≤ ${maxBatch}; ${fused}; ${steps}; ${features})`;
}

/** The engine as callers see it: generate calls one at a time, adapter syncs, its state, close. */
function engineObject(e: EngineState, serving: Serving): WebGpuEngine {
  const { ctx, kvDtype, adapters, lastStats } = e;
  function generate(prompts: PromptInput[], n: number, sampling: SamplingParams): Promise<Completion[]> {
    return serving.calls.run(() => generateNow(e, prompts, n, sampling));
  }
  return {
    name: 'webgpu',
    description: describeEngine(e),
    ctx,
    kvDtype,
    overlap: e.overlap,
    fused: { qkv: e.fused.qkv !== null, gateUp: e.fused.gateUp !== null, swiglu: e.foldSwiglu, norm: e.foldNorm },
    generate,
    setAdapter: (snapshot: AdapterSnapshot | null) => syncAdapter(e, serving, snapshot),
    get policyVersion() {
      return e.version;
    },
    get lastStats() {
      return lastStats;
    },
    get lastSync() {
      return serving.lastSync;
    },
    get residentVersions() {
      return adapters.resident.map((r) => r.version);
    },
    injectWriteFault() {
      adapters.corruptNext = true;
    },
    close: () => closeEngine(e, serving),
  };
}

function syncAdapter(e: EngineState, serving: Serving, snapshot: AdapterSnapshot | null): Promise<void> {
  // Syncs are serialised among themselves; a generation running meanwhile keeps the version it pinned.
  const run = serving.syncs.then(async () => {
    serving.lastSync = await applyVersion(e.adapters, snapshot);
    e.version = snapshot ? snapshot.version : 0;
  });
  serving.syncs = run.catch(() => undefined);
  return run;
}

async function closeEngine(e: EngineState, serving: Serving): Promise<void> {
  const { ctx, table, tokens, out } = e;
  await serving.calls.idle();
  await serving.syncs;
  releaseAdapterSlots(e.adapters);
  if (e.kv) releasePagedKvCache(ctx, e.kv);
  e.kv = null;
  for (const t of [table, tokens, out]) releaseTensor(ctx, t);
  if (serving.owned) ctx.device.destroy();
}

export { pagesFor };

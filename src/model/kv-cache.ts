// Incremental inference with a KV cache for many sequences at once. A cache has maxSeqs slots of
// maxLen positions; prefill appends each prompt to its slot, decodeStep appends one token to each
// listed slot. Slots not listed are untouched, so sequences may finish (and slots be reset and
// reused) at different times. Attention runs through the same kernel entry as the training
// forward, so decode logits equal the full forward's up to float32 summation order.
//
// After the first calls at a given batch size, decodeStep allocates nothing: the workspace and
// the logits buffer are reused (the returned logits are valid until the next call on this cache).
import type { FloatArray } from '../ops/matmul.js';
import type { Ops } from '../ops/types.js';
import { cpuOps } from '../ops/cpu/index.js';
import { attentionForward } from '../ops/cpu/attention.js';
import type { Qwen2Config } from './config.js';
import { allocLayerBuffers, layerForward, type LayerBuffers, type LayerContext } from './layer.js';
import { loraSlots, type LayerLoraSlots, type LoraAdapter } from './lora.js';
import { floatMaker } from './train.js';
import type { Model } from './weights.js';

export interface KvCache<F extends FloatArray = Float32Array> {
  config: Qwen2Config;
  maxSeqs: number;
  maxLen: number;
  /** Per layer: [maxSeqs, maxLen, numKvHeads·headDim]. */
  k: F[];
  v: F[];
  /** Tokens cached per slot. */
  lengths: Int32Array;
  /** Reused buffers (grown on demand). */
  ws: {
    rows: number;
    buf: LayerBuffers<F> | null;
    slotsKey: string;
    x: F | null;
    positions: Int32Array;
    rowStart: Int32Array;
    hidden: F | null;
    rstd: F | null;
    logits: F | null;
    scratch: Float64Array;
  };
  make: (n: number) => F;
}

export function createKvCache<F extends FloatArray>(model: Model<F>, maxSeqs: number, maxLen: number): KvCache<F> {
  const c = model.config;
  if (!Number.isInteger(maxSeqs) || maxSeqs < 1)
    throw new Error(`createKvCache: maxSeqs must be a positive integer, got ${maxSeqs}`);
  if (!Number.isInteger(maxLen) || maxLen < 1)
    throw new Error(`createKvCache: maxLen must be a positive integer, got ${maxLen}`);
  const make = floatMaker(model.weights.embed);
  const KV = c.numKvHeads * c.headDim;
  const k: F[] = [],
    v: F[] = [];
  for (let l = 0; l < c.numLayers; l++) {
    k.push(make(maxSeqs * maxLen * KV));
    v.push(make(maxSeqs * maxLen * KV));
  }
  return {
    config: c,
    maxSeqs,
    maxLen,
    k,
    v,
    lengths: new Int32Array(maxSeqs),
    ws: {
      rows: 0,
      buf: null,
      slotsKey: '',
      x: null,
      positions: new Int32Array(0),
      rowStart: new Int32Array(maxSeqs + 1),
      hidden: null,
      rstd: null,
      logits: null,
      scratch: new Float64Array(maxLen),
    },
    make,
  };
}

/** Forget a slot's tokens so it can hold a new sequence. */
export function resetSlot(cache: KvCache<FloatArray>, slot: number): void {
  cache.lengths[slot] = 0;
}

export interface AppendOptions {
  ops?: Ops<FloatArray>;
  /** Return logits for every appended token (rows in input order) instead of the last per slot. */
  allLogits?: boolean;
}

/**
 * Appends tokens[i] to slot slots[i] (all layers) and returns logits [n, vocab] of each slot's last
 * appended token (or [Σ len, vocab] with allLogits). loraScale: alpha/r for the policy, 0 = base.
 */
export function appendTokens<F extends FloatArray>(
  model: Model<F>,
  adapter: LoraAdapter<F> | null,
  loraScale: number,
  cache: KvCache<F>,
  slots: ArrayLike<number>,
  tokens: ArrayLike<number>[],
  opts: AppendOptions = {},
): F {
  const c = model.config,
    ops = opts.ops ?? cpuOps;
  const n = slots.length;
  if (tokens.length !== n) throw new Error(`appendTokens: ${n} slots but ${tokens.length} token lists`);
  const rows = layoutRows(cache, slots, tokens);
  const lslots: LayerLoraSlots[] | null = adapter ? loraSlots(c, adapter.settings, adapter.layout) : null;
  const buf = ensureLayerWorkspace(c, cache, adapter, lslots, rows);
  embedTokens(model, cache, slots, tokens, buf);
  const ctx: LayerContext<F> = {
    config: c,
    ops: ops as unknown as Ops<F>,
    rope: ops.ropeTable(c.ropeTheta, c.headDim, cache.maxLen),
    scale: loraScale,
    dropout: null,
    layer: 0,
  };
  runLayers(model, adapter, lslots, ctx, buf, rows, cache.ws.positions, cachedAttention(cache, slots, ctx));
  for (let i = 0; i < n; i++) cache.lengths[slots[i]!]! += tokens[i]!.length;
  return finalLogits(model, cache, ops, buf, rows, n, opts.allLogits === true);
}

/** Checks every slot and list, fills ws.rowStart (slot i's rows start there); the total row count. */
function layoutRows(cache: KvCache<FloatArray>, slots: ArrayLike<number>, tokens: ArrayLike<number>[]): number {
  const ws = cache.ws,
    n = slots.length;
  let rows = 0;
  ws.rowStart[0] = 0;
  for (let i = 0; i < n; i++) {
    const s = slots[i]!;
    if (!Number.isInteger(s) || s < 0 || s >= cache.maxSeqs)
      throw new Error(`appendTokens: slot ${s} outside [0, ${cache.maxSeqs})`);
    for (let j = 0; j < i; j++) if (slots[j] === s) throw new Error(`appendTokens: slot ${s} listed twice`);
    const len = tokens[i]!.length;
    if (len < 1) throw new Error(`appendTokens: empty token list for slot ${s}`);
    if (cache.lengths[s]! + len > cache.maxLen)
      throw new Error(
        `appendTokens: slot ${s} would hold ${cache.lengths[s]! + len} tokens, cache maxLen is ${cache.maxLen}`,
      );
    rows += len;
    ws.rowStart[i + 1] = rows;
  }
  return rows;
}

/** The layer buffers for `rows` rows, reallocated only when they grow or the LoRA shapes change. */
function ensureLayerWorkspace<F extends FloatArray>(
  c: Qwen2Config,
  cache: KvCache<F>,
  adapter: LoraAdapter<F> | null,
  lslots: LayerLoraSlots[] | null,
  rows: number,
): LayerBuffers<F> {
  const ws = cache.ws;
  const key = adapter ? `${adapter.settings.r}:${adapter.settings.targetModules.join(',')}` : '';
  if (!ws.buf || ws.rows < rows || ws.slotsKey !== key) {
    const cap = Math.max(rows, ws.rows);
    ws.buf = allocLayerBuffers(c, cap, lslots ? lslots[0]! : null, cache.make);
    ws.x = cache.make(cap * c.hiddenSize);
    ws.positions = new Int32Array(cap);
    ws.rows = cap;
    ws.slotsKey = key;
  }
  return ws.buf;
}

/** Embeds each slot's new tokens into buf.x and records their positions (after the slot's cached ones). */
function embedTokens<F extends FloatArray>(
  model: Model<F>,
  cache: KvCache<F>,
  slots: ArrayLike<number>,
  tokens: ArrayLike<number>[],
  buf: LayerBuffers<F>,
): void {
  const ws = cache.ws,
    embed = model.weights.embed,
    positions = ws.positions;
  const D = model.config.hiddenSize,
    V = model.config.vocabSize;
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i]!,
      toks = tokens[i]!,
      r0 = ws.rowStart[i]!;
    for (let j = 0; j < toks.length; j++) {
      const id = toks[j]!;
      if (!Number.isInteger(id) || id < 0 || id >= V)
        throw new Error(`appendTokens: token id ${id} (slot ${s}) outside vocabulary [0, ${V})`);
      positions[r0 + j] = cache.lengths[s]! + j;
      buf.x.set(embed.subarray(id * D, (id + 1) * D), (r0 + j) * D);
    }
  }
}

/**
 * The attention step of layerForward against the cache: stores each slot's new K/V rows after its
 * cached ones, then attends over the slot's whole prefix. The layer is ctx.layer (set by runLayers
 * before each layerForward), so the closure needs no state of its own.
 */
function cachedAttention<F extends FloatArray>(
  cache: KvCache<F>,
  slots: ArrayLike<number>,
  ctx: LayerContext<F>,
): (b: LayerBuffers<F>) => void {
  const c = ctx.config,
    ws = cache.ws,
    n = slots.length;
  const Q = c.numHeads * c.headDim,
    KV = c.numKvHeads * c.headDim;
  const stride = cache.maxLen * KV;
  return (b: LayerBuffers<F>): void => {
    const kc = cache.k[ctx.layer]!,
      vc = cache.v[ctx.layer]!;
    for (let i = 0; i < n; i++) {
      const s = slots[i]!,
        r0 = ws.rowStart[i]!,
        r1 = ws.rowStart[i + 1]!,
        first = cache.lengths[s]!;
      const base = s * stride;
      kc.set(b.k.subarray(r0 * KV, r1 * KV), base + first * KV);
      vc.set(b.v.subarray(r0 * KV, r1 * KV), base + first * KV);
      const end = base + (first + r1 - r0) * KV;
      attentionForward(
        b.attn.subarray(r0 * Q, r1 * Q),
        b.lse.subarray(r0 * c.numHeads, r1 * c.numHeads),
        b.q.subarray(r0 * Q, r1 * Q),
        kc.subarray(base, end),
        vc.subarray(base, end),
        { rows: r1 - r0, firstPos: first, nHeads: c.numHeads, nKvHeads: c.numKvHeads, headDim: c.headDim },
        ws.scratch,
      );
    }
  };
}

/** Every decoder layer in turn on buf.x (each layer's output copied back as the next one's input). */
function runLayers<F extends FloatArray>(
  model: Model<F>,
  adapter: LoraAdapter<F> | null,
  lslots: LayerLoraSlots[] | null,
  ctx: LayerContext<F>,
  buf: LayerBuffers<F>,
  rows: number,
  positions: Int32Array,
  attend: (b: LayerBuffers<F>) => void,
): void {
  const c = model.config,
    w = model.weights;
  for (let layer = 0; layer < c.numLayers; layer++) {
    ctx.layer = layer;
    layerForward(
      ctx,
      w.layers[layer]!,
      lslots ? lslots[layer]! : null,
      adapter ? adapter.params : null,
      buf,
      rows,
      positions,
      attend,
    );
    buf.x.set(buf.out.subarray(0, rows * c.hiddenSize));
  }
}

/** Final norm + LM head on the last row of each slot (every row with allLogits); a view of ws.logits. */
function finalLogits<F extends FloatArray>(
  model: Model<F>,
  cache: KvCache<F>,
  ops: Ops<FloatArray>,
  buf: LayerBuffers<F>,
  rows: number,
  n: number,
  allLogits: boolean,
): F {
  const c = model.config,
    w = model.weights,
    ws = cache.ws;
  const D = c.hiddenSize,
    V = c.vocabSize;
  // Final norm + LM head on the rows whose logits are wanted.
  const outRows = allLogits ? rows : n;
  if (!ws.hidden || ws.hidden.length < outRows * D) {
    ws.hidden = cache.make(outRows * D);
    ws.rstd = cache.make(outRows);
    ws.logits = cache.make(outRows * V);
  }
  const hin = ws.x!;
  for (let i = 0; i < outRows; i++) {
    const r = allLogits ? i : ws.rowStart[i + 1]! - 1;
    hin.set(buf.x.subarray(r * D, (r + 1) * D), i * D);
  }
  ops.rmsnormForward(ws.hidden, ws.rstd!, hin, w.finalNorm, outRows, D, c.rmsNormEps);
  ops.matmulNT(ws.logits!, ws.hidden, w.lmHead, outRows, D, V, false);
  return ws.logits!.subarray(0, outRows * V) as F;
}

/** Prefill a batch of prompts (different lengths) into the given slots; logits of each prompt's last token. */
export function prefill<F extends FloatArray>(
  model: Model<F>,
  adapter: LoraAdapter<F> | null,
  loraScale: number,
  cache: KvCache<F>,
  slots: ArrayLike<number>,
  prompts: ArrayLike<number>[],
  opts: AppendOptions = {},
): F {
  for (let i = 0; i < slots.length; i++) cache.lengths[slots[i]!] = 0;
  return appendTokens(model, adapter, loraScale, cache, slots, prompts, opts);
}

/** One decode step: appends tokens[i] to slots[i]; logits [n, vocab] (a view valid until the next call). */
export function decodeStep<F extends FloatArray>(
  model: Model<F>,
  adapter: LoraAdapter<F> | null,
  loraScale: number,
  cache: KvCache<F>,
  slots: ArrayLike<number>,
  tokens: ArrayLike<number>,
  opts: AppendOptions = {},
): F {
  const lists: ArrayLike<number>[] = [];
  for (let i = 0; i < tokens.length; i++) lists.push([tokens[i]!]);
  return appendTokens(model, adapter, loraScale, cache, slots, lists, opts);
}

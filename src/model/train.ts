// Training forward and backward over a right-padded batch [B, T], written against the operation
// interface (ops/types.ts), so one code path runs on the cpu and on WebGPU.
//
// Sequences are packed (padding is never computed): row r of every activation is one real token.
// Log-probs are produced only at scored positions t ∈ [scoreFrom[b], lengths[b]) — log p(ids[b,t] |
// ids[b,<t]) read from the hidden state at t−1 — so the LM head and its backward cover completion
// tokens only, never prompt positions, and never hold more than a chunk of rows × vocab logits.
//
// Memory: with `recompute` only each layer's input is kept and the backward re-runs the layer
// forward before differentiating it (gradient checkpointing per layer); dropout masks then come
// from the counter-based source so the recomputation reproduces them exactly.
import type { FloatArray } from '../ops/matmul.js';
import type { Ops } from '../ops/types.js';
import { cpuOps } from '../ops/cpu/index.js';
import type { Rng } from '../util/rng.js';
import { allocLayerBuffers, layerForward, type LayerBuffers, type LayerContext, type LayerDropout } from './layer.js';
import { layerBackward } from './layer-backward.js';
import { loraSlots, type LayerLoraSlots, type LoraAdapter } from './lora.js';
import type { Model, ModelWeights } from './weights.js';
import { floatMaker, packRows, scoredRows, validateBatch, type PackedRows, type TrainBatch } from './train-batch.js';

export { floatMaker, packRows, validateBatch, type TrainBatch } from './train-batch.js';

export interface ForwardOptions<T = FloatArray> {
  /** Log-probs under logits / temperature (TRL convention). Default 1. */
  temperature?: number;
  /** Keep activations for the backward. Default false (inference / reference log-probs). */
  saveForBackward?: boolean;
  /** Keep only layer inputs and recompute each layer in the backward (needs counter dropout). */
  recompute?: boolean;
  /** LoRA dropout from a sequential generator (cpu learner); applied when adapter dropout > 0. */
  dropoutRng?: Rng;
  /** LoRA dropout from the counter-based source under this seed (any device; replayable). */
  dropoutSeed?: number;
  /** Also compute the entropy of each scored position's distribution. */
  entropy?: boolean;
  /** Also return the raw [M, vocab] logits (small models only: it is what the chunked LM head avoids). */
  keepLogits?: boolean;
  ops?: Ops<T>;
}

export interface SavedForward<T> {
  model: Model<T>;
  adapter: LoraAdapter<T> | null;
  slots: LayerLoraSlots[] | null;
  ctx: LayerContext<T>;
  batch: TrainBatch;
  rows: number;
  rowStart: Int32Array;
  positions: Int32Array;
  rowIds: Int32Array;
  /** Every layer's intermediates (saveForBackward without recompute). */
  layers: LayerBuffers<T>[];
  /** Every layer's input (recompute). */
  inputs: T[];
  /** Scored rows: hidden row index, target id, flat [B·T] index. */
  scoredRow: Int32Array;
  scoredTarget: Int32Array;
  scoredFlat: Int32Array;
  hsIn: T;
  hs: T;
  rstdF: T;
  lse: T;
  invTemp: number;
  /** Top-p/top-k scoring: the kept-set logits the backward uses (see Ops.lmHeadBackward). */
  keptLogits?: T | null;
}

export interface ScoredForward<T> {
  /** [M]: log-prob of each scored token, in (sequence, position) order. */
  lp: T;
  /** [M] entropies when asked for. */
  entropy: T | null;
  /** [M, vocab] raw logits when asked for (keepLogits). */
  logits: T | null;
  /** Flat [B·T] index of each scored token. */
  scoredFlat: Int32Array;
  saved: SavedForward<T> | null;
}

function layerDropout<T>(
  adapter: LoraAdapter<T> | null,
  loraScale: number,
  opts: ForwardOptions<T>,
): LayerDropout | null {
  const p = adapter ? adapter.settings.dropout : 0;
  if (!(p > 0) || loraScale === 0) return null;
  if (opts.dropoutSeed !== undefined) return { kind: 'counter', p, seed: opts.dropoutSeed >>> 0 };
  if (opts.dropoutRng) {
    if (opts.recompute)
      throw new Error('forward: recompute needs counter-based dropout (dropoutSeed), not a sequential generator');
    return { kind: 'sequential', p, rng: opts.dropoutRng };
  }
  return null;
}

/** The forward over the scored positions, on any ops implementation. */
export function forwardScored<T>(
  model: Model<T>,
  adapter: LoraAdapter<T> | null,
  loraScale: number,
  batch: TrainBatch,
  ops: Ops<T>,
  opts: ForwardOptions<T> = {},
): ScoredForward<T> {
  const c = model.config,
    w = model.weights;
  validateBatch(batch, c.vocabSize);
  const packed = packRows(batch);
  const like = w.finalNorm;
  const make = (n: number): T => ops.alloc(n, like);
  const slots = adapter ? loraSlots(c, adapter.settings, adapter.layout) : null;
  const dropout = layerDropout(adapter, loraScale, opts);
  const ctx: LayerContext<T> = {
    config: c,
    ops,
    rope: ops.ropeTable(c.ropeTheta, c.headDim, packed.maxLen),
    scale: loraScale,
    dropout,
    layer: 0,
  };
  const save = opts.saveForBackward === true;
  const recompute = save && opts.recompute === true;
  const pass = forwardLayers(model, adapter, slots, ctx, packed, make, save, recompute);
  const { scoredRow, scoredTarget, scoredFlat } = scoredRows(batch, packed.rowStart);
  const head = scoredHead(model, ops, make, pass.x, scoredRow, scoredTarget, opts);
  const saved: SavedForward<T> | null = save
    ? {
        model,
        adapter,
        slots,
        ctx,
        batch,
        rows: packed.rows,
        rowStart: packed.rowStart,
        positions: packed.positions,
        rowIds: packed.rowIds,
        layers: pass.layers,
        inputs: pass.inputs,
        scoredRow,
        scoredTarget,
        scoredFlat,
        hsIn: head.hsIn,
        hs: head.hs,
        rstdF: head.rstdF,
        lse: head.lse,
        invTemp: head.invTemp,
      }
    : null;
  return { lp: head.lp, entropy: head.entropy, logits: head.logits, scoredFlat, saved };
}

/** What the decoder layers leave: the last layer's output and what the backward keeps of them. */
interface LayersPass<T> {
  /** [rows, D]: the last layer's output. */
  x: T;
  /** Every layer's intermediates (save without recompute). */
  layers: LayerBuffers<T>[];
  /** Every layer's input (recompute). */
  inputs: T[];
}

/** Embeds the packed rows and runs every decoder layer, keeping for the backward what save/recompute ask. */
function forwardLayers<T>(
  model: Model<T>,
  adapter: LoraAdapter<T> | null,
  slots: LayerLoraSlots[] | null,
  ctx: LayerContext<T>,
  packed: PackedRows,
  make: (n: number) => T,
  save: boolean,
  recompute: boolean,
): LayersPass<T> {
  const c = model.config,
    w = model.weights,
    ops = ctx.ops,
    rows = packed.rows;
  const D = c.hiddenSize;
  const heads = { nHeads: c.numHeads, nKvHeads: c.numKvHeads, headDim: c.headDim };
  const attend = (buf: LayerBuffers<T>): void =>
    ops.attentionForward(buf.attn, buf.lse, buf.q, buf.k, buf.v, packed.rowStart, heads);
  const layers: LayerBuffers<T>[] = [];
  const inputs: T[] = [];
  let reuse: LayerBuffers<T> | null = null;
  let x = make(rows * D);
  ops.gatherRows(x, w.embed, packed.rowIds, D);
  for (let l = 0; l < c.numLayers; l++) {
    ctx.layer = l;
    const slot = slots ? slots[l]! : null;
    let buf: LayerBuffers<T>;
    if (recompute) {
      inputs.push(x);
      ops.beginScope();
      buf = allocLayerBuffers(c, rows, slot, make, { dropout: !!ctx.dropout, x });
    } else if (save) {
      buf = allocLayerBuffers(c, rows, slot, make, { dropout: !!ctx.dropout, x });
      layers.push(buf);
    } else {
      // Without saving, one buffer set serves every layer (all layers have the same LoRA shapes).
      buf = reuse ??= allocLayerBuffers(c, rows, slot, make, { dropout: !!ctx.dropout });
      ops.copy(buf.x, x, rows * D);
    }
    layerForward(ctx, w.layers[l]!, slot, adapter ? adapter.params : null, buf, rows, packed.positions, attend);
    if (recompute) ops.endScope([buf.out]);
    x = buf.out;
  }
  return { x, layers, inputs };
}

/** The final norm and LM head on the scored rows: log-probs (and entropies, logits) under 1/temperature. */
function scoredHead<T>(
  model: Model<T>,
  ops: Ops<T>,
  make: (n: number) => T,
  x: T,
  scoredRow: Int32Array,
  scoredTarget: Int32Array,
  opts: ForwardOptions<T>,
): { lp: T; entropy: T | null; logits: T | null; hsIn: T; hs: T; rstdF: T; lse: T; invTemp: number } {
  const c = model.config,
    w = model.weights;
  const D = c.hiddenSize,
    V = c.vocabSize;
  const M = scoredRow.length;
  const hsIn = make(M * D),
    hs = make(M * D),
    rstdF = make(M);
  ops.gatherRows(hsIn, x, scoredRow, D);
  ops.rmsnormForward(hs, rstdF, hsIn, w.finalNorm, M, D, c.rmsNormEps);
  const temperature = opts.temperature ?? 1;
  if (!(temperature > 0)) throw new Error(`forwardTrain: temperature must be > 0, got ${temperature}`);
  const invTemp = 1 / temperature;
  const lse = make(M),
    lp = make(M),
    entropy = opts.entropy ? make(M) : null;
  const logits = opts.keepLogits ? make(M * V) : null;
  ops.lmHeadForward(lp, lse, entropy, hs, w.lmHead, scoredTarget, M, D, V, invTemp, logits);
  return { lp, entropy, logits, hsIn, hs, rstdF, lse, invTemp };
}

export interface TrainGrads<T> {
  /** Accumulates ∂L/∂(flat LoRA block), same layout as adapter.params. */
  lora?: T | null;
  /** Accumulates ∂L/∂(every base weight) — for training a model from scratch. */
  base?: ModelWeights<T> | null;
}

/** Backward of forwardScored given dlp [M] (∂L/∂lp, scored order); gradients accumulate into grads. */
export function backwardScored<T>(saved: SavedForward<T>, dlp: T, grads: TrainGrads<T>): void {
  const { model, ctx, rows } = saved;
  const c = model.config,
    w = model.weights,
    ops = ctx.ops;
  const D = c.hiddenSize,
    V = c.vocabSize;
  const make = (n: number): T => ops.alloc(n, w.finalNorm);
  const M = saved.scoredRow.length;
  const base = grads.base ?? null;
  const dhs = make(M * D);
  ops.lmHeadBackward(
    dhs,
    base ? base.lmHead : null,
    dlp,
    saved.hs,
    w.lmHead,
    saved.lse,
    saved.scoredTarget,
    M,
    D,
    V,
    saved.invTemp,
    saved.keptLogits ?? null,
  );
  const dhsIn = make(M * D);
  ops.rmsnormBackward(dhsIn, base ? base.finalNorm : null, dhs, saved.hsIn, w.finalNorm, saved.rstdF, M, D);
  const dh = make(rows * D);
  ops.scatterAddRows(dh, dhsIn, saved.scoredRow, D);
  const heads = { nHeads: c.numHeads, nKvHeads: c.numKvHeads, headDim: c.headDim };
  const attend = (buf: LayerBuffers<T>): void =>
    ops.attentionForward(buf.attn, buf.lse, buf.q, buf.k, buf.v, saved.rowStart, heads);
  const params = saved.adapter ? saved.adapter.params : null;
  for (let l = c.numLayers - 1; l >= 0; l--) {
    ops.beginScope();
    const slot = saved.slots ? saved.slots[l]! : null;
    const ctxL: LayerContext<T> = { ...ctx, layer: l };
    let S: LayerBuffers<T>;
    if (saved.inputs.length) {
      S = allocLayerBuffers(c, rows, slot, make, { dropout: !!ctx.dropout, x: saved.inputs[l]! });
      layerForward(ctxL, w.layers[l]!, slot, params, S, rows, saved.positions, attend);
    } else {
      S = saved.layers[l]!;
    }
    layerBackward(
      {
        ctx: ctxL,
        lw: w.layers[l]!,
        S,
        slots: slot,
        params,
        loraGrad: grads.lora ?? null,
        maxR: saved.adapter ? saved.adapter.settings.r : 1,
        baseGrad: base ? base.layers[l]! : null,
        rows,
        rowStart: saved.rowStart,
        positions: saved.positions,
      },
      dh,
    );
    ops.endScope();
  }
  if (base) ops.scatterAddRows(base.embed, dh, saved.rowIds, D);
}

// --- the cpu entry points (synchronous, [B·T] log-prob layout) -------------------------------------

export interface ForwardResult<F extends FloatArray> {
  /** [B·T]: log-prob at scored positions, 0 elsewhere. */
  logp: F;
  saved: SavedForward<F> | null;
  /** Raw logits [M, vocab] of the scored rows in (sequence, position) order. */
  logits: F;
  /** [M] entropies when asked for (opts.entropy). */
  entropy: F | null;
}

/** Scatters scored-order values into the [B·T] layout (0 elsewhere). */
export function scatterScored<F extends FloatArray>(out: F, lp: ArrayLike<number>, scoredFlat: Int32Array): F {
  for (let i = 0; i < scoredFlat.length; i++) out[scoredFlat[i]!] = lp[i]!;
  return out;
}

export function forwardTrain<F extends FloatArray>(
  model: Model<F>,
  adapter: LoraAdapter<F> | null,
  loraScale: number,
  batch: TrainBatch,
  opts: ForwardOptions<FloatArray> = {},
): ForwardResult<F> {
  const r = forwardScored<FloatArray>(model, adapter, loraScale, batch, opts.ops ?? cpuOps, {
    keepLogits: true,
    ...opts,
  });
  const logp = scatterScored(floatMaker(model.weights.embed)(batch.lengths.length * batch.seqLen), r.lp, r.scoredFlat);
  return { logp, saved: r.saved as SavedForward<F> | null, logits: r.logits as F, entropy: r.entropy as F | null };
}

/**
 * Backward of forwardTrain given dLogp [B·T] (∂L/∂logp; only scored positions are read).
 * Gradients are accumulated into `grads`.
 */
export function backwardTrain<F extends FloatArray>(
  saved: SavedForward<F>,
  dLogp: FloatArray,
  grads: TrainGrads<F>,
): void {
  const M = saved.scoredFlat.length;
  const dl = floatMaker(saved.model.weights.embed)(M);
  for (let i = 0; i < M; i++) dl[i] = dLogp[saved.scoredFlat[i]!]!;
  backwardScored(saved, dl, grads);
}

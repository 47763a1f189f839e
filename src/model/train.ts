// Training forward and backward over a right-padded batch [B, T].
//
// Sequences are packed (padding is never computed): row r of every activation is one real token.
// Log-probs are produced only at scored positions t ∈ [scoreFrom[b], lengths[b]) — log p(ids[b,t] |
// ids[b,<t]) read from the hidden state at t−1 — so the [rows, vocab] logits and their backward
// cover completion tokens only, never prompt positions.
import type { FloatArray } from '../ops/matmul.js';
import type { Ops } from '../ops/types.js';
import { cpuOps } from '../ops/cpu/index.js';
import type { Rng } from '../util/rng.js';
import { allocLayerBuffers, layerForward, type LayerBuffers, type LayerContext } from './layer.js';
import { layerBackward } from './layer-backward.js';
import { loraSlots, type LayerLoraSlots, type LoraAdapter } from './lora.js';
import type { Model, ModelWeights } from './weights.js';

export interface TrainBatch {
  /** Token ids [B, T], right-padded (pad values are ignored). */
  ids: Int32Array;
  /** Real length of each sequence (1..T). */
  lengths: Int32Array;
  /** T: the row stride of ids and of the log-prob arrays. */
  seqLen: number;
  /** First position whose token is scored (≥ 1), per sequence; usually the prompt length. */
  scoreFrom: Int32Array;
}

export interface ForwardOptions {
  /** Log-probs under logits / temperature (TRL convention). Default 1. */
  temperature?: number;
  /** Keep activations for backwardTrain. Default false (inference / reference log-probs). */
  saveForBackward?: boolean;
  /** LoRA dropout source; dropout is applied only when given and adapter dropout > 0. */
  dropoutRng?: Rng;
  ops?: Ops;
}

export interface SavedForward<F extends FloatArray> {
  model: Model<F>;
  adapter: LoraAdapter<F> | null;
  slots: LayerLoraSlots[] | null;
  ctx: LayerContext;
  batch: TrainBatch;
  rows: number;
  rowStart: Int32Array;
  positions: Int32Array;
  rowIds: Int32Array;
  layers: LayerBuffers<F>[];
  /** Final hidden state rows (output of the last layer) [rows, D]. */
  hidden: F;
  /** Scored rows: hidden row index, target id, flat [B·T] index. */
  scoredRow: Int32Array;
  scoredTarget: Int32Array;
  scoredFlat: Int32Array;
  hsIn: F; hs: F; rstdF: F;
  logits: F; lse: F;
  invTemp: number;
}

export interface ForwardResult<F extends FloatArray> {
  /** [B·T]: log-prob at scored positions, 0 elsewhere. */
  logp: F;
  saved: SavedForward<F> | null;
  /**
   * Raw logits [M, vocab] of the scored rows in (sequence, position) order — row m predicts the
   * m-th scored token. Overwritten by backwardTrain when saved; copy first if needed after it.
   */
  logits: F;
}

export function validateBatch(batch: TrainBatch, vocab: number): void {
  const B = batch.lengths.length, T = batch.seqLen;
  if (batch.ids.length !== B * T) throw new Error(`batch: ids has ${batch.ids.length} entries, expected B·T = ${B}·${T}`);
  if (batch.scoreFrom.length !== B) throw new Error(`batch: scoreFrom has ${batch.scoreFrom.length} entries, expected B = ${B}`);
  for (let b = 0; b < B; b++) {
    const len = batch.lengths[b]!;
    if (len < 1 || len > T) throw new Error(`batch: lengths[${b}] = ${len} outside [1, ${T}]`);
    if (batch.scoreFrom[b]! < 1) throw new Error(`batch: scoreFrom[${b}] = ${batch.scoreFrom[b]} must be ≥ 1 (position 0 has no prefix)`);
    for (let t = 0; t < len; t++) {
      const id = batch.ids[b * T + t]!;
      if (id < 0 || id >= vocab) throw new Error(`batch: ids[${b}, ${t}] = ${id} outside vocabulary [0, ${vocab})`);
    }
  }
}

export function floatMaker<F extends FloatArray>(like: F): (n: number) => F {
  const Ctor = like.constructor as new (n: number) => F;
  return (n: number) => new Ctor(n);
}

export function forwardTrain<F extends FloatArray>(model: Model<F>, adapter: LoraAdapter<F> | null, loraScale: number, batch: TrainBatch, opts: ForwardOptions = {}): ForwardResult<F> {
  const c = model.config, w = model.weights;
  validateBatch(batch, c.vocabSize);
  const ops = opts.ops ?? cpuOps;
  const make = floatMaker(w.embed);
  const B = batch.lengths.length, T = batch.seqLen, D = c.hiddenSize, V = c.vocabSize;
  const Q = c.numHeads * c.headDim, KV = c.numKvHeads * c.headDim;
  const rowStart = new Int32Array(B + 1);
  for (let b = 0; b < B; b++) rowStart[b + 1] = rowStart[b]! + batch.lengths[b]!;
  const rows = rowStart[B]!;
  const positions = new Int32Array(rows), rowIds = new Int32Array(rows);
  let maxLen = 0;
  for (let b = 0; b < B; b++) {
    const len = batch.lengths[b]!;
    maxLen = Math.max(maxLen, len);
    for (let t = 0; t < len; t++) { positions[rowStart[b]! + t] = t; rowIds[rowStart[b]! + t] = batch.ids[b * T + t]!; }
  }
  const slots = adapter ? loraSlots(c, adapter.settings, adapter.layout) : null;
  const useDrop = !!(adapter && opts.dropoutRng && adapter.settings.dropout > 0 && loraScale !== 0);
  const ctx: LayerContext = {
    config: c, ops, rope: ops.ropeTable(c.ropeTheta, c.headDim, maxLen), scale: loraScale,
    dropout: useDrop ? { p: adapter!.settings.dropout, rng: opts.dropoutRng! } : null,
  };
  const scratch = new Float64Array(maxLen);
  const attend = (buf: LayerBuffers<F>): void => {
    for (let b = 0; b < B; b++) {
      const r0 = rowStart[b]!, r1 = rowStart[b + 1]!;
      ops.attentionForward(buf.attn.subarray(r0 * Q, r1 * Q), buf.lse.subarray(r0 * c.numHeads, r1 * c.numHeads),
        buf.q.subarray(r0 * Q, r1 * Q), buf.k.subarray(r0 * KV, r1 * KV), buf.v.subarray(r0 * KV, r1 * KV),
        { rows: r1 - r0, firstPos: 0, nHeads: c.numHeads, nKvHeads: c.numKvHeads, headDim: c.headDim }, scratch);
    }
  };
  const save = opts.saveForBackward === true;
  const layers: LayerBuffers<F>[] = [];
  let reuse: LayerBuffers<F> | null = null;
  let x = make(rows * D);
  for (let r = 0; r < rows; r++) x.set(w.embed.subarray(rowIds[r]! * D, (rowIds[r]! + 1) * D), r * D);
  for (let l = 0; l < c.numLayers; l++) {
    // Without saving, one buffer set serves every layer (all layers have the same LoRA shapes).
    const buf: LayerBuffers<F> = save || !reuse ? allocLayerBuffers(c, rows, slots ? slots[l]! : null, make, useDrop) : reuse;
    buf.x.set(x.subarray(0, rows * D));
    layerForward(ctx, w.layers[l]!, slots ? slots[l]! : null, adapter ? adapter.params : null, buf, rows, positions, attend);
    if (save) layers.push(buf);
    else reuse = buf;
    x = buf.out;
  }
  // Scored rows: the hidden state at t−1 predicts the token at t.
  let M = 0;
  for (let b = 0; b < B; b++) M += Math.max(0, batch.lengths[b]! - batch.scoreFrom[b]!);
  const scoredRow = new Int32Array(M), scoredTarget = new Int32Array(M), scoredFlat = new Int32Array(M);
  let m = 0;
  for (let b = 0; b < B; b++) {
    for (let t = batch.scoreFrom[b]!; t < batch.lengths[b]!; t++, m++) {
      scoredRow[m] = rowStart[b]! + t - 1;
      scoredTarget[m] = batch.ids[b * T + t]!;
      scoredFlat[m] = b * T + t;
    }
  }
  const hsIn = make(M * D), hs = make(M * D), rstdF = make(M);
  for (let i = 0; i < M; i++) hsIn.set(x.subarray(scoredRow[i]! * D, (scoredRow[i]! + 1) * D), i * D);
  ops.rmsnormForward(hs, rstdF, hsIn, w.finalNorm, M, D, c.rmsNormEps);
  const logits = make(M * V), lse = make(M), lp = make(M);
  ops.matmulNT(logits, hs, w.lmHead, M, D, V, false);
  const temperature = opts.temperature ?? 1;
  if (!(temperature > 0)) throw new Error(`forwardTrain: temperature must be > 0, got ${temperature}`);
  const invTemp = 1 / temperature;
  ops.logSoftmaxGatherForward(lp, lse, logits, scoredTarget, M, V, invTemp);
  const logp = make(B * T);
  for (let i = 0; i < M; i++) logp[scoredFlat[i]!] = lp[i]!;
  const saved: SavedForward<F> | null = save
    ? { model, adapter, slots, ctx, batch, rows, rowStart, positions, rowIds, layers, hidden: x, scoredRow, scoredTarget, scoredFlat, hsIn, hs, rstdF, logits, lse, invTemp }
    : null;
  return { logp, saved, logits };
}

export interface TrainGrads<F extends FloatArray> {
  /** Accumulates ∂L/∂(flat LoRA block), same layout as adapter.params. */
  lora?: F | null;
  /** Accumulates ∂L/∂(every base weight) — for training a model from scratch. */
  base?: ModelWeights<F> | null;
}

/**
 * Backward of forwardTrain given dLogp [B·T] (∂L/∂logp; only scored positions are read).
 * Consumes `saved` (its logits buffer is overwritten). Gradients are accumulated into `grads`.
 */
export function backwardTrain<F extends FloatArray>(saved: SavedForward<F>, dLogp: FloatArray, grads: TrainGrads<F>): void {
  const { model, ctx, rows } = saved;
  const c = model.config, w = model.weights, ops = ctx.ops;
  const D = c.hiddenSize, V = c.vocabSize;
  const make = floatMaker(w.embed);
  const M = saved.scoredRow.length;
  const dl = make(M);
  for (let i = 0; i < M; i++) dl[i] = dLogp[saved.scoredFlat[i]!]!;
  ops.logSoftmaxGatherBackward(saved.logits, dl, saved.lse, saved.scoredTarget, M, V, saved.invTemp);
  const dlogits = saved.logits;
  const dhs = make(M * D);
  ops.matmulNN(dhs, dlogits, w.lmHead, M, V, D, false);
  const base = grads.base ?? null;
  if (base) ops.matmulTN(base.lmHead, dlogits, saved.hs, V, M, D, true);
  const dhsIn = make(M * D);
  ops.rmsnormBackward(dhsIn, base ? base.finalNorm : null, dhs, saved.hsIn, w.finalNorm, saved.rstdF, M, D);
  const dh = make(rows * D);
  for (let i = 0; i < M; i++) {
    const o = saved.scoredRow[i]! * D;
    for (let j = 0; j < D; j++) dh[o + j]! += dhsIn[i * D + j]!;
  }
  for (let l = c.numLayers - 1; l >= 0; l--) {
    layerBackward(saved, l, dh, grads.lora ?? null, base ? base.layers[l]! : null);
  }
  if (base) {
    for (let r = 0; r < rows; r++) {
      const o = saved.rowIds[r]! * D;
      for (let j = 0; j < D; j++) base.embed[o + j]! += dh[r * D + j]!;
    }
  }
}


// The cpu implementation's storage, row-move, dropout, packed-attention and LM-head operations
// (see ops/types.ts). Each is the plain loop the model code used to inline, so results are
// bit-identical to the code before the operation interface carried them.
import { matmulNN, matmulNT, matmulTN, type FloatArray } from '../matmul.js';
import type { DropoutSource, HeadShape } from '../types.js';
import { dropoutHash, dropoutThreshold } from '../dropout-hash.js';
import { attentionBackward as attentionBackwardSeq, attentionForward as attentionForwardSeq } from './attention.js';
import { logSoftmaxGatherBackward, logSoftmaxGatherForward } from './logsoftmax.js';

export function alloc(n: number, like: FloatArray): FloatArray {
  return new (like.constructor as new (n: number) => FloatArray)(n);
}

export const view = (t: FloatArray, offset: number, length: number): FloatArray => t.subarray(offset, offset + length);

export async function read(t: FloatArray): Promise<FloatArray> {
  return t.slice();
}

export function upload(data: Float32Array | Float64Array, like: FloatArray): FloatArray {
  const out = alloc(data.length, like);
  out.set(data);
  return out;
}

export function copy(dst: FloatArray, src: FloatArray, n: number): void {
  dst.set(src.subarray(0, n));
}

export function addInPlace(y: FloatArray, x: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) y[i]! += x[i]!;
}

export function gatherRows(dst: FloatArray, src: FloatArray, index: Int32Array, width: number): void {
  for (let i = 0; i < index.length; i++) dst.set(src.subarray(index[i]! * width, (index[i]! + 1) * width), i * width);
}

export function scatterAddRows(dst: FloatArray, src: FloatArray, index: Int32Array, width: number): void {
  for (let i = 0; i < index.length; i++) {
    const o = index[i]! * width;
    for (let j = 0; j < width; j++) dst[o + j]! += src[i * width + j]!;
  }
}

export function dropout(
  xl: FloatArray,
  keep: FloatArray,
  x: FloatArray,
  n: number,
  p: number,
  source: DropoutSource,
): void {
  const mult = 1 / (1 - p);
  if (source.kind === 'sequential') {
    for (let i = 0; i < n; i++) {
      const k = source.rng.next() < p ? 0 : mult;
      keep[i] = k;
      xl[i] = x[i]! * k;
    }
    return;
  }
  const threshold = dropoutThreshold(p);
  for (let i = 0; i < n; i++) {
    const k = dropoutHash(source.seed, source.stream, i) < threshold ? 0 : mult;
    keep[i] = k;
    xl[i] = x[i]! * k;
  }
}

let scratch = new Float64Array(256);

function seqShape(rowStart: Int32Array, s: number, h: HeadShape) {
  return {
    rows: rowStart[s + 1]! - rowStart[s]!,
    firstPos: 0,
    nHeads: h.nHeads,
    nKvHeads: h.nKvHeads,
    headDim: h.headDim,
  };
}

export function attentionForward(
  o: FloatArray,
  lse: FloatArray,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  rowStart: Int32Array,
  h: HeadShape,
): void {
  const Q = h.nHeads * h.headDim,
    KV = h.nKvHeads * h.headDim;
  for (let s = 0; s + 1 < rowStart.length; s++) {
    const r0 = rowStart[s]!,
      r1 = rowStart[s + 1]!;
    if (scratch.length < r1 - r0) scratch = new Float64Array(Math.max(r1 - r0, scratch.length * 2));
    attentionForwardSeq(
      o.subarray(r0 * Q, r1 * Q),
      lse.subarray(r0 * h.nHeads, r1 * h.nHeads),
      q.subarray(r0 * Q, r1 * Q),
      k.subarray(r0 * KV, r1 * KV),
      v.subarray(r0 * KV, r1 * KV),
      seqShape(rowStart, s, h),
      scratch,
    );
  }
}

export function attentionBackward(
  dq: FloatArray,
  dk: FloatArray,
  dv: FloatArray,
  dO: FloatArray,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  o: FloatArray,
  lse: FloatArray,
  rowStart: Int32Array,
  h: HeadShape,
): void {
  const Q = h.nHeads * h.headDim,
    KV = h.nKvHeads * h.headDim;
  for (let s = 0; s + 1 < rowStart.length; s++) {
    const r0 = rowStart[s]!,
      r1 = rowStart[s + 1]!;
    attentionBackwardSeq(
      dq.subarray(r0 * Q, r1 * Q),
      dk.subarray(r0 * KV, r1 * KV),
      dv.subarray(r0 * KV, r1 * KV),
      dO.subarray(r0 * Q, r1 * Q),
      q.subarray(r0 * Q, r1 * Q),
      k.subarray(r0 * KV, r1 * KV),
      v.subarray(r0 * KV, r1 * KV),
      o.subarray(r0 * Q, r1 * Q),
      lse.subarray(r0 * h.nHeads, r1 * h.nHeads),
      seqShape(rowStart, s, h),
    );
  }
}

/** Entropy of softmax(z[r]) with z = logits·invTemp: lse − Σ p·z. */
function entropyRows(
  entropy: FloatArray,
  logits: FloatArray,
  lse: FloatArray,
  rows: number,
  vocab: number,
  invTemp: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * vocab,
      l = lse[r]!;
    let ez = 0;
    for (let i = 0; i < vocab; i++) {
      const z = logits[o + i]! * invTemp;
      ez += Math.exp(z - l) * z;
    }
    entropy[r] = l - ez;
  }
}

export function lmHeadForward(
  logp: FloatArray,
  lse: FloatArray,
  entropy: FloatArray | null,
  hs: FloatArray,
  w: FloatArray,
  targets: Int32Array,
  rows: number,
  dim: number,
  vocab: number,
  invTemp: number,
  logits: FloatArray | null,
): void {
  const z = logits ?? alloc(rows * vocab, hs);
  matmulNT(z, hs, w, rows, dim, vocab, false);
  logSoftmaxGatherForward(logp, lse, z, targets, rows, vocab, invTemp);
  if (entropy) entropyRows(entropy, z, lse, rows, vocab, invTemp);
}

export function lmHeadBackward(
  dhs: FloatArray,
  dW: FloatArray | null,
  dlogp: FloatArray,
  hs: FloatArray,
  w: FloatArray,
  lse: FloatArray,
  targets: Int32Array,
  rows: number,
  dim: number,
  vocab: number,
  invTemp: number,
  keptLogits?: FloatArray | null,
): void {
  const z = keptLogits ?? alloc(rows * vocab, hs);
  if (!keptLogits) matmulNT(z, hs, w, rows, dim, vocab, false);
  logSoftmaxGatherBackward(z, dlogp, lse, targets, rows, vocab, invTemp);
  matmulNN(dhs, z, w, rows, vocab, dim, true);
  if (dW) matmulTN(dW, z, hs, vocab, rows, dim, true);
}

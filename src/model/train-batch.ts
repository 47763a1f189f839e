// The packed layout of a training batch [B, T] (right-padded sequences): its checks, the rows of
// real tokens (padding is never computed) and the scored rows whose log-probs the forward produces.
// Split out of train.ts, which re-exports what it exported before.
import type { FloatArray } from '../ops/matmul.js';

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

export function validateBatch(batch: TrainBatch, vocab: number): void {
  const B = batch.lengths.length,
    T = batch.seqLen;
  if (batch.ids.length !== B * T)
    throw new Error(`batch: ids has ${batch.ids.length} entries, expected B·T = ${B}·${T}`);
  if (batch.scoreFrom.length !== B)
    throw new Error(`batch: scoreFrom has ${batch.scoreFrom.length} entries, expected B = ${B}`);
  for (let b = 0; b < B; b++) {
    const len = batch.lengths[b]!;
    if (len < 1 || len > T) throw new Error(`batch: lengths[${b}] = ${len} outside [1, ${T}]`);
    if (batch.scoreFrom[b]! < 1)
      throw new Error(`batch: scoreFrom[${b}] = ${batch.scoreFrom[b]} must be ≥ 1 (position 0 has no prefix)`);
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

/** A packed batch's rows: where each sequence starts, each row's position and token id. */
export interface PackedRows {
  rowStart: Int32Array;
  positions: Int32Array;
  rowIds: Int32Array;
  rows: number;
  maxLen: number;
}

/** Row layout of a packed batch: where each sequence starts, each row's position and token id. */
export function packRows(batch: TrainBatch): PackedRows {
  const B = batch.lengths.length,
    T = batch.seqLen;
  const rowStart = new Int32Array(B + 1);
  for (let b = 0; b < B; b++) rowStart[b + 1] = rowStart[b]! + batch.lengths[b]!;
  const rows = rowStart[B]!;
  const positions = new Int32Array(rows),
    rowIds = new Int32Array(rows);
  let maxLen = 0;
  for (let b = 0; b < B; b++) {
    const len = batch.lengths[b]!;
    maxLen = Math.max(maxLen, len);
    for (let t = 0; t < len; t++) {
      positions[rowStart[b]! + t] = t;
      rowIds[rowStart[b]! + t] = batch.ids[b * T + t]!;
    }
  }
  return { rowStart, positions, rowIds, rows, maxLen };
}

/** Scored rows: the hidden state at t−1 predicts the token at t. */
export function scoredRows(
  batch: TrainBatch,
  rowStart: Int32Array,
): { scoredRow: Int32Array; scoredTarget: Int32Array; scoredFlat: Int32Array } {
  const B = batch.lengths.length,
    T = batch.seqLen;
  let M = 0;
  for (let b = 0; b < B; b++) M += Math.max(0, batch.lengths[b]! - batch.scoreFrom[b]!);
  const scoredRow = new Int32Array(M),
    scoredTarget = new Int32Array(M),
    scoredFlat = new Int32Array(M);
  let m = 0;
  for (let b = 0; b < B; b++) {
    for (let t = batch.scoreFrom[b]!; t < batch.lengths[b]!; t++, m++) {
      scoredRow[m] = rowStart[b]! + t - 1;
      scoredTarget[m] = batch.ids[b * T + t]!;
      scoredFlat[m] = b * T + t;
    }
  }
  return { scoredRow, scoredTarget, scoredFlat };
}

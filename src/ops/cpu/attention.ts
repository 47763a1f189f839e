// Causal grouped-query attention for one sequence (or a run of rows of one sequence).
// Query row i sits at absolute position firstPos + i and attends to keys 0..firstPos+i. The same
// kernel serves the training forward (firstPos 0, keys = the packed sequence) and KV-cache decode
// (firstPos = tokens already cached, keys = the cache).
//
// Layouts (row-major): q, o [rows, nHeads·headDim]; k, v [keys, nKvHeads·headDim];
// lse [rows, nHeads] = log Σ exp(scores) per query row and head, saved for the backward, which
// recomputes the probabilities instead of storing [heads, T, T].
//
// Per head, the score and value products run through matmul.ts (so the WASM-SIMD kernel does the
// O(T²·headDim) work); heads are interleaved within a row, so each head's Q/K/V/O slices are first
// gathered into contiguous scratch (O(T·headDim), cheap next to the products). Scratch comes from
// a per-type pool that only grows: no allocation in steady state. Few rows (decode) take the
// plain loops of attention-rows.ts instead.
import { matmulNN, matmulNT, matmulTN, type FloatArray } from '../matmul.js';
import { attentionForwardRows } from './attention-rows.js';
import type { AttentionShape } from '../types.js';

/**
 * Below this many query rows the plain row loops are faster (measured on the calibration shapes,
 * 4 heads × 32: loops 85 µs vs 109–155 µs at 16 rows; matmul 134 µs vs 522 µs at 40 rows).
 */
export const ATTENTION_MATMUL_MIN_ROWS = 24;

export type { AttentionShape };

interface Scratch<F extends FloatArray> {
  qh: F;
  kh: F;
  vh: F;
  oh: F;
  s: F;
  dp: F;
  doh: F;
  dqh: F;
  dkh: F;
  dvh: F;
}
const pools = new Map<unknown, Scratch<FloatArray>>();

function scratchFor<F extends FloatArray>(like: F, rows: number, keys: number, hd: number): Scratch<F> {
  const Ctor = like.constructor as new (n: number) => F;
  let p = pools.get(Ctor) as Scratch<F> | undefined;
  const need = {
    qh: rows * hd,
    kh: keys * hd,
    vh: keys * hd,
    oh: rows * hd,
    s: rows * keys,
    dp: rows * keys,
    doh: rows * hd,
    dqh: rows * hd,
    dkh: keys * hd,
    dvh: keys * hd,
  };
  if (!p) {
    p = {} as Scratch<F>;
    pools.set(Ctor, p as Scratch<FloatArray>);
  }
  for (const k of Object.keys(need) as (keyof Scratch<F>)[]) {
    if (!p[k] || p[k].length < need[k]) p[k] = new Ctor(Math.max(need[k], p[k] ? p[k].length * 2 : 0));
  }
  return p;
}

/** Copies head slice [n, hd] at column offset `col` of a [n, stride] matrix into dst (or back with dir −1). */
function gather(dst: FloatArray, src: FloatArray, n: number, stride: number, col: number, hd: number): void {
  for (let i = 0; i < n; i++) {
    const so = i * stride + col,
      d = i * hd;
    for (let j = 0; j < hd; j++) dst[d + j] = src[so + j]!;
  }
}
function scatter(
  dst: FloatArray,
  src: FloatArray,
  n: number,
  stride: number,
  col: number,
  hd: number,
  accumulate: boolean,
): void {
  for (let i = 0; i < n; i++) {
    const so = i * stride + col,
      d = i * hd;
    if (accumulate) for (let j = 0; j < hd; j++) dst[so + j]! += src[d + j]!;
    else for (let j = 0; j < hd; j++) dst[so + j] = src[d + j]!;
  }
}

export function attentionForward(
  o: FloatArray,
  lse: FloatArray,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  shape: AttentionShape,
  scratch: Float64Array,
): void {
  if (shape.rows < ATTENTION_MATMUL_MIN_ROWS) {
    attentionForwardRows(o, lse, q, k, v, shape, scratch);
    return;
  }
  const { rows, firstPos, nHeads, nKvHeads, headDim: hd } = shape;
  const qs = nHeads * hd,
    ks = nKvHeads * hd,
    group = nHeads / nKvHeads,
    nk = firstPos + rows;
  const scale = 1 / Math.sqrt(hd);
  const S = scratchFor(q, rows, nk, hd);
  for (let kvh = 0; kvh < nKvHeads; kvh++) {
    gather(S.kh, k, nk, ks, kvh * hd, hd);
    gather(S.vh, v, nk, ks, kvh * hd, hd);
    for (let h = kvh * group; h < (kvh + 1) * group; h++) {
      gather(S.qh, q, rows, qs, h * hd, hd);
      matmulNT(S.s, S.qh, S.kh, rows, hd, nk, false);
      const s = S.s;
      for (let i = 0; i < rows; i++) {
        const last = firstPos + i,
          ro = i * nk;
        let max = -Infinity;
        for (let j = 0; j <= last; j++) {
          const z = s[ro + j]! * scale;
          if (z > max) max = z;
        }
        let sum = 0;
        for (let j = 0; j <= last; j++) {
          const e = Math.exp(s[ro + j]! * scale - max);
          s[ro + j] = e;
          sum += e;
        }
        const inv = 1 / sum;
        for (let j = 0; j <= last; j++) s[ro + j]! *= inv;
        for (let j = last + 1; j < nk; j++) s[ro + j] = 0;
        lse[i * nHeads + h] = max + Math.log(sum);
      }
      matmulNN(S.oh, s, S.vh, rows, nk, hd, false);
      scatter(o, S.oh, rows, qs, h * hd, hd, false);
    }
  }
}

/** Accumulates into dq [rows, ·], dk and dv [keys, ·]. */
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
  shape: AttentionShape,
): void {
  const { rows, firstPos, nHeads, nKvHeads, headDim: hd } = shape;
  const qs = nHeads * hd,
    ks = nKvHeads * hd,
    group = nHeads / nKvHeads,
    nk = firstPos + rows;
  const scale = 1 / Math.sqrt(hd);
  const S = scratchFor(q, rows, nk, hd);
  for (let kvh = 0; kvh < nKvHeads; kvh++) {
    gather(S.kh, k, nk, ks, kvh * hd, hd);
    gather(S.vh, v, nk, ks, kvh * hd, hd);
    S.dkh.fill(0, 0, nk * hd);
    S.dvh.fill(0, 0, nk * hd);
    for (let h = kvh * group; h < (kvh + 1) * group; h++) {
      gather(S.qh, q, rows, qs, h * hd, hd);
      gather(S.doh, dO, rows, qs, h * hd, hd);
      gather(S.oh, o, rows, qs, h * hd, hd);
      matmulNT(S.s, S.qh, S.kh, rows, hd, nk, false); // scores
      matmulNT(S.dp, S.doh, S.vh, rows, hd, nk, false); // ∂L/∂P
      const p = S.s,
        dp = S.dp;
      for (let i = 0; i < rows; i++) {
        const last = firstPos + i,
          ro = i * nk,
          l = lse[i * nHeads + h]!;
        let dd = 0;
        for (let d = 0; d < hd; d++) dd += S.doh[i * hd + d]! * S.oh[i * hd + d]!;
        for (let j = 0; j <= last; j++) {
          const pj = Math.exp(p[ro + j]! * scale - l);
          p[ro + j] = pj;
          dp[ro + j] = pj * (dp[ro + j]! - dd) * scale; // ∂L/∂scores (pre-scale)
        }
        for (let j = last + 1; j < nk; j++) {
          p[ro + j] = 0;
          dp[ro + j] = 0;
        }
      }
      matmulNN(S.dqh, dp, S.kh, rows, nk, hd, false);
      scatter(dq, S.dqh, rows, qs, h * hd, hd, true);
      matmulTN(S.dkh, dp, S.qh, nk, rows, hd, true);
      matmulTN(S.dvh, p, S.doh, nk, rows, hd, true);
    }
    scatter(dk, S.dkh, nk, ks, kvh * hd, hd, true);
    scatter(dv, S.dvh, nk, ks, kvh * hd, hd, true);
  }
}

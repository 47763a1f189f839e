// Self-check of the attention kernels on whatever device runs them (a GPU machine, where the tests'
// SwiftShader cannot reach the default variants: subgroup reductions over 16 lanes, vec4 tiles of
// the real head dims). Runs forward and backward against a float64 reference written out here
// (plain loops, the definition of causal GQA attention over packed sequences; the cpu ops need Node)
// and returns the relative errors. No Node API: a browser tab can run it.
import { readF32, releaseTensor, uploadTensor, type GpuContext } from './context.js';
import { attentionBackward, attentionForward, type AttentionOptions } from './attention.js';
import type { HeadShape } from '../types.js';

export interface AttentionCheckCase {
  lens: number[];
  shape: HeadShape;
  opts?: AttentionOptions;
}
export interface AttentionCheckResult {
  case: string;
  o: number;
  lse: number;
  dq: number;
  dk: number;
  dv: number;
}

/** The shapes of the three models, with packed sequences of mixed lengths (incl. 1) and T not a tile multiple. */
export const ATTENTION_CHECK_CASES: AttentionCheckCase[] = [
  { lens: [150, 1, 77], shape: { nHeads: 12, nKvHeads: 2, headDim: 128 } },
  { lens: [130, 9], shape: { nHeads: 14, nKvHeads: 2, headDim: 64 } },
  { lens: [200, 3, 64], shape: { nHeads: 4, nKvHeads: 2, headDim: 32 } },
];

/** o, lse of causal GQA attention in float64. */
export function referenceForward(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  rowStart: Int32Array,
  s: HeadShape,
): { o: Float64Array; lse: Float64Array } {
  const { nHeads: H, nKvHeads: Hk, headDim: D } = s;
  const rows = rowStart[rowStart.length - 1]!,
    group = H / Hk,
    scale = 1 / Math.sqrt(D);
  const o = new Float64Array(rows * H * D),
    lse = new Float64Array(rows * H);
  for (let sq = 0; sq + 1 < rowStart.length; sq++) {
    const r0 = rowStart[sq]!,
      r1 = rowStart[sq + 1]!;
    const z = new Float64Array(r1 - r0);
    for (let i = r0; i < r1; i++) {
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / group);
        let m = -Infinity;
        for (let j = r0; j <= i; j++) {
          let d = 0;
          for (let x = 0; x < D; x++) d += q[(i * H + h) * D + x]! * k[(j * Hk + g) * D + x]!;
          z[j - r0] = d * scale;
          m = Math.max(m, z[j - r0]!);
        }
        let sum = 0;
        for (let j = r0; j <= i; j++) sum += Math.exp(z[j - r0]! - m);
        const l = m + Math.log(sum);
        lse[i * H + h] = l;
        for (let j = r0; j <= i; j++) {
          const p = Math.exp(z[j - r0]! - l);
          for (let x = 0; x < D; x++) o[(i * H + h) * D + x]! += p * v[(j * Hk + g) * D + x]!;
        }
      }
    }
  }
  return { o, lse };
}

/** dq, dk, dv (from zero) of causal GQA attention in float64. */
export function referenceBackward(
  dO: Float64Array,
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  o: Float64Array,
  lse: Float64Array,
  rowStart: Int32Array,
  s: HeadShape,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { nHeads: H, nKvHeads: Hk, headDim: D } = s;
  const rows = rowStart[rowStart.length - 1]!,
    group = H / Hk,
    scale = 1 / Math.sqrt(D);
  const dq = new Float64Array(rows * H * D),
    dk = new Float64Array(rows * Hk * D),
    dv = new Float64Array(rows * Hk * D);
  for (let sq = 0; sq + 1 < rowStart.length; sq++) {
    const r0 = rowStart[sq]!,
      r1 = rowStart[sq + 1]!;
    for (let i = r0; i < r1; i++) {
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / group),
          qi = (i * H + h) * D;
        let dd = 0;
        for (let x = 0; x < D; x++) dd += dO[qi + x]! * o[qi + x]!;
        for (let j = r0; j <= i; j++) {
          const kj = (j * Hk + g) * D;
          let sc = 0,
            dp = 0;
          for (let x = 0; x < D; x++) {
            sc += q[qi + x]! * k[kj + x]!;
            dp += dO[qi + x]! * v[kj + x]!;
          }
          const p = Math.exp(sc * scale - lse[i * H + h]!),
            ds = p * (dp - dd) * scale;
          for (let x = 0; x < D; x++) {
            dq[qi + x]! += ds * k[kj + x]!;
            dk[kj + x]! += ds * q[qi + x]!;
            dv[kj + x]! += p * dO[qi + x]!;
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}

/** max |a − b| / max |b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0,
    mag = 1e-30;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= diff)) diff = d;
    mag = Math.max(mag, Math.abs(b[i]!));
  }
  return diff / mag;
}

/** Deterministic values in [−1, 1) (a small LCG: the check needs no seeded-RNG dependency). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x / 2 ** 31 - 1;
  }
  return out;
}

/** Runs each case on the device (forward, then backward onto zeroed gradients) against the float64 reference. */
export async function attentionSelfCheck(
  ctx: GpuContext,
  cases: AttentionCheckCase[] = ATTENTION_CHECK_CASES,
): Promise<AttentionCheckResult[]> {
  const results: AttentionCheckResult[] = [];
  for (const [ci, c] of cases.entries()) {
    const { nHeads: H, nKvHeads: Hk, headDim: D } = c.shape;
    const rowStart = Int32Array.from([0, ...c.lens.map((_, i) => c.lens.slice(0, i + 1).reduce((a, b) => a + b, 0))]);
    const rows = rowStart[rowStart.length - 1]!;
    const q = values(rows * H * D, 11 + ci),
      k = values(rows * Hk * D, 23 + ci),
      v = values(rows * Hk * D, 37 + ci),
      dO = values(rows * H * D, 41 + ci);
    const f64 = (x: Float32Array): Float64Array => Float64Array.from(x);
    const ref = referenceForward(f64(q), f64(k), f64(v), rowStart, c.shape);
    const grads = referenceBackward(f64(dO), f64(q), f64(k), f64(v), ref.o, ref.lse, rowStart, c.shape);
    const t = {
      q: uploadTensor(ctx, q),
      k: uploadTensor(ctx, k),
      v: uploadTensor(ctx, v),
      dO: uploadTensor(ctx, dO),
      o: uploadTensor(ctx, new Float32Array(rows * H * D)),
      lse: uploadTensor(ctx, new Float32Array(rows * H)),
      dq: uploadTensor(ctx, new Float32Array(rows * H * D)),
      dk: uploadTensor(ctx, new Float32Array(rows * Hk * D)),
      dv: uploadTensor(ctx, new Float32Array(rows * Hk * D)),
    };
    attentionForward(ctx, t.o, t.lse, t.q, t.k, t.v, rowStart, c.shape, c.opts);
    attentionBackward(ctx, t.dq, t.dk, t.dv, t.dO, t.q, t.k, t.v, t.o, t.lse, rowStart, c.shape, c.opts);
    results.push({
      case: `${H}/${Hk} heads hd ${D}, lens ${c.lens.join(',')}${c.opts ? ` ${JSON.stringify(c.opts)}` : ''}`,
      o: relErr(await readF32(ctx, t.o), ref.o),
      lse: relErr(await readF32(ctx, t.lse), ref.lse),
      dq: relErr(await readF32(ctx, t.dq), grads.dq),
      dk: relErr(await readF32(ctx, t.dk), grads.dk),
      dv: relErr(await readF32(ctx, t.dv), grads.dv),
    });
    for (const x of Object.values(t)) releaseTensor(ctx, x);
  }
  return results;
}

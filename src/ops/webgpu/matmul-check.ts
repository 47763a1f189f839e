// Correctness self-check of the matmul variants on the device at hand, and the admission of the
// fast ones to automatic selection. Variants that CI's SwiftShader cannot run (shader-f16 arithmetic,
// subgroup-matrix) are only ever used after this check has passed on the machine that runs them:
// `prepareMatmul(ctx)` checks every variant the device offers against a float64 host product (the
// cpu op's plain loops) on shapes that are not tile multiples, at odd offsets, with f32 and f16 B,
// accumulate and split-K, and admits those within tolerance. `tune` also times the admitted variants
// at a 1.5B-like shape and prefers the fastest.
import { allocTensor, finish, readF32, releaseTensor, writeTensor, type GpuContext } from './context.js';
import { packF16, unpackF16, viewOf, type GpuTensor } from './tensor.js';
import {
  configureMatmul,
  gemm,
  isF32Variant,
  MATMUL_VARIANTS,
  variantUnavailable,
  type MatmulOp,
  type MatmulOptions,
  type MatmulVariant,
} from './gemm.js';
import { Rng } from '../../util/rng.js';

export interface MatmulCheck {
  variant: MatmulVariant;
  op: MatmulOp;
  b: 'f32' | 'f16';
  /** "MxKxN" (+ " splitK" when forced). */
  shape: string;
  /** max |gpu − ref| / max |ref|; NaN when the run failed. */
  relError: number;
  tolerance: number;
  ok: boolean;
  error?: string;
}

/** f32-arithmetic variants agree with the float64 product to rounding; f16 ones to f16 rounding. */
export function toleranceOf(v: MatmulVariant): number {
  return isF32Variant(v) ? 1e-5 : 1e-2;
}

const SHAPES: { m: number; k: number; n: number; splitK?: number }[] = [
  { m: 1, k: 40, n: 33 },
  { m: 67, k: 129, n: 70 },
  { m: 70, k: 50, n: 20 },
  { m: 260, k: 64, n: 300 },
  { m: 20, k: 700, n: 45, splitK: 3 },
];

function hostProduct(
  op: MatmulOp,
  c0: Float32Array,
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
): Float64Array {
  const out = Float64Array.from(c0);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const av = op === 'TN' ? a[p * m + i]! : a[i * k + p]!;
        const bv = op === 'NT' ? b[j * k + p]! : b[p * n + j]!;
        s += av * bv;
      }
      out[i * n + j]! += s;
    }
  }
  return out;
}

function rel(got: Float32Array, ref: Float64Array): number {
  let d = 0,
    mag = 1e-30;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(got[i]! - ref[i]!);
    if (!(e <= d)) d = e;
    mag = Math.max(mag, Math.abs(ref[i]!));
  }
  return d / mag;
}

function randoms(rng: Rng, n: number, scale: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (2 * rng.next() - 1) * scale;
  return x;
}

/** Host data placed at an odd element offset inside a larger tensor (f16 packed when asked). */
function placed(
  ctx: GpuContext,
  data: Float32Array,
  dtype: 'f32' | 'f16',
  offset: number,
  scratch: GpuTensor[],
): GpuTensor {
  const whole = allocTensor(ctx, offset + data.length + 1, dtype, false, true);
  scratch.push(whole);
  const host = new Float32Array(offset + data.length + 1);
  host.set(data, offset);
  writeTensor(ctx, whole, host, 'self-check operand');
  return viewOf(whole, offset, data.length);
}

async function checkOne(
  ctx: GpuContext,
  variant: MatmulVariant,
  op: MatmulOp,
  bType: 'f32' | 'f16',
  s: (typeof SHAPES)[number],
  rng: Rng,
): Promise<MatmulCheck> {
  const { m, k, n } = s;
  const shape = `${m}x${k}x${n}${s.splitK ? ` splitK ${s.splitK}` : ''}`;
  const tolerance = toleranceOf(variant);
  const a = randoms(rng, m * k, 3),
    c0 = randoms(rng, m * n, 1);
  let b = randoms(rng, k * n, 0.5);
  if (bType === 'f16') b = unpackF16(packF16(b, 'self-check B'), b.length);
  const scratch: GpuTensor[] = [];
  ctx.device.pushErrorScope('validation');
  ctx.device.pushErrorScope('internal');
  let got: Float32Array | null = null,
    error: string | undefined;
  try {
    const A = placed(ctx, a, 'f32', 3, scratch),
      B = placed(ctx, b, bType, 5, scratch),
      C = placed(ctx, c0, 'f32', 7, scratch);
    const opts: MatmulOptions = { matmulVariant: variant, ...(s.splitK ? { splitK: s.splitK } : {}) };
    gemm(ctx, op, C, A, B, m, k, n, { accumulate: true }, opts);
    got = await readF32(ctx, C);
  } catch (e) {
    error = (e as Error).message;
  }
  const internal = await ctx.device.popErrorScope();
  const validation = await ctx.device.popErrorScope();
  for (const t of scratch) releaseTensor(ctx, t);
  const scoped = validation ?? internal;
  if (scoped) error = `${scoped.constructor.name}: ${scoped.message}`;
  const relError = got && !error ? rel(got, hostProduct(op, c0, a, b, m, k, n)) : NaN;
  return {
    variant,
    op,
    b: bType,
    shape,
    relError,
    tolerance,
    ok: !error && relError <= tolerance,
    ...(error ? { error } : {}),
  };
}

/**
 * Runs every given variant (default: all this device offers) on the check shapes (`quick`: without
 * the 260×64×300 one, for CPU adapters where it costs seconds).
 */
export async function selfCheckMatmul(
  ctx: GpuContext,
  variants?: MatmulVariant[],
  opts: { quick?: boolean } = {},
): Promise<MatmulCheck[]> {
  const list = variants ?? MATMUL_VARIANTS.filter((v) => !variantUnavailable(ctx, v));
  const rng = new Rng(20250613);
  const out: MatmulCheck[] = [];
  for (const variant of list) {
    for (const op of ['NN', 'NT', 'TN'] as const) {
      for (const bType of ['f32', 'f16'] as const) {
        for (const s of SHAPES)
          if (!opts.quick || s.m * s.n * s.k < 1e6) out.push(await checkOne(ctx, variant, op, bType, s, rng));
      }
    }
  }
  return out;
}

export interface MatmulTiming {
  variant: MatmulVariant;
  b: 'f32' | 'f16';
  ms: number;
  gflops: number;
}

/** Mean ms of `reps` NT products [m,k]·[n,k]ᵀ after one warm-up (inputs zero: timing only). */
export async function timeProduct(
  ctx: GpuContext,
  variant: MatmulVariant,
  bType: 'f32' | 'f16',
  m: number,
  k: number,
  n: number,
  reps: number,
  op: MatmulOp = 'NT',
): Promise<MatmulTiming> {
  const a = allocTensor(ctx, m * k, 'f32', true, true),
    b = allocTensor(ctx, k * n + ((k * n) % 2), bType, true, true),
    c = allocTensor(ctx, m * n, 'f32', false, true);
  try {
    const run = (): void => gemm(ctx, op, c, a, b, m, k, n, { accumulate: false }, { matmulVariant: variant });
    run();
    await finish(ctx);
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) run();
    await finish(ctx);
    const ms = (performance.now() - t0) / reps;
    return { variant, b: bType, ms, gflops: (2 * m * n * k) / (ms * 1e6) };
  } finally {
    for (const t of [a, b, c]) releaseTensor(ctx, t);
  }
}

export interface PreparedMatmul {
  checks: MatmulCheck[];
  verified: MatmulVariant[];
  timings: MatmulTiming[];
}

/**
 * Checks the device's variants and admits the passing ones to 'auto' (f16-emulated is a test aid
 * and never admitted). With tune, times the admitted ones at [512,1536]·[1536,1536]ᵀ and makes the
 * fastest the automatic choice for f32 and for f16 weights.
 */
export async function prepareMatmul(
  ctx: GpuContext,
  opts: { tune?: boolean; reps?: number; quick?: boolean } = {},
): Promise<PreparedMatmul> {
  const candidates = MATMUL_VARIANTS.filter((v) => v !== 'f16-emulated' && !variantUnavailable(ctx, v));
  const checks = await selfCheckMatmul(ctx, candidates, { quick: opts.quick });
  const verified = candidates.filter((v) => checks.filter((c) => c.variant === v).every((c) => c.ok));
  configureMatmul(ctx, { verified: new Set(verified) });
  const timings: MatmulTiming[] = [];
  if (opts.tune) {
    const reps = opts.reps ?? 10;
    for (const bType of ['f32', 'f16'] as const) {
      const pool = verified.filter((v) => bType === 'f16' || isF32Variant(v));
      for (const v of pool) timings.push(await timeProduct(ctx, v, bType, 512, 1536, 1536, reps));
    }
    const best = (b: 'f32' | 'f16'): MatmulVariant | undefined =>
      timings.filter((t) => t.b === b).sort((x, y) => x.ms - y.ms)[0]?.variant;
    const f32 = best('f32'),
      f16 = best('f16');
    configureMatmul(ctx, { ...(isF32Variant(f32) ? { f32Variant: f32 } : {}), ...(f16 ? { f16Variant: f16 } : {}) });
  }
  return { checks, verified, timings };
}

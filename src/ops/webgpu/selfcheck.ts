// Every webgpu op against the cpu op on a few shapes, on whatever adapter the context holds: the
// first thing a GPU machine runs (tools/gpu-selfcheck), because kernel variants that SwiftShader
// cannot run (shader-f16 arithmetic, subgroup-matrix) are checked nowhere else. Uses only the
// operation interface, so it checks whichever variant each op picks on this adapter.
import { cpuOps } from '../cpu/index.js';
import type { FloatArray, Ops } from '../types.js';
import { Rng } from '../../util/rng.js';
import { type GpuContext, uploadTensor } from './context.js';
import { webgpuOps } from './index.js';
import { uploadMatrix } from './model-upload.js';
import { skinnyMatmulNT } from './skinny-matmul.js';
import { skinnyRmsnormMatmulNT } from './skinny-norm-matmul.js';
import { f16BitsToF32, f32ToF16Bits, type GpuTensor } from './tensor.js';

export interface SelfCheckRow {
  op: string;
  shape: string;
  relError: number;
  ms: number;
}

const f16Round = (a: Float32Array): Float32Array => a.map((x) => f16BitsToF32(f32ToF16Bits(x)));

function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0,
    m = 1e-6;
  for (let i = 0; i < a.length; i++) {
    const x = Math.abs(a[i]! - b[i]!);
    if (!(x <= d)) d = x;
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

/** Runs `body` on the cpu (host arrays) and on the GPU (uploads of the same arrays) and compares `outs`. */
async function both(
  ctx: GpuContext,
  gpu: Ops<GpuTensor>,
  inputs: Record<string, Float32Array>,
  outs: string[],
  body: <T>(ops: Ops<T>, t: Record<string, T>) => void,
  weights: Record<string, { width: number; f16: boolean }> = {},
): Promise<number> {
  const host: Record<string, FloatArray> = {};
  const dev: Record<string, GpuTensor> = {};
  for (const [k, v] of Object.entries(inputs)) {
    const w = weights[k];
    host[k] = w?.f16 ? f16Round(v) : v.slice();
    dev[k] = w ? uploadMatrix(ctx, v, w.width, w.f16 ? 'f16' : 'f32', k) : uploadTensor(ctx, v);
  }
  body(cpuOps, host);
  body(gpu, dev);
  let worst = 0;
  for (const k of outs) worst = Math.max(worst, relError(await gpu.read(dev[k]!), host[k]!));
  return worst;
}

/** What every check family shares: the context and its ops, the one generator all inputs draw from, the rows so far. */
interface SelfCheckState {
  ctx: GpuContext;
  gpu: Ops<GpuTensor>;
  rng: Rng;
  rows: SelfCheckRow[];
  /** --large: 1.5B-sized matrices and vocabulary. */
  large: boolean;
  /** Scale of the row counts and matrix sides: 4 when large, else 1. */
  big: number;
}

/** Hidden width, MLP width and LoRA rank of the layer-shaped checks. */
const DIM = 128,
  INTER = 352,
  RANK = 8;

/** Token rows of the layer-shaped checks. */
const tokenRows = (s: SelfCheckState): number => 50 * s.big;

function rand(s: SelfCheckState, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * (2 * s.rng.next() - 1);
  return a;
}

/** Runs one check and records its error and wall time. */
async function timed(s: SelfCheckState, op: string, shape: string, f: () => Promise<number>): Promise<void> {
  const t0 = performance.now();
  s.rows.push({ op, shape, relError: await f(), ms: performance.now() - t0 });
}

/** The check families, in the order they run (and draw their inputs). */
const CHECK_FAMILIES: ((s: SelfCheckState) => Promise<void>)[] = [
  checkMatmuls,
  checkRmsnorm,
  checkFewRow,
  checkSwiglu,
  checkRope,
  checkAttention,
  checkLoraLinear,
  checkLmHead,
  checkGatherScatter,
  checkAdamw,
];

export async function selfCheck(ctx: GpuContext, opts: { large?: boolean } = {}): Promise<SelfCheckRow[]> {
  const large = !!opts.large;
  const s: SelfCheckState = { ctx, gpu: webgpuOps(ctx), rng: new Rng(20261201), rows: [], large, big: large ? 4 : 1 };
  for (const family of CHECK_FAMILIES) await family(s);
  return s.rows;
}

async function checkMatmuls(s: SelfCheckState): Promise<void> {
  for (const [m, k, n] of [
    [37, 64, 29],
    [128 * s.big, 256, 192 * s.big],
    [1, 1536, 8960 / (s.large ? 1 : 8)],
  ] as [number, number, number][])
    await checkMatmulShape(s, m, k, n);
}

/** The three products on one m×k×n shape; the NT and NN ones with B stored f32 and f16. */
async function checkMatmulShape(s: SelfCheckState, m: number, k: number, n: number): Promise<void> {
  const { ctx, gpu } = s;
  for (const f16 of [false, true]) {
    const tag = `${m}×${k}×${n} ${f16 ? 'f16' : 'f32'} B`;
    await timed(s, 'matmulNT', tag, () =>
      both(
        ctx,
        gpu,
        { a: rand(s, m * k), b: rand(s, n * k, 0.1), c: rand(s, m * n) },
        ['c'],
        (o, t) => o.matmulNT(t.c!, t.a!, t.b!, m, k, n, true),
        { b: { width: k, f16 } },
      ),
    );
    await timed(s, 'matmulNN', tag, () =>
      both(
        ctx,
        gpu,
        { a: rand(s, m * k), b: rand(s, k * n, 0.1), c: rand(s, m * n) },
        ['c'],
        (o, t) => o.matmulNN(t.c!, t.a!, t.b!, m, k, n, false),
        { b: { width: n, f16 } },
      ),
    );
  }
  await timed(s, 'matmulTN', `${m}×${k}×${n}`, () =>
    both(ctx, gpu, { a: rand(s, k * m), b: rand(s, k * n), c: rand(s, m * n) }, ['c'], (o, t) =>
      o.matmulTN(t.c!, t.a!, t.b!, m, k, n, true),
    ),
  );
}

async function checkRmsnorm(s: SelfCheckState): Promise<void> {
  const rows = tokenRows(s);
  await timed(s, 'rmsnorm fwd+bwd', `${rows}×${DIM}`, () =>
    both(
      s.ctx,
      s.gpu,
      {
        x: rand(s, rows * DIM),
        w: rand(s, DIM),
        y: rand(s, rows * DIM),
        rstd: rand(s, rows),
        dy: rand(s, rows * DIM),
        dx: rand(s, rows * DIM),
        dw: rand(s, DIM),
      },
      ['y', 'rstd', 'dx', 'dw'],
      (o, t) => {
        o.rmsnormForward(t.y!, t.rstd!, t.x!, t.w!, rows, DIM, 1e-6);
        o.rmsnormBackward(t.dx!, t.dw!, t.dy!, t.x!, t.w!, t.rstd!, rows, DIM);
      },
    ),
  );
}

/**
 * The decode step's few-row kernels, which the operation interface does not pick (the engine's decode
 * ops route to them): the product, and the norm folded into the stacked LoRA A product after it.
 */
async function checkFewRow(s: SelfCheckState): Promise<void> {
  const ctx = s.ctx,
    rows = 48,
    n = 3 * 4 * RANK;
  const fewRow: Ops<GpuTensor> = {
    ...s.gpu,
    matmulNT: (c, a, b, m, k, nn, acc) => skinnyMatmulNT(ctx, c, a, b, m, k, nn, { accumulate: acc ?? false }),
    rmsnormMatmulNT: (xn, rstd, c, x, w, b, m, k, nn, eps) =>
      skinnyRmsnormMatmulNT(ctx, xn, rstd, c, x, w, b, m, k, nn, eps),
  };
  for (const f16 of [false, true]) {
    const tag = `${f16 ? 'f16' : 'f32'} B`;
    await timed(s, 'few-row matmulNT', `8×${DIM}×${INTER} ${tag}`, () =>
      both(
        ctx,
        fewRow,
        { a: rand(s, 8 * DIM), b: rand(s, INTER * DIM, 0.1), c: rand(s, 8 * INTER) },
        ['c'],
        (o, t) => o.matmulNT(t.c!, t.a!, t.b!, 8, DIM, INTER, true),
        { b: { width: DIM, f16 } },
      ),
    );
    const inputs = { x: rand(s, rows * DIM), w: rand(s, DIM), b: rand(s, n * DIM, 0.1) };
    const outs = { xn: new Float32Array(rows * DIM), rstd: new Float32Array(rows), c: new Float32Array(rows * n) };
    await timed(s, 'few-row norm+product', `${rows}×${DIM}×${n} ${tag}`, () =>
      both(
        ctx,
        fewRow,
        { ...inputs, ...outs },
        ['xn', 'rstd', 'c'],
        (o, t) => o.rmsnormMatmulNT(t.xn!, t.rstd!, t.c!, t.x!, t.w!, t.b!, rows, DIM, n, 1e-6),
        { b: { width: DIM, f16 } },
      ),
    );
  }
}

async function checkSwiglu(s: SelfCheckState): Promise<void> {
  const n = tokenRows(s) * INTER;
  await timed(s, 'swiglu fwd+bwd', `${n}`, () =>
    both(
      s.ctx,
      s.gpu,
      { g: rand(s, n, 3), u: rand(s, n), a: rand(s, n), da: rand(s, n), dg: rand(s, n), du: rand(s, n) },
      ['a', 'dg', 'du'],
      (o, t) => {
        o.swigluForward(t.a!, t.g!, t.u!, n);
        o.swigluBackward(t.dg!, t.du!, t.da!, t.g!, t.u!, n);
      },
    ),
  );
}

async function checkRope(s: SelfCheckState): Promise<void> {
  const rows = tokenRows(s);
  const positions = Int32Array.from({ length: rows }, (_, i) => (i * 7) % 300);
  await timed(s, 'rope fwd/bwd', `${rows}×4×32`, () =>
    both(s.ctx, s.gpu, { x: rand(s, rows * 128) }, ['x'], (o, t) => {
      const tab = o.ropeTable(1e4, 32, 300);
      o.ropeApply(t.x!, positions, rows, 4, 32, tab, 1);
      o.ropeApply(t.x!, positions, rows, 4, 32, tab, -1);
      o.ropeApply(t.x!, positions, rows, 4, 32, tab, 1);
    }),
  );
}

async function checkAttention(s: SelfCheckState): Promise<void> {
  for (const hd of [64, 128]) await checkAttentionHeadDim(s, hd);
}

/** Three sequences (lengths 70·big, 33, 97) of grouped-query attention, 12 query heads over 2 kv heads. */
async function checkAttentionHeadDim(s: SelfCheckState, hd: number): Promise<void> {
  const big = s.big;
  const rowStart = Int32Array.of(0, 70 * big, 70 * big + 33, 70 * big + 130);
  const R = rowStart[3]!,
    H = 12,
    KV = 2;
  await timed(s, 'attention fwd+bwd', `seqs ${70 * big},33,97 heads 12/2 hd ${hd}`, () =>
    both(
      s.ctx,
      s.gpu,
      {
        q: rand(s, R * H * hd),
        k: rand(s, R * KV * hd),
        v: rand(s, R * KV * hd),
        o: rand(s, R * H * hd),
        lse: rand(s, R * H),
        dO: rand(s, R * H * hd),
        dq: rand(s, R * H * hd),
        dk: rand(s, R * KV * hd),
        dv: rand(s, R * KV * hd),
      },
      ['o', 'lse', 'dq', 'dk', 'dv'],
      (o, t) => {
        const hs = { nHeads: H, nKvHeads: KV, headDim: hd };
        o.attentionForward(t.o!, t.lse!, t.q!, t.k!, t.v!, rowStart, hs);
        o.attentionBackward(t.dq!, t.dk!, t.dv!, t.dO!, t.q!, t.k!, t.v!, t.o!, t.lse!, rowStart, hs);
      },
    ),
  );
}

async function checkLoraLinear(s: SelfCheckState): Promise<void> {
  for (const f16 of [false, true])
    await timed(s, 'lora linear fwd+bwd', `${tokenRows(s)}×${DIM}→${INTER} r ${RANK} ${f16 ? 'f16' : 'f32'} W`, () =>
      loraLinearBoth(s, f16),
    );
}

/** One LoRA linear forward and backward, DIM → INTER, the base weight stored f16 when `f16`. */
function loraLinearBoth(s: SelfCheckState, f16: boolean): Promise<number> {
  const rows = tokenRows(s),
    r = RANK,
    shape = { rows, inF: DIM, outF: INTER };
  return both(
    s.ctx,
    s.gpu,
    {
      x: rand(s, rows * DIM),
      w: rand(s, INTER * DIM, 0.1),
      bias: rand(s, INTER),
      a: rand(s, r * DIM, 0.1),
      b: rand(s, INTER * r, 0.1),
      y: rand(s, rows * INTER),
      us: rand(s, rows * r),
      dy: rand(s, rows * INTER),
      dx: rand(s, rows * DIM),
      dA: rand(s, r * DIM),
      dB: rand(s, INTER * r),
      dz: rand(s, rows * r),
      dxs: rand(s, rows * INTER),
    },
    ['y', 'us', 'dx', 'dA', 'dB'],
    (o, t) => {
      const lora = { a: t.a!, b: t.b!, r, scale: 2 };
      o.loraLinearForward(t.y!, t.x!, t.w!, t.bias!, shape, lora, t.x!, t.us!);
      const grads = { dx: t.dx!, dW: null, dBias: null, dA: t.dA!, dB: t.dB! };
      o.loraLinearBackward(grads, t.dy!, t.x!, t.w!, shape, lora, t.x!, t.us!, null, t.dz!, t.dxs!);
    },
    { w: { width: DIM, f16 } },
  );
}

async function checkLmHead(s: SelfCheckState): Promise<void> {
  const V = s.large ? 151936 : 5003,
    M = 19;
  const targets = Int32Array.from({ length: M }, (_, i) => (i * 977) % V);
  await timed(s, 'lm head fwd+bwd', `${M}×${DIM}×${V}`, () =>
    both(
      s.ctx,
      s.gpu,
      {
        hs: rand(s, M * DIM),
        w: rand(s, V * DIM, 0.2),
        lp: rand(s, M),
        lse: rand(s, M),
        ent: rand(s, M),
        dl: rand(s, M),
        dhs: rand(s, M * DIM),
      },
      ['lp', 'lse', 'ent', 'dhs'],
      (o, t) => {
        o.lmHeadForward(t.lp!, t.lse!, t.ent!, t.hs!, t.w!, targets, M, DIM, V, 1 / 0.7, null);
        o.lmHeadBackward(t.dhs!, null, t.dl!, t.hs!, t.w!, t.lse!, targets, M, DIM, V, 1 / 0.7);
      },
      { w: { width: DIM, f16: false } },
    ),
  );
}

async function checkGatherScatter(s: SelfCheckState): Promise<void> {
  const idx = Int32Array.from({ length: 40 }, (_, i) => (i * 13) % 17);
  await timed(s, 'gather/scatter rows', `40 of 17×${DIM}`, () =>
    both(
      s.ctx,
      s.gpu,
      { src: rand(s, 17 * DIM), dst: rand(s, 40 * DIM), acc: rand(s, 17 * DIM) },
      ['dst', 'acc'],
      (o, t) => {
        o.gatherRows(t.dst!, t.src!, idx, DIM);
        o.scatterAddRows(t.acc!, t.dst!, idx, DIM);
      },
    ),
  );
}

async function checkAdamw(s: SelfCheckState): Promise<void> {
  const n = 10007;
  await timed(s, 'adamw', `${n}`, () =>
    both(
      s.ctx,
      s.gpu,
      { p: rand(s, n), g: rand(s, n), m: rand(s, n, 0.01), v: rand(s, n, 0.01).map(Math.abs) },
      ['p', 'm', 'v'],
      (o, t) => o.adamwStep(t.p!, t.g!, t.m!, t.v!, 1e-3, 0.9, 0.99, 1e-8, 0.01, 3, 0.5),
    ),
  );
}

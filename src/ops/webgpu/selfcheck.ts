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

export async function selfCheck(ctx: GpuContext, opts: { large?: boolean } = {}): Promise<SelfCheckRow[]> {
  const gpu = webgpuOps(ctx);
  const rng = new Rng(20261201);
  const rand = (n: number, s = 1): Float32Array => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = s * (2 * rng.next() - 1);
    return a;
  };
  const rows: SelfCheckRow[] = [];
  const run = async (op: string, shape: string, f: () => Promise<number>): Promise<void> => {
    const t0 = performance.now();
    rows.push({ op, shape, relError: await f(), ms: performance.now() - t0 });
  };
  const big = opts.large ? 4 : 1;
  for (const [m, k, n] of [
    [37, 64, 29],
    [128 * big, 256, 192 * big],
    [1, 1536, 8960 / (opts.large ? 1 : 8)],
  ] as [number, number, number][]) {
    for (const f16 of [false, true]) {
      const tag = `${m}×${k}×${n} ${f16 ? 'f16' : 'f32'} B`;
      await run('matmulNT', tag, () =>
        both(
          ctx,
          gpu,
          { a: rand(m * k), b: rand(n * k, 0.1), c: rand(m * n) },
          ['c'],
          (o, t) => o.matmulNT(t.c!, t.a!, t.b!, m, k, n, true),
          { b: { width: k, f16 } },
        ),
      );
      await run('matmulNN', tag, () =>
        both(
          ctx,
          gpu,
          { a: rand(m * k), b: rand(k * n, 0.1), c: rand(m * n) },
          ['c'],
          (o, t) => o.matmulNN(t.c!, t.a!, t.b!, m, k, n, false),
          { b: { width: n, f16 } },
        ),
      );
    }
    await run('matmulTN', `${m}×${k}×${n}`, () =>
      both(ctx, gpu, { a: rand(k * m), b: rand(k * n), c: rand(m * n) }, ['c'], (o, t) =>
        o.matmulTN(t.c!, t.a!, t.b!, m, k, n, true),
      ),
    );
  }
  const rows_ = 50 * big,
    D = 128,
    I = 352,
    r = 8;
  await run('rmsnorm fwd+bwd', `${rows_}×${D}`, () =>
    both(
      ctx,
      gpu,
      {
        x: rand(rows_ * D),
        w: rand(D),
        y: rand(rows_ * D),
        rstd: rand(rows_),
        dy: rand(rows_ * D),
        dx: rand(rows_ * D),
        dw: rand(D),
      },
      ['y', 'rstd', 'dx', 'dw'],
      (o, t) => {
        o.rmsnormForward(t.y!, t.rstd!, t.x!, t.w!, rows_, D, 1e-6);
        o.rmsnormBackward(t.dx!, t.dw!, t.dy!, t.x!, t.w!, t.rstd!, rows_, D);
      },
    ),
  );
  await run('swiglu fwd+bwd', `${rows_ * I}`, () =>
    both(
      ctx,
      gpu,
      {
        g: rand(rows_ * I, 3),
        u: rand(rows_ * I),
        a: rand(rows_ * I),
        da: rand(rows_ * I),
        dg: rand(rows_ * I),
        du: rand(rows_ * I),
      },
      ['a', 'dg', 'du'],
      (o, t) => {
        o.swigluForward(t.a!, t.g!, t.u!, rows_ * I);
        o.swigluBackward(t.dg!, t.du!, t.da!, t.g!, t.u!, rows_ * I);
      },
    ),
  );
  const positions = Int32Array.from({ length: rows_ }, (_, i) => (i * 7) % 300);
  await run('rope fwd/bwd', `${rows_}×4×32`, () =>
    both(ctx, gpu, { x: rand(rows_ * 128) }, ['x'], (o, t) => {
      const tab = o.ropeTable(1e4, 32, 300);
      o.ropeApply(t.x!, positions, rows_, 4, 32, tab, 1);
      o.ropeApply(t.x!, positions, rows_, 4, 32, tab, -1);
      o.ropeApply(t.x!, positions, rows_, 4, 32, tab, 1);
    }),
  );
  for (const hd of [64, 128]) {
    const rowStart = Int32Array.of(0, 70 * big, 70 * big + 33, 70 * big + 130);
    const R = rowStart[3]!,
      H = 12,
      KV = 2;
    await run('attention fwd+bwd', `seqs ${70 * big},33,97 heads 12/2 hd ${hd}`, () =>
      both(
        ctx,
        gpu,
        {
          q: rand(R * H * hd),
          k: rand(R * KV * hd),
          v: rand(R * KV * hd),
          o: rand(R * H * hd),
          lse: rand(R * H),
          dO: rand(R * H * hd),
          dq: rand(R * H * hd),
          dk: rand(R * KV * hd),
          dv: rand(R * KV * hd),
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
  for (const f16 of [false, true]) {
    await run('lora linear fwd+bwd', `${rows_}×${D}→${I} r ${r} ${f16 ? 'f16' : 'f32'} W`, () =>
      both(
        ctx,
        gpu,
        {
          x: rand(rows_ * D),
          w: rand(I * D, 0.1),
          bias: rand(I),
          a: rand(r * D, 0.1),
          b: rand(I * r, 0.1),
          y: rand(rows_ * I),
          us: rand(rows_ * r),
          dy: rand(rows_ * I),
          dx: rand(rows_ * D),
          dA: rand(r * D),
          dB: rand(I * r),
          dz: rand(rows_ * r),
          dxs: rand(rows_ * I),
        },
        ['y', 'us', 'dx', 'dA', 'dB'],
        (o, t) => {
          const lora = { a: t.a!, b: t.b!, r, scale: 2 };
          o.loraLinearForward(t.y!, t.x!, t.w!, t.bias!, { rows: rows_, inF: D, outF: I }, lora, t.x!, t.us!);
          o.loraLinearBackward(
            { dx: t.dx!, dW: null, dBias: null, dA: t.dA!, dB: t.dB! },
            t.dy!,
            t.x!,
            t.w!,
            { rows: rows_, inF: D, outF: I },
            lora,
            t.x!,
            t.us!,
            null,
            t.dz!,
            t.dxs!,
          );
        },
        { w: { width: D, f16 } },
      ),
    );
  }
  const V = opts.large ? 151936 : 5003,
    M = 19;
  const targets = Int32Array.from({ length: M }, (_, i) => (i * 977) % V);
  await run('lm head fwd+bwd', `${M}×${D}×${V}`, () =>
    both(
      ctx,
      gpu,
      { hs: rand(M * D), w: rand(V * D, 0.2), lp: rand(M), lse: rand(M), ent: rand(M), dl: rand(M), dhs: rand(M * D) },
      ['lp', 'lse', 'ent', 'dhs'],
      (o, t) => {
        o.lmHeadForward(t.lp!, t.lse!, t.ent!, t.hs!, t.w!, targets, M, D, V, 1 / 0.7, null);
        o.lmHeadBackward(t.dhs!, null, t.dl!, t.hs!, t.w!, t.lse!, targets, M, D, V, 1 / 0.7);
      },
      { w: { width: D, f16: false } },
    ),
  );
  const idx = Int32Array.from({ length: 40 }, (_, i) => (i * 13) % 17);
  await run('gather/scatter rows', `40 of 17×${D}`, () =>
    both(ctx, gpu, { src: rand(17 * D), dst: rand(40 * D), acc: rand(17 * D) }, ['dst', 'acc'], (o, t) => {
      o.gatherRows(t.dst!, t.src!, idx, D);
      o.scatterAddRows(t.acc!, t.dst!, idx, D);
    }),
  );
  const n = 10007;
  await run('adamw', `${n}`, () =>
    both(
      ctx,
      gpu,
      { p: rand(n), g: rand(n), m: rand(n, 0.01), v: rand(n, 0.01).map(Math.abs) },
      ['p', 'm', 'v'],
      (o, t) => o.adamwStep(t.p!, t.g!, t.m!, t.v!, 1e-3, 0.9, 0.99, 1e-8, 0.01, 3, 0.5),
    ),
  );
  return rows;
}

// Micro-benchmark of the elementwise, row, norm and optimizer kernels: time per call and achieved
// GB/s (bytes each kernel must move at least, over its time) at the shapes of a learner step.
// These kernels are memory-bound, so GB/s against the device's bandwidth (4.8 TB/s on an H200) is
// their figure of merit. No Node API: runs wherever a GpuContext does.
import { allocTensor, beginScope, endScope, fillTensor, finish, type GpuContext } from './context.js';
import type { GpuTensor } from './tensor.js';
import {
  addInPlace,
  copyTensor,
  dropout,
  gatherRows,
  rmsnormBackward,
  rmsnormForward,
  ropeApply,
  scatterAddRows,
  swigluBackward,
  swigluForward,
} from './elementwise.js';
import { adamwStep, sumOfSquares } from './optimizer.js';
import { ropeTable } from '../cpu/rope.js';

export interface ElementwiseBenchShape {
  label: string;
  /** Token rows of the step (a micro-batch). */
  tokens: number;
  hidden: number;
  intermediate: number;
  heads: number;
  headDim: number;
  /** Embedding rows (the gather source, f16). */
  vocab: number;
  /** Elements of the flat LoRA block (AdamW and the grad norm). */
  loraParams: number;
}

/** DeepSeek-R1-Distill-Qwen-1.5B (hidden 1536, MLP 8960, 12×128 heads, vocab 151936, LoRA r 32 on seven modules × 28 layers). */
export const SHAPE_1P5B: Omit<ElementwiseBenchShape, 'label' | 'tokens'> = {
  hidden: 1536,
  intermediate: 8960,
  heads: 12,
  headDim: 128,
  vocab: 151936,
  loraParams: 36_929_536,
};

/** Shapes small enough for SwiftShader. */
export const SHAPE_QUICK: Omit<ElementwiseBenchShape, 'label' | 'tokens'> = {
  hidden: 256,
  intermediate: 704,
  heads: 4,
  headDim: 64,
  vocab: 4096,
  loraParams: 200_000,
};

export interface ElementwiseBenchRow {
  kernel: string;
  shape: string;
  /** Bytes the kernel reads and writes at least (one pass over each operand). */
  bytes: number;
  msPerCall: number;
  gbPerS: number;
  reps: number;
}

interface Case {
  kernel: string;
  shape: string;
  bytes: number;
  call: () => unknown;
}

function filled(ctx: GpuContext, n: number, value: number, dtype: 'f32' | 'f16' = 'f32'): GpuTensor {
  const t = allocTensor(ctx, n, dtype, dtype === 'f16');
  if (dtype === 'f32') fillTensor(ctx, t, value);
  return t;
}

function randomIndex(n: number, bound: number, seed: number): Int32Array {
  const out = new Int32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s % bound;
  }
  return out;
}

function cases(ctx: GpuContext, s: ElementwiseBenchShape): Case[] {
  const T = s.tokens,
    D = s.hidden,
    I = s.intermediate,
    Q = s.heads * s.headDim;
  const nD = T * D,
    nI = T * I;
  const x = filled(ctx, nD, 0.5),
    y = filled(ctx, nD, 0.25),
    y2 = filled(ctx, nD, 0),
    w = filled(ctx, D, 1),
    dw = filled(ctx, D, 0),
    rstd = filled(ctx, T, 1);
  const g = filled(ctx, nI, 0.3),
    u = filled(ctx, nI, 0.7),
    a = filled(ctx, nI, 0),
    da = filled(ctx, nI, 0.1),
    dg = filled(ctx, nI, 0),
    du = filled(ctx, nI, 0);
  const q = filled(ctx, T * Q, 0.5);
  const positions = Int32Array.from({ length: T }, (_, i) => i % 4096);
  const table = ropeTable(1e6, s.headDim, 4096);
  const embed = filled(ctx, s.vocab * D, 0, 'f16');
  const tokenIds = randomIndex(T, s.vocab, 1);
  const scored = randomIndex(T, Math.max(1, T >> 1), 2);
  const P = s.loraParams;
  const param = filled(ctx, P, 0.01),
    grad = filled(ctx, P, 1e-4),
    m = filled(ctx, P, 0),
    v = filled(ctx, P, 0);
  const shD = `[${T}, ${D}]`,
    shI = `[${T}, ${I}]`;
  const uniqueScored = new Set(scored).size;
  return [
    { kernel: 'copy', shape: shD, bytes: 8 * nD, call: () => copyTensor(ctx, y2, x, nD) },
    { kernel: 'addInPlace', shape: shD, bytes: 12 * nD, call: () => addInPlace(ctx, y, x, nD) },
    {
      kernel: 'rmsnormForward',
      shape: shD,
      bytes: 8 * nD + 4 * (D + T),
      call: () => rmsnormForward(ctx, y2, rstd, x, w, T, D, 1e-6),
    },
    {
      kernel: 'rmsnormBackward',
      shape: shD,
      bytes: 16 * nD + 4 * (D + T),
      call: () => rmsnormBackward(ctx, y2, null, y, x, w, rstd, T, D),
    },
    {
      kernel: 'rmsnormBackward+dw',
      shape: shD,
      bytes: 24 * nD + 4 * (D + T),
      call: () => rmsnormBackward(ctx, y2, dw, y, x, w, rstd, T, D),
    },
    {
      kernel: 'ropeApply',
      shape: `[${T}, ${s.heads}×${s.headDim}]`,
      bytes: 8 * T * Q + 4 * T,
      call: () => ropeApply(ctx, q, positions, T, s.heads, s.headDim, table, 1),
    },
    { kernel: 'swigluForward', shape: shI, bytes: 12 * nI, call: () => swigluForward(ctx, a, g, u, nI) },
    { kernel: 'swigluBackward', shape: shI, bytes: 20 * nI, call: () => swigluBackward(ctx, dg, du, da, g, u, nI) },
    {
      kernel: 'dropout',
      shape: shD,
      bytes: 12 * nD,
      call: () => dropout(ctx, y2, y, x, nD, 0.05, { kind: 'counter', seed: 3, stream: 7 }),
    },
    {
      kernel: 'gatherRows (f16 embed)',
      shape: `${T} of [${s.vocab}, ${D}]`,
      bytes: 6 * nD + 4 * T,
      call: () => gatherRows(ctx, y2, embed, tokenIds, D),
    },
    {
      kernel: 'scatterAddRows',
      shape: `${T} → ${uniqueScored} rows × ${D}`,
      bytes: 4 * nD + 8 * uniqueScored * D,
      call: () => scatterAddRows(ctx, y2, x, scored, D),
    },
    {
      kernel: 'adamwStep',
      shape: `${P}`,
      bytes: 28 * P,
      call: () => adamwStep(ctx, param, grad, m, v, 1e-5, 0.9, 0.999, 1e-8, 0, 1, 1),
    },
    { kernel: 'sumOfSquares (+read-back)', shape: `${P}`, bytes: 4 * P, call: () => sumOfSquares(ctx, grad) },
  ];
}

/**
 * Times every kernel at each shape: one warm-up call (pipelines, index uploads), then `reps` calls
 * between two finish() waits. Tensors are released after each shape.
 */
export async function benchElementwise(
  ctx: GpuContext,
  shapes: ElementwiseBenchShape[],
  reps = 10,
): Promise<ElementwiseBenchRow[]> {
  const rows: ElementwiseBenchRow[] = [];
  for (const shape of shapes) {
    beginScope(ctx);
    try {
      for (const c of cases(ctx, shape)) {
        await c.call();
        await finish(ctx);
        const t0 = performance.now();
        for (let r = 0; r < reps; r++) await c.call();
        await finish(ctx);
        const ms = (performance.now() - t0) / reps;
        rows.push({
          kernel: c.kernel,
          shape: `${shape.label} ${c.shape}`,
          bytes: c.bytes,
          msPerCall: ms,
          gbPerS: c.bytes / (ms * 1e6),
          reps,
        });
      }
    } finally {
      endScope(ctx);
    }
  }
  return rows;
}

/** Shapes at a few token counts (one micro-batch each) for the 1.5B model or the quick set. */
export function elementwiseBenchShapes(
  quick: boolean,
  tokenCounts = quick ? [64, 256] : [1024, 4096, 16384],
): ElementwiseBenchShape[] {
  return tokenCounts.map((tokens) => ({
    ...(quick ? SHAPE_QUICK : SHAPE_1P5B),
    label: `${quick ? 'quick' : '1.5B'} T=${tokens}`,
    tokens,
  }));
}

export function formatElementwiseTable(rows: ElementwiseBenchRow[]): string {
  const head = ['kernel', 'shape', 'MB moved', 'ms/call', 'GB/s'];
  const body = rows.map((r) => [
    r.kernel,
    r.shape,
    (r.bytes / 1e6).toFixed(2),
    r.msPerCall.toFixed(3),
    r.gbPerS.toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [
    line(head),
    `|${widths.map((w, i) => (i < 2 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}

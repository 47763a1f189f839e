// Micro-benchmark of the flash-attention kernels: time per forward and per backward call and the
// achieved GFLOP/s at given shapes, on whatever adapter the context has. No Node API (a browser tab
// can run it); `npm run bench:gpu-learner` prints its table.
//
// FLOPs counted (causal, so P = Σ_s L_s(L_s+1)/2 query-key pairs): forward 4·P·hd·nHeads (Q·Kᵀ and
// P·V); backward the usual 2.5× of that, 10·P·hd·nHeads (Q·Kᵀ recomputed, dO·Vᵀ, Pᵀ·dO, dSᵀ·Q, dS·K).
// Without float atomics the backward recomputes Q·Kᵀ and dO·Vᵀ in both of its passes, so it executes
// 14·P·hd·nHeads; `bwdExecGflops` is the rate on that count.
import { allocTensor, finish, releaseTensor, uploadTensor, type GpuContext } from './context.js';
import { attentionBackward, attentionForward, type AttentionOptions } from './attention.js';
import type { HeadShape } from '../types.js';

export interface AttentionBenchShape extends HeadShape {
  name: string;
  /** Lengths of the packed sequences. */
  lens: number[];
}

export interface AttentionBenchRow {
  name: string;
  tokens: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  fwdMs: number;
  bwdMs: number;
  fwdGflops: number;
  bwdGflops: number;
  bwdExecGflops: number;
}

/** Shapes small enough for SwiftShader. */
export const ATTENTION_BENCH_QUICK: AttentionBenchShape[] = [
  { name: '1.5B heads, 1×256', lens: [256], nHeads: 12, nKvHeads: 2, headDim: 128 },
  { name: '0.5B heads, 2×128', lens: [128, 128], nHeads: 14, nKvHeads: 2, headDim: 64 },
  { name: 'tiny heads, 1×512', lens: [512], nHeads: 4, nKvHeads: 2, headDim: 32 },
];

/** The learner's shapes on a GPU: 4k-token sequences, and a packed micro-batch of mixed lengths. */
export const ATTENTION_BENCH_FULL: AttentionBenchShape[] = [
  { name: '1.5B heads, 1×1024', lens: [1024], nHeads: 12, nKvHeads: 2, headDim: 128 },
  { name: '1.5B heads, 1×4096', lens: [4096], nHeads: 12, nKvHeads: 2, headDim: 128 },
  { name: '1.5B heads, 4×4096', lens: [4096, 4096, 4096, 4096], nHeads: 12, nKvHeads: 2, headDim: 128 },
  { name: '1.5B heads, packed 3584+2000+700+300', lens: [3584, 2000, 700, 300], nHeads: 12, nKvHeads: 2, headDim: 128 },
  { name: '0.5B heads, 4×4096', lens: [4096, 4096, 4096, 4096], nHeads: 14, nKvHeads: 2, headDim: 64 },
  { name: 'tiny heads, 4×4096', lens: [4096, 4096, 4096, 4096], nHeads: 4, nKvHeads: 2, headDim: 32 },
];

function pairs(lens: number[]): number {
  return lens.reduce((s, L) => s + (L * (L + 1)) / 2, 0);
}

/** Times `reps` forward and `reps` backward calls per shape (after one untimed call that compiles the kernels). */
export async function benchAttention(
  ctx: GpuContext,
  shapes: AttentionBenchShape[],
  reps = 3,
  opts?: AttentionOptions,
): Promise<AttentionBenchRow[]> {
  const rows: AttentionBenchRow[] = [];
  for (const s of shapes) {
    const T = s.lens.reduce((a, b) => a + b, 0),
      Q = s.nHeads * s.headDim,
      KV = s.nKvHeads * s.headDim;
    const rowStart = Int32Array.from([0, ...s.lens.map((_, i) => s.lens.slice(0, i + 1).reduce((a, b) => a + b, 0))]);
    const fill = (n: number, seed: number): Float32Array =>
      Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
    const q = uploadTensor(ctx, fill(T * Q, 1)),
      k = uploadTensor(ctx, fill(T * KV, 2)),
      v = uploadTensor(ctx, fill(T * KV, 3));
    const dO = uploadTensor(ctx, fill(T * Q, 4));
    const o = allocTensor(ctx, T * Q),
      lse = allocTensor(ctx, T * s.nHeads);
    const dq = allocTensor(ctx, T * Q, 'f32', true),
      dk = allocTensor(ctx, T * KV, 'f32', true),
      dv = allocTensor(ctx, T * KV, 'f32', true);
    const fwd = (): void => attentionForward(ctx, o, lse, q, k, v, rowStart, s, opts);
    const bwd = (): void => attentionBackward(ctx, dq, dk, dv, dO, q, k, v, o, lse, rowStart, s, opts);
    const time = async (f: () => void): Promise<number> => {
      f();
      await finish(ctx);
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) f();
      await finish(ctx);
      return (performance.now() - t0) / reps;
    };
    const fwdMs = await time(fwd),
      bwdMs = await time(bwd);
    const unit = pairs(s.lens) * s.headDim * s.nHeads;
    rows.push({
      name: s.name,
      tokens: T,
      nHeads: s.nHeads,
      nKvHeads: s.nKvHeads,
      headDim: s.headDim,
      fwdMs,
      bwdMs,
      fwdGflops: (4 * unit) / fwdMs / 1e6,
      bwdGflops: (10 * unit) / bwdMs / 1e6,
      bwdExecGflops: (14 * unit) / bwdMs / 1e6,
    });
    for (const t of [q, k, v, dO, o, lse, dq, dk, dv]) releaseTensor(ctx, t);
  }
  return rows;
}

/** A plain-text table of the rows. */
export function formatAttentionBench(rows: AttentionBenchRow[]): string {
  const head = ['shape', 'tokens', 'heads', 'hd', 'fwd ms', 'fwd GFLOP/s', 'bwd ms', 'bwd GFLOP/s', 'bwd exec GFLOP/s'];
  const body = rows.map((r) => [
    r.name,
    String(r.tokens),
    `${r.nHeads}/${r.nKvHeads}`,
    String(r.headDim),
    r.fwdMs.toFixed(2),
    r.fwdGflops.toFixed(1),
    r.bwdMs.toFixed(2),
    r.bwdGflops.toFixed(1),
    r.bwdExecGflops.toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

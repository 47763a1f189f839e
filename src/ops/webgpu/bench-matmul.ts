// Matmul micro-benchmark: time per call and achieved GFLOP/s of each variant at given shapes, timed
// with finish() around repetitions (so it measures GPU time plus one submit). No Node API: the
// learner bench (`npm run bench:gpu-learner`) and a browser tab can both call it.
import type { GpuContext } from './context.js';
import { MATMUL_VARIANTS, pickVariant, variantUnavailable, type MatmulOp, type MatmulVariant } from './gemm.js';
import { prepareMatmul, selfCheckMatmul, timeProduct, type MatmulCheck, type MatmulTiming } from './matmul-check.js';

export interface MatmulBenchShape {
  name: string;
  op: MatmulOp;
  m: number;
  k: number;
  n: number;
}

/** The products of one DeepSeek-R1-Distill-Qwen-1.5B learner micro-batch of 256 rows. */
export const MATMUL_SHAPES_1P5B: MatmulBenchShape[] = [
  { name: 'q/o proj y=x·Wᵀ', op: 'NT', m: 256, k: 1536, n: 1536 },
  { name: 'gate/up y=x·Wᵀ', op: 'NT', m: 256, k: 1536, n: 8960 },
  { name: 'down y=x·Wᵀ', op: 'NT', m: 256, k: 8960, n: 1536 },
  { name: 'down dx=dy·W', op: 'NN', m: 256, k: 1536, n: 8960 },
  { name: 'LoRA us=x·Aᵀ (r 32)', op: 'NT', m: 256, k: 1536, n: 32 },
  { name: 'LoRA dA=dzᵀ·x', op: 'TN', m: 32, k: 256, n: 1536 },
  { name: 'lm_head chunk z=h·Wᵀ', op: 'NT', m: 256, k: 1536, n: 151936 },
];

/** Shapes small enough for SwiftShader (tens of MFLOP/s there). */
export const MATMUL_SHAPES_QUICK: MatmulBenchShape[] = [
  { name: 'q proj, 8 rows', op: 'NT', m: 8, k: 1536, n: 1536 },
  { name: 'down dx, 8 rows', op: 'NN', m: 8, k: 1536, n: 1536 },
  { name: 'LoRA dA, 64 rows', op: 'TN', m: 32, k: 64, n: 1536 },
];

export interface MatmulBenchRow {
  shape: string;
  op: MatmulOp;
  m: number;
  k: number;
  n: number;
  variant: MatmulVariant;
  b: 'f32' | 'f16';
  /** null when the variant is unavailable on this device (see note). */
  ms: number | null;
  gflops: number | null;
  note?: string;
}

export interface MatmulBenchOptions {
  shapes?: MatmulBenchShape[];
  variants?: MatmulVariant[];
  /** B operand storage types to time (weights: f16 in the learner, f32 for comparison). */
  bTypes?: ('f32' | 'f16')[];
  reps?: number;
}

/** Times every (shape, variant, B type); unavailable variants get a row with the reason. */
export async function benchMatmul(ctx: GpuContext, opts: MatmulBenchOptions = {}): Promise<MatmulBenchRow[]> {
  const shapes = opts.shapes ?? MATMUL_SHAPES_1P5B;
  const variants = opts.variants ?? MATMUL_VARIANTS.filter((v) => v !== 'f16-emulated');
  const rows: MatmulBenchRow[] = [];
  for (const s of shapes) {
    for (const variant of variants) {
      for (const b of opts.bTypes ?? ['f16', 'f32']) {
        const base = { shape: s.name, op: s.op, m: s.m, k: s.k, n: s.n, variant, b };
        const why = variantUnavailable(ctx, variant);
        if (why) {
          rows.push({ ...base, ms: null, gflops: null, note: why });
          continue;
        }
        try {
          const t = await timeProduct(ctx, variant, b, s.m, s.k, s.n, opts.reps ?? 5, s.op);
          rows.push({ ...base, ms: t.ms, gflops: t.gflops });
        } catch (e) {
          rows.push({ ...base, ms: null, gflops: null, note: `failed: ${(e as Error).message.split('\n')[0]}` });
        }
      }
    }
  }
  return rows;
}

/** A plain-text table of the rows (one line per row). */
export function formatMatmulTable(rows: MatmulBenchRow[]): string {
  const head = ['shape', 'op', 'M', 'K', 'N', 'variant', 'B', 'ms/call', 'GFLOP/s'];
  const body = rows.map((r) => [
    r.shape,
    r.op,
    String(r.m),
    String(r.k),
    String(r.n),
    r.variant,
    r.b,
    r.ms === null ? '-' : r.ms.toFixed(3),
    r.gflops === null ? (r.note ?? '-') : r.gflops.toFixed(r.gflops < 1 ? 4 : 1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (i === 8 ? 0 : b[i]!.length))));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 8 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(head), ...body.map(line)].join('\n');
}

export interface MatmulDeviceReport {
  adapter: string;
  features: string[];
  subgroupMatrixConfigs: unknown[];
  /** Self-check of every variant the device offers (the f16-emulated one included). */
  checks: MatmulCheck[];
  /** Variants admitted to automatic selection, and the timings that ranked them. */
  verified: MatmulVariant[];
  timings: MatmulTiming[];
  /** What 'auto' now picks for f32 and f16 weights. */
  auto: { f32: MatmulVariant; f16: MatmulVariant };
  bench: MatmulBenchRow[];
}

/**
 * Everything a GPU machine should report about the products, as JSON-ready data: the self-check
 * of every variant against the float64 product, admission and tuning, then the benchmark table.
 */
export async function matmulDeviceReport(ctx: GpuContext, opts: MatmulBenchOptions = {}): Promise<MatmulDeviceReport> {
  const info = (ctx.device as unknown as { adapterInfo?: { subgroupMatrixConfigs?: unknown[] } }).adapterInfo;
  const checks = await selfCheckMatmul(ctx);
  const prepared = await prepareMatmul(ctx, { tune: true });
  const bench = await benchMatmul(ctx, opts);
  return {
    adapter: ctx.info.adapter,
    features: ctx.info.features,
    subgroupMatrixConfigs: [...(info?.subgroupMatrixConfigs ?? [])],
    checks,
    verified: prepared.verified,
    timings: prepared.timings,
    auto: { f32: pickVariant(ctx, false), f16: pickVariant(ctx, true) },
    bench,
  };
}

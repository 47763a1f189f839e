// Which matmul variant a call gets (gemm.ts runs it): the variants, each context's settings (the
// default variant, the variants the self-check admitted, the tuned f32 and f16 choices, the split-K
// scratch budget) and why a context cannot run a variant.
import type { GpuContext } from './context.js';
import type { TileName } from './matmul-kernels.js';
import { isCpuAdapter } from './cpu-adapter.js';
import { sgmThreads, sgmTile, subgroupMatrixConfig } from './matmul-sgmatrix.js';

export type MatmulVariant = 'tiled' | 'subgroup' | 'f16' | 'f16-emulated' | 'subgroup-matrix' | 'direct';
export const MATMUL_VARIANTS: readonly MatmulVariant[] = [
  'tiled',
  'subgroup',
  'f16',
  'f16-emulated',
  'subgroup-matrix',
  'direct',
];

/** f32-weight variants (the ones tuning may make the f32 default). */
export type F32Variant = 'tiled' | 'subgroup' | 'direct';
export const isF32Variant = (v: MatmulVariant | undefined): v is F32Variant =>
  v === 'tiled' || v === 'subgroup' || v === 'direct';

export interface MatmulOptions {
  /** Force a variant ('auto': see above). Overrides the context setting. */
  matmulVariant?: MatmulVariant | 'auto';
  /** Force a register tile (not for subgroup-matrix, whose tile is fixed). */
  tile?: TileName;
  /** Force the number of K slices (1: no split-K). */
  splitK?: number;
}

// --- per-context settings ----------------------------------------------------------------------

export interface MatmulSettings {
  /** Variant for every call without its own matmulVariant. */
  variant: MatmulVariant | 'auto';
  /** Variants the self-check admitted for automatic use on this context. */
  verified: Set<MatmulVariant>;
  /** f32-weight variant 'auto' uses ('tiled', 'direct' on a CPU adapter, unless tuning found another faster). */
  f32Variant: F32Variant;
  /** f16-weight variant 'auto' uses when set (by tuning); else the first admitted of subgroup-matrix, f16. */
  f16Variant: MatmulVariant | null;
  /** Total K-slice scratch a split-K product may take (bytes). */
  splitKBytes: number;
}

const settings = new WeakMap<GpuContext, MatmulSettings>();

export function matmulSettings(ctx: GpuContext): MatmulSettings {
  let s = settings.get(ctx);
  if (!s)
    settings.set(
      ctx,
      (s = {
        variant: 'auto',
        verified: new Set(),
        f32Variant: isCpuAdapter(ctx) ? 'direct' : 'tiled',
        f16Variant: null,
        splitKBytes: 64 << 20,
      }),
    );
  return s;
}

export function configureMatmul(ctx: GpuContext, opts: Partial<MatmulSettings>): MatmulSettings {
  const s = matmulSettings(ctx);
  if (opts.variant !== undefined) {
    if (opts.variant !== 'auto') requireVariant(ctx, opts.variant);
    s.variant = opts.variant;
  }
  if (opts.verified) s.verified = new Set(opts.verified);
  if (opts.f32Variant) s.f32Variant = opts.f32Variant;
  if (opts.f16Variant !== undefined) s.f16Variant = opts.f16Variant;
  if (opts.splitKBytes !== undefined) s.splitKBytes = opts.splitKBytes;
  return s;
}

/** Why this context cannot run a variant, or null when it can. */
export function variantUnavailable(ctx: GpuContext, v: MatmulVariant): string | null {
  if (v === 'subgroup' && !ctx.subgroups) return 'the device has no `subgroups` feature';
  if (v === 'f16' && !ctx.f16) return 'the device has no `shader-f16` feature';
  if (v === 'subgroup-matrix') {
    if (!ctx.subgroupMatrix) return 'the device has no `chromium-experimental-subgroup-matrix` feature';
    const cfg = subgroupMatrixConfig(ctx);
    if (!cfg) return 'the device lists no f16→f32 subgroup-matrix configuration (or lacks shader-f16)';
    if ((ctx.info.subgroupMaxSize || 32) > ctx.info.limits.maxComputeInvocationsPerWorkgroup)
      return 'one subgroup exceeds the workgroup size limit';
    const need = 2 * 64 * sgmTile(cfg).bk * 2 + sgmThreads(ctx).subgroups * cfg.M * cfg.N * 4;
    if (ctx.info.limits.maxComputeWorkgroupStorageSize < need)
      return `the kernel needs ${need} bytes of workgroup memory`;
  }
  if (!MATMUL_VARIANTS.includes(v)) return `unknown matmul variant "${v}" (one of ${MATMUL_VARIANTS.join(', ')})`;
  return null;
}

export function requireVariant(ctx: GpuContext, v: MatmulVariant): void {
  const why = variantUnavailable(ctx, v);
  if (why) throw new Error(`matmul variant '${v}' is not available: ${why}`);
}

/** The variant a call with these options gets on this context (B f16 or f32). */
export function pickVariant(ctx: GpuContext, bF16: boolean, opts: MatmulOptions = {}): MatmulVariant {
  const s = matmulSettings(ctx);
  const v = opts.matmulVariant ?? s.variant;
  if (v !== 'auto') {
    requireVariant(ctx, v);
    return v;
  }
  // The portable f32 variants need no admission.
  const admitted = (x: MatmulVariant | null): x is MatmulVariant =>
    !!x && (x === 'tiled' || x === 'direct' || s.verified.has(x));
  if (bF16) {
    if (admitted(s.f16Variant)) return s.f16Variant;
    if (admitted('subgroup-matrix')) return 'subgroup-matrix';
    if (admitted('f16')) return 'f16';
  }
  return admitted(s.f32Variant) ? s.f32Variant : 'tiled';
}

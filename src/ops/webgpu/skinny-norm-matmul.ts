// RMSNorm folded into the few-row product after it, for decoding:
//   rstd[m] = 1/sqrt(mean(x[m]²) + eps),  xn[m, :] = x[m, :]·rstd[m]·nw,
//   y[M, N] = alpha · xn · W[N, K]ᵀ = alpha · rstd[m] · Σ_k (x[m, k]·nw[k]) · W[n, k]
// in one dispatch instead of the norm's and the product's (ops.rmsnormMatmulNT: a decode step's
// input norm with the stacked LoRA A product of q,k,v after it, and the post-attention norm with that
// of gate,up; 2 dispatches per layer fewer). The product needs every row's rstd only as a factor of its
// output, so each workgroup sums x² over its rows while it streams them for the product (the skinny
// kernel's geometry, skinny-matmul.ts: threads split K, MB rows, BN columns), reduces the sums with
// the partial products, and scales in the epilogue. The workgroups of the first column block also
// write xn and rstd, which the base product reads. Each column block recomputes its rows' sums: K
// multiply-adds per row against BN·K for the product, so ~1/BN more arithmetic and no second pass.
import { dispatch, type GpuContext, type KernelSpec } from './context.js';
import type { GpuTensor } from './tensor.js';
import { skinnyGeometry, skinnyLoader, skinnyStep, type SkinnyGeometry } from './skinny-matmul.js';

function kernel(wF16: boolean, nwF16: boolean, g: SkinnyGeometry): KernelSpec {
  const { WG, MB, BN } = g;
  const { loads, sums: acc } = skinnyStep(g);
  const body = [...loads, 'let g = ldnw(p.nwOff + k);'];
  for (let m = 0; m < MB; m++) {
    body.push(`let r${m} = select(0.0, x[p.xOff + min(m0 + ${m}u, mLast) * p.K + k], m0 + ${m}u < p.M);`);
    body.push(`ss${m} += r${m} * r${m};`, `let x${m} = r${m} * g;`);
    for (let j = 0; j < BN; j++) body.push(`a${m}_${j} += x${m} * w${j};`);
  }
  const sums = Array.from({ length: MB }, (_, m) => `ss${m}`);
  const decl = [...acc, ...sums].map((v) => `var ${v} = 0.0;`).join(' ');
  const stash = [
    ...acc.map((v, i) => `part[${i}u * ${WG}u + lid] = ${v};`),
    ...sums.map((v, m) => `sq[${m}u * ${WG}u + lid] = ${v};`),
  ].join(' ');
  return {
    key: `skinnyNormNT:${wF16 ? 'f16' : 'f32'}:${nwF16 ? 'f16' : 'f32'}:${WG}x${MB}x${BN}`,
    bindings: ['read', 'read', 'read', 'write', 'write', 'write'],
    code: /* wgsl */ `
struct Params { M: u32, N: u32, K: u32, xOff: u32, wOff: u32, nwOff: u32, yOff: u32, xnOff: u32, rstdOff: u32,
  alpha: f32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> nw: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> xn: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd: array<f32>;
var<workgroup> part: array<f32, ${MB * BN * WG}>;
var<workgroup> sq: array<f32, ${MB * WG}>;
var<workgroup> inv: array<f32, ${MB}>;
${skinnyLoader('ldw', 'w', wF16)}
${skinnyLoader('ldnw', 'nw', nwF16)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n0 = wid.x * ${BN}u;
  let m0 = wid.y * ${MB}u;
  let nLast = p.N - 1u;
  let mLast = p.M - 1u;
  ${decl}
  for (var k = lid; k < p.K; k += ${WG}u) {
    ${body.join('\n    ')}
  }
  ${stash}
  workgroupBarrier();
  for (var i = lid; i < ${MB}u; i += ${WG}u) {
    var s = 0.0;
    for (var t = 0u; t < ${WG}u; t++) { s += sq[i * ${WG}u + t]; }
    inv[i] = 1.0 / sqrt(s / f32(p.K) + p.eps);
    if (wid.x == 0u && m0 + i < p.M) { rstd[p.rstdOff + m0 + i] = inv[i]; }
  }
  workgroupBarrier();
  for (var o = lid; o < ${MB * BN}u; o += ${WG}u) {
    let m = m0 + o / ${BN}u;
    let n = n0 + o % ${BN}u;
    if (m < p.M && n < p.N) {
      var s = 0.0;
      for (var t = 0u; t < ${WG}u; t++) { s += part[o * ${WG}u + t]; }
      y[p.yOff + m * p.N + n] = p.alpha * inv[o / ${BN}u] * s;
    }
  }
  if (wid.x == 0u) {
    for (var m = 0u; m < ${MB}u; m++) {
      if (m0 + m >= p.M) { break; }
      let row = (m0 + m) * p.K;
      for (var k = lid; k < p.K; k += ${WG}u) {
        xn[p.xnOff + row + k] = x[p.xOff + row + k] * inv[m] * ldnw(p.nwOff + k);
      }
    }
  }
}`,
  };
}

const specs = new Map<string, KernelSpec>();

/** Why these operands cannot be taken (null: they can). */
function operandError(
  m: number,
  k: number,
  n: number,
  t: { xn: GpuTensor; rstd: GpuTensor; y: GpuTensor; x: GpuTensor; nw: GpuTensor; w: GpuTensor },
): string | null {
  const f32 = { xn: t.xn, rstd: t.rstd, y: t.y, x: t.x };
  for (const [name, v] of Object.entries(f32))
    if (v.dtype !== 'f32' || v.split) return `${name} must be a single-buffer f32 tensor`;
  for (const [name, v] of Object.entries({ nw: t.nw, w: t.w }))
    if ((v.dtype !== 'f32' && v.dtype !== 'f16') || v.split) return `${name} must be a single-buffer f32 or f16 tensor`;
  const need = { x: m * k, xn: m * k, rstd: m, y: m * n, nw: k, w: n * k };
  for (const [name, len] of Object.entries(need)) {
    const have = (t as Record<string, GpuTensor>)[name]!.length;
    if (have < len) return `${name} has ${have} elements, needs ${len} for m=${m} k=${k} n=${n}`;
  }
  // Each written operand (the first three) in a buffer no other operand binds.
  const all = [t.y, t.xn, t.rstd, t.x, t.nw, t.w];
  for (let i = 0; i < 3; i++)
    if (all.some((v, j) => j !== i && v.buffer === all[i]!.buffer))
      return 'y, xn and rstd must lie in buffers of their own (not shared with each other or the inputs)';
  return null;
}

/**
 * xn[m, k] = x·rstd·nw with rstd[m] = 1/sqrt(mean(x[m]²) + eps) (as rmsnormForward), and
 * y[m, n] = alpha · xn[m, :] · W[n, :] (as matmulNT, not accumulated), in one dispatch. Any M (blocks of
 * MB rows along the grid's y), but meant for few rows: each block of BN columns rereads the rows.
 */
export function skinnyRmsnormMatmulNT(
  ctx: GpuContext,
  xn: GpuTensor,
  rstd: GpuTensor,
  y: GpuTensor,
  x: GpuTensor,
  nw: GpuTensor,
  w: GpuTensor,
  m: number,
  k: number,
  n: number,
  eps: number,
  alpha = 1,
  geometry: SkinnyGeometry = skinnyGeometry(ctx),
): void {
  const where = 'skinnyRmsnormMatmulNT';
  if (m === 0 || n === 0) return;
  if (!(k > 0)) throw new Error(`${where}: k must be positive, got ${k}`);
  const bad = operandError(m, k, n, { xn, rstd, y, x, nw, w });
  if (bad) throw new Error(`${where}: ${bad}`);
  const { MB, BN } = geometry;
  const gx = Math.ceil(n / BN),
    gy = Math.ceil(m / MB);
  const lim = ctx.info.limits.maxComputeWorkgroupsPerDimension;
  if (gx > lim || gy > lim) throw new Error(`${where}: ${m}×${n} outputs exceed ${lim} workgroups per dimension`);
  const key = `${w.dtype}:${nw.dtype}:${geometry.WG}:${MB}:${BN}`;
  let spec = specs.get(key);
  if (!spec) specs.set(key, (spec = kernel(w.dtype === 'f16', nw.dtype === 'f16', geometry)));
  dispatch(
    ctx,
    spec,
    [x, w, nw, y, xn, rstd],
    [m, n, k, x.offset, w.offset, nw.offset, y.offset, xn.offset, rstd.offset, { f32: alpha }, { f32: eps }],
    [gx, gy],
  );
}

// Products with few rows, for decoding: y[M, N] (+)= alpha · x[M, K] · W[N, K]ᵀ (+ bias), the NT
// product of a linear layer, for M up to a few rows (one new token per sequence at small batch).
// There the tiled GEMM (matmul.ts) computes mostly padding and, with few output tiles, runs few
// workgroups; this kernel streams W once per block of MB rows instead: a workgroup of 64 threads
// owns BN output columns (rows of W) and splits K across its threads, so consecutive threads read
// consecutive elements of a W row (coalesced), each thread keeps MB × BN partial sums in registers,
// and one pass through workgroup memory adds the 64 partials. W may be f16 (packed) or f32, a view
// at any offset, or split into row blocks across buffers; x and y are f32 views.
//
// An optional low-rank term u·bᵀ is added in the epilogue (the LoRA branch's B product, fused: one
// dispatch fewer per adapted projection). x may be gated (SkinnyEpilogue.gatedX: packed gate | up rows,
// silu(gate)·up formed as it is loaded; a compile-time variant, so plain loads stay one read).
// Semantics are exactly gemm's NT with { accumulate, alpha, bias }, so the engine can route a
// decode step's linear layers and LoRA branches here (decodeOps) with the same results as the
// operation interface's, up to f32 summation order.
import { dispatch, type GpuContext, type KernelSpec } from './context.js';
import { rowParts, type GpuTensor } from './tensor.js';
import { lowRankError, lowRankLd, lowRankSegments, type LowRank } from './gemm.js';
import { segmentWords, shiftSegments } from './gemm-block.js';
import { LOW_RANK, SILU } from './matmul-kernels.js';
import { isCpuAdapter } from './cpu-adapter.js';

/**
 * Threads (splitting K), rows per workgroup pass and output columns per workgroup. GPUs: 64 × 4 × 8
 * (32 partial sums per thread). CPU adapters (SwiftShader) pay per workgroup and per invocation, not
 * per register: 8 × 16 × 16, a quarter of the workgroups with 8× the work each. Both keep the
 * partials in 8 KiB of workgroup memory.
 */
export interface SkinnyGeometry {
  WG: number;
  MB: number;
  BN: number;
}
export const GPU_SKINNY: SkinnyGeometry = { WG: 64, MB: 4, BN: 8 };
export const CPU_SKINNY: SkinnyGeometry = { WG: 8, MB: 16, BN: 16 };

export function skinnyGeometry(ctx: GpuContext): SkinnyGeometry {
  return isCpuAdapter(ctx) ? CPU_SKINNY : GPU_SKINNY;
}

/** WGSL: fn `name`(e) -> f32, element e of `arr` (array<u32>) holding packed f16 or f32 values. */
export function skinnyLoader(name: string, arr: string, f16: boolean): string {
  return f16
    ? `fn ${name}(e: u32) -> f32 { let h = unpack2x16float(${arr}[e >> 1u]); return select(h.x, h.y, (e & 1u) == 1u); }`
    : `fn ${name}(e: u32) -> f32 { return bitcast<f32>(${arr}[e]); }`;
}

/**
 * WGSL lines of one step k of a workgroup's loop: w0..w{BN-1}, its BN columns' W[n, k] (0 past N), and
 * the names of the MB × BN partial sums a{m}_{j} the rows add into.
 */
export function skinnyStep(g: SkinnyGeometry): { loads: string[]; sums: string[] } {
  const loads = Array.from(
    { length: g.BN },
    (_, j) => `let w${j} = select(0.0, ldw(p.wOff + min(n0 + ${j}u, nLast) * p.K + k), n0 + ${j}u < p.N);`,
  );
  const sums = Array.from({ length: g.MB * g.BN }, (_, i) => `a${Math.floor(i / g.BN)}_${i % g.BN}`);
  return { loads, sums };
}

function kernel(f16: boolean, g: SkinnyGeometry, gated: boolean): KernelSpec {
  const { WG, MB: SKINNY_MB, BN } = g;
  // Gated rows are 2K long: gate at k, up at K + k.
  const ldx = gated ? '2u * p.K' : 'p.K';
  const ldw = skinnyLoader('ldw', 'w', f16);
  const { loads, sums } = skinnyStep(g);
  const lines = [...loads];
  for (let m = 0; m < SKINNY_MB; m++) {
    const at = `p.xOff + min(m0 + ${m}u, mLast) * ${ldx} + k`;
    const load = gated ? `ldGated(${at})` : `x[${at}]`;
    lines.push(`let x${m} = select(0.0, ${load}, m0 + ${m}u < p.M);`);
    for (let j = 0; j < BN; j++) lines.push(`a${m}_${j} += x${m} * w${j};`);
  }
  const decl = sums.map((v) => `var ${v} = 0.0;`).join(' ');
  const stash = sums.map((v, i) => `part[${i}u * ${WG}u + lid] = ${v};`).join(' ');
  return {
    key: `skinnyNT:${f16 ? 'f16' : 'f32'}:${WG}x${SKINNY_MB}x${BN}${gated ? ':g' : ''}`,
    bindings: ['read', 'read', 'read', 'write', 'read', 'read'],
    code: /* wgsl */ `
struct Params {
  M: u32, N: u32, K: u32, xOff: u32, wOff: u32, yOff: u32, biasOff: u32, flags: u32, alpha: f32, colOff: u32,
  R: u32, offU: u32, offLb: u32, ldU: u32, seg1: u32, seg2: u32, offLb1: u32, offLb2: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
// The low-rank term lu [M, R] · lb [N, R]ᵀ (the LoRA branch's B product, with column segments),
// added to every output: the GEMM's (matmul-kernels.ts LOW_RANK).
@group(0) @binding(5) var<storage, read> lu: array<f32>;
@group(0) @binding(6) var<storage, read> lb: array<f32>;
${LOW_RANK}
var<workgroup> part: array<f32, ${SKINNY_MB * BN * WG}>;
${ldw}
${
  gated
    ? `${SILU}
fn ldGated(i: u32) -> f32 { return silu(x[i]) * x[i + p.K]; }`
    : ''
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let n0 = wid.x * ${BN}u;
  let m0 = wid.y * ${SKINNY_MB}u;
  let nLast = p.N - 1u;
  let mLast = p.M - 1u;
  ${decl}
  for (var k = lid; k < p.K; k += ${WG}u) {
    ${lines.join('\n    ')}
  }
  ${stash}
  workgroupBarrier();
  for (var o = lid; o < ${SKINNY_MB * BN}u; o += ${WG}u) {
    let m = m0 + o / ${BN}u;
    let n = n0 + o % ${BN}u;
    if (m < p.M && n < p.N) {
      var s = 0.0;
      for (var t = 0u; t < ${WG}u; t++) { s += part[o * ${WG}u + t]; }
      let at = p.yOff + m * p.colOff + n;
      var v = p.alpha * s;
      if ((p.flags & 2u) != 0u) { v += bias[p.biasOff + n]; }
      v += lowRank(m, n);
      if ((p.flags & 1u) != 0u) { v += y[at]; }
      y[at] = v;
    }
  }
}`,
  };
}

const specs = new Map<string, KernelSpec>();

export interface SkinnyEpilogue {
  accumulate: boolean;
  alpha?: number;
  bias?: GpuTensor | null;
  /** + u[M, r] · b[N, r]ᵀ (f32): a LoRA branch's second product fused into the base product. */
  lowRank?: LowRank | null;
  /**
   * x is packed gate | up rows [M, 2K] and the product's input is silu(gate)·up [M, K] (gemm.ts
   * GemmEpilogue.gatedA, same semantics).
   */
  gatedX?: boolean;
}

/**
 * y[M, N] (+)= alpha · x[M, K] · W[N, K]ᵀ (+ bias[N]). y's row stride is N. Any M (blocks of MB
 * rows along the grid's y), but meant for few rows (see the file comment).
 */
export function skinnyMatmulNT(
  ctx: GpuContext,
  y: GpuTensor,
  x: GpuTensor,
  w: GpuTensor,
  m: number,
  k: number,
  n: number,
  epi: SkinnyEpilogue,
  geometry: SkinnyGeometry = skinnyGeometry(ctx),
): void {
  const { MB: SKINNY_MB, BN } = geometry;
  const where = 'skinnyMatmulNT';
  if (m === 0 || n === 0) return;
  if (x.dtype !== 'f32' || y.dtype !== 'f32' || x.split || y.split)
    throw new Error(`${where}: x and y must be single-buffer f32 tensors`);
  const gated = epi.gatedX === true,
    ldx = gated ? 2 * k : k;
  if (gated && x.length < m * ldx)
    throw new Error(`${where}: gatedX: x has ${x.length} elements, needs m*2k = ${m}*${ldx} = ${m * ldx}`);
  if (x.length < m * k || y.length < m * n || w.length < n * k)
    throw new Error(`${where}: operands too short for m=${m} k=${k} n=${n}`);
  if (w.dtype !== 'f32' && w.dtype !== 'f16') throw new Error(`${where}: W must be f32 or f16`);
  const bias = epi.bias ?? null;
  if (bias && (bias.dtype !== 'f32' || bias.split || bias.length < n))
    throw new Error(`${where}: bias must be a single f32 tensor of n = ${n} elements`);
  const lr = epi.lowRank ?? null;
  const ldu = lr ? lowRankLd(lr) : 0;
  const bad = lr && lowRankError(lr, m, n);
  if (bad) throw new Error(`${where}: ${bad}`);
  if (lr && (lr.u.buffer === y.buffer || lr.b.buffer === y.buffer))
    throw new Error(`${where}: lowRank operands alias y`);
  const lim = ctx.info.limits.maxComputeWorkgroupsPerDimension;
  const segs = lr ? lowRankSegments(lr) : [];
  for (const part of rowParts(w, k)) {
    const n0 = part.rowStart,
      nn = Math.min(part.rows, n - n0);
    if (nn <= 0) continue;
    const t = part.tensor;
    const key = `${t.dtype}:${geometry.WG}:${SKINNY_MB}:${BN}${gated ? ':g' : ''}`;
    let spec = specs.get(key);
    if (!spec) specs.set(key, (spec = kernel(t.dtype === 'f16', geometry, gated)));
    const gx = Math.ceil(nn / BN),
      gyAll = Math.ceil(m / SKINNY_MB);
    if (gx > lim) throw new Error(`${where}: ${nn} columns exceed ${lim * BN} per call`);
    for (let r0 = 0; r0 < gyAll; r0 += lim) {
      const rows = Math.min(m - r0 * SKINNY_MB, lim * SKINNY_MB);
      dispatch(
        ctx,
        spec,
        [x, t, bias ?? x, y, lr ? lr.u : x, lr ? lr.b : x],
        [
          rows,
          nn,
          k,
          x.offset + r0 * SKINNY_MB * ldx,
          t.offset,
          y.offset + r0 * SKINNY_MB * n + n0,
          bias ? bias.offset + n0 : 0,
          (epi.accumulate ? 1 : 0) | (bias ? 2 : 0),
          { f32: epi.alpha ?? 1 },
          n,
          lr ? lr.r : 0,
          lr ? lr.u.offset + r0 * SKINNY_MB * ldu : 0,
          lr ? lr.b.offset + n0 * lr.r : 0,
          ldu,
          ...segmentWords(shiftSegments(segs, n0, lr ? lr.r : 0)),
        ],
        [gx, Math.ceil(rows / SKINNY_MB)],
      );
    }
  }
}

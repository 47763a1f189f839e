// WGSL of the tiled matrix product C[M,N] (+)= alpha · op(A) · op(B), op = identity or transpose,
// in three families that share one tiling:
//   tiled     f32 tiles of A and B in workgroup memory, each thread a TM×TN register block.
//   subgroup  B staged in workgroup memory; A is never staged: the lanes of a subgroup that share
//             rows load consecutive k and hand the values round with subgroupShuffle.
//   half      f16 tiles and f16 FMAs (vec2, so packed HFMA2 where the hardware has it) into partial
//             sums that are added to f32 accumulators after every BK-deep tile (f16 arithmetic,
//             f32 accumulation). A (activations or gradients, any magnitude) is multiplied by a
//             power of two that brings max|A| to 2^4 before rounding to f16, so neither tiny gradients
//             underflow nor large activations overflow; the result is divided by it again. 'emulate'
//             runs the same kernel with f32 registers and f16-rounded operands: the indexing and the
//             scaling are then testable on adapters without shader-f16 (SwiftShader).
// Every thread block is 16×16 threads; a tile is BM×BN outputs over BK-deep steps of K. Operands are
// bound whole and addressed by element offsets and leading dimensions (views at any offset, row
// blocks of split tensors); B may be f16 packed two per u32 word. Split-K: workgroup z takes K range
// [z·kChunk, (z+1)·kChunk) and, in `partial` mode, writes alpha·acc to slice z of a scratch buffer
// that REDUCE (gemm-passes.ts) sums and finishes.
import type { KernelSpec } from './context.js';

export interface TileShape {
  bm: number;
  bn: number;
  bk: number;
  tm: number;
  tn: number;
}

/** The register-blocked tiles (16×16 threads each); keys are what tests and benches force. */
export const TILES = {
  large: { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8 },
  medium: { bm: 64, bn: 64, bk: 16, tm: 4, tn: 4 },
  /** Few columns (LoRA rank r as N). */
  narrow: { bm: 128, bn: 32, bk: 16, tm: 8, tn: 2 },
  /** Few rows (LoRA rank r as M: dA = dzᵀ·x). */
  wide: { bm: 32, bn: 128, bk: 16, tm: 2, tn: 8 },
} satisfies Record<string, TileShape>;
export type TileName = keyof typeof TILES;

export type GemmFamily = 'tiled' | 'subgroup' | 'half' | 'emulate';

/** Bits of Params.flags. */
export const FLAG = {
  accumulate: 1,
  partial: 2,
  bF16: 4,
  bias: 8,
  mul: 16,
  aKContig: 32,
  bKContig: 64,
  lowRank: 128,
} as const;

/**
 * Params.flags bits 8..15: how many partial maxima MAXABS left in `sc` (one per workgroup); the half
 * kernels take their max, so no zeroed accumulator (one fill dispatch per product) is needed.
 */
export const SCALE_PARTS_SHIFT = 8;
export const MAX_SCALE_PARTS = 255;

/**
 * The uniform block of every GEMM kernel. op(A)[m,k] = a[offA + m·sAm + k·sAk] and op(B)[k,n] =
 * b[offB + k·sBk + n·sBn]: one kernel serves NN, NT and TN (the transposition only changes
 * strides, and which index consecutive threads stage, so loads stay coalesced). gateK: the gated
 * kernels' distance from a gate element to its up element (the whole product's K; gemm.ts gatedA).
 */
export const GEMM_PARAMS = `struct Params {
  M: u32, N: u32, K: u32, kChunk: u32,
  offA: u32, sAm: u32, sAk: u32, offB: u32,
  sBk: u32, sBn: u32, offC: u32, ldc: u32,
  alpha: f32, flags: u32, offBias: u32, offMul: u32,
  ldMul: u32, R: u32, offU: u32, offLb: u32,
  ldU: u32, seg1: u32, seg2: u32, offLb1: u32,
  offLb2: u32, gateK: u32,
}`;

/**
 * Bindings after the parameter block: a, b (u32 words: f32 bits or two f16), sc, bias, mul, c, and the
 * low-rank term's u [M, R] (row stride ldU) and lb [N, R] (the LoRA branch: u = scale·x·Aᵀ, lb = B).
 */
export const GEMM_BINDINGS: KernelSpec['bindings'] = ['read', 'read', 'read', 'read', 'read', 'write', 'read', 'read'];

export const GEMM_DECLS = `@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<u32>;
@group(0) @binding(3) var<storage, read> sc: array<u32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> mulT: array<f32>;
@group(0) @binding(6) var<storage, read_write> c: array<f32>;
@group(0) @binding(7) var<storage, read> lu: array<f32>;
@group(0) @binding(8) var<storage, read> lb: array<f32>;`;

/**
 * u[m, :]·lb[n, :] over the rank R: the LoRA branch's B product (y += (scale·x·Aᵀ)·Bᵀ), fused into the
 * base product's epilogue so an adapted linear layer is one product after us = scale·x·Aᵀ. Column
 * segments (gemm.ts LowRank.segments): column n from seg1 (seg2) on reads u's next R columns and the
 * B whose base (offset − start·R, wrapping mod 2^32) is offLb1 (offLb2); absent segments start at
 * 0xFFFFFFFF, so the plain term costs two compares per output.
 */
export const LOW_RANK = /* wgsl */ `fn lowRankSegment(n: u32) -> u32 { return u32(n >= p.seg1) + u32(n >= p.seg2); }
fn lowRankBase(s: u32) -> u32 { return select(select(p.offLb, p.offLb1, s >= 1u), p.offLb2, s >= 2u); }
fn lowRank(m: u32, n: u32) -> f32 {
  var acc = 0.0;
  let s = lowRankSegment(n);
  let ui = p.offU + m * p.ldU + s * p.R;
  let bi = lowRankBase(s) + n * p.R;
  for (var j = 0u; j < p.R; j++) { acc = fma(lu[ui + j], lb[bi + j], acc); }
  return acc;
}`;

/**
 * silu(g) as the SwiGLU kernel computes it (elementwise.ts: the exponent clamped so exp stays finite),
 * so a gated load equals the element swigluPackedForward would have written.
 */
export const SILU = /* wgsl */ `fn silu(g: f32) -> f32 { return g / (1.0 + exp(min(-g, 87.0))); }`;

/**
 * Gated A (gemm.ts gatedA): element i of a is a gate and i + gateK its up, op(A) = silu(gate)·up. A
 * compile-time variant: the plain loads stay one read.
 */
const GATED = /* wgsl */ `${SILU}
fn ldGated(i: u32) -> f32 { return silu(a[i]) * a[i + p.gateK]; }`;

/**
 * Bounds-checked element loads of op(A)[m,k] and op(B)[k,n] (zero outside), scale and epilogue. The
 * low-rank term is compiled in only where it is used (`lowRank`): `store` is inlined once per
 * register-tile element, and a loop in each copy makes every pipeline several times slower to compile
 * on SwiftShader. `gated`: A is packed gate | up rows (GATED).
 */
export function gemmHelpers(lowRank: boolean, gated = false): string {
  const at = 'p.offA + m * p.sAm + k * p.sAk';
  return /* wgsl */ `
fn has(f: u32) -> bool { return (p.flags & f) != 0u; }
${gated ? GATED : ''}
fn ldA(m: u32, k: u32, kEnd: u32) -> f32 {
  if (m >= p.M || k >= kEnd) { return 0.0; }
  return ${gated ? `ldGated(${at})` : `a[${at}]`};
}
fn ldB(k: u32, n: u32, kEnd: u32) -> f32 {
  if (n >= p.N || k >= kEnd) { return 0.0; }
  let e = p.offB + k * p.sBk + n * p.sBn;
  if (has(${FLAG.bF16}u)) {
    let w = unpack2x16float(b[e >> 1u]);
    return select(w.x, w.y, (e & 1u) == 1u);
  }
  return bitcast<f32>(b[e]);
}
// Exponent of the scale that brings max|A| (the largest of the partial maxima in sc, f32 bits) to
// 2^4; applied as an exact ldexp.
fn scaleExp() -> i32 {
  var mx = 0.0;
  let parts = max((p.flags >> ${SCALE_PARTS_SHIFT}u) & 255u, 1u);
  for (var i = 0u; i < parts; i++) { mx = max(mx, bitcast<f32>(sc[i])); }
  if (!(mx > 0.0) || mx > 3.0e38) { return 0; }
  return clamp(4 - i32(ceil(log2(mx))), -100, 100);
}
// A quiet NaN that is not a constant expression (those must be finite): marks refused results.
fn nanValue() -> f32 { return bitcast<f32>(0x7fc00000u | (p.M & 0u)); }
${lowRank ? LOW_RANK : ''}
// v: alpha·acc of element (m, n). Split-K slices store it raw; otherwise keep-multiplier, bias, the
// low-rank term (low: computed by the caller, or by store) and the old value of C (accumulate) are
// applied here, in the cpu op's order.
fn storeWith(v0: f32, m: u32, n: u32, z: u32, low: f32) {
  if (has(${FLAG.partial}u)) { c[p.offC + (z * p.M + m) * p.ldc + n] = v0; return; }
  let ci = p.offC + m * p.ldc + n;
  var v = v0;
  if (has(${FLAG.mul}u)) { v = v * mulT[p.offMul + m * p.ldMul + n]; }
  if (has(${FLAG.bias}u)) { v = v + bias[p.offBias + n]; }
  ${lowRank ? `if (has(${FLAG.lowRank}u)) { v = v + low; }` : ''}
  if (has(${FLAG.accumulate}u)) { v = v + c[ci]; }
  c[ci] = v;
}
fn store(v0: f32, m: u32, n: u32, z: u32) {
  storeWith(v0, m, n, z, ${lowRank ? `select(0.0, lowRank(m, n), has(${FLAG.lowRank}u))` : '0.0'});
}`;
}

function header(family: GemmFamily): string {
  if (family === 'half') return 'enable f16;\n';
  if (family === 'subgroup') return 'enable subgroups;\ndiagnostic(off, subgroup_uniformity);\n';
  return '';
}

/**
 * The kernel of one family and tile (operand layout, B's storage type and the epilogue are runtime
 * flags: few pipelines to compile; the low-rank term is compiled in with `lowRank`, gated A loads with
 * `gated`). Workgroups: (ceil(N/BN), ceil(M/BM), splitK slices).
 */
export function gemmKernel(family: GemmFamily, tile: TileName, lowRank = false, gated = false): KernelSpec {
  const t = TILES[tile];
  const half = family === 'half' || family === 'emulate';
  const H = family === 'half' ? 'f16' : 'f32';
  const toH =
    family === 'half'
      ? 'return f16(x);'
      : family === 'emulate'
        ? 'return unpack2x16float(pack2x16float(vec2<f32>(x, 0.0))).x;'
        : 'return x;';
  const stageA = family !== 'subgroup';
  const code = /* wgsl */ `${header(family)}
${GEMM_PARAMS}
@group(0) @binding(0) var<uniform> p: Params;
${GEMM_DECLS}
const BM = ${t.bm}u; const BN = ${t.bn}u; const BK = ${t.bk}u; const TM = ${t.tm}u; const TN = ${t.tn}u;
const SA = BM + 1u; const SB = BN + 1u;
alias H = ${H};
${stageA ? 'var<workgroup> As: array<H, BK * SA>;' : ''}
var<workgroup> Bs: array<H, BK * SB>;
fn toH(x: f32) -> H { ${toH} }
${gemmHelpers(lowRank, gated)}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32${
    family === 'subgroup'
      ? ',\n  @builtin(subgroup_id) sgid: u32, @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sgSize: u32, @builtin(num_subgroups) nsg: u32'
      : ''
  }) {
  let m0 = wid.y * BM; let n0 = wid.x * BN;
  let kStart = wid.z * p.kChunk;
  let kEnd = min(p.K, kStart + p.kChunk);
  let aK = has(${FLAG.aKContig}u); let bK = has(${FLAG.bKContig}u);
  ${
    family === 'subgroup'
      ? `// Work index from the subgroup numbering, so lanes of one subgroup are known to share rows.
  let w = sgid * sgSize + lane;
  let bad = nsg * sgSize != 256u;
  let G = min(sgSize, min(16u, BK));
  let lead = lane - lane % G;
  var own: array<f32, TM>;`
      : 'let w = li;'
  }
  let tx = w % 16u; let ty = w / 16u;
  ${
    half
      ? `let e = scaleExp();
  let sA = ldexp(1.0, e);
  let alpha = p.alpha * ldexp(1.0, -e);`
      : 'let alpha = p.alpha;'
  }
  var acc: array<f32, TM * TN>;
  var ra: array<${half ? 'H' : 'f32'}, TM>;
  var rb: array<${half ? 'vec2<H>' : 'f32'}, ${half ? 'TN / 2u' : 'TN'}>;
  ${half ? 'var part: array<vec2<H>, TM * TN / 2u>;' : ''}
  for (var k0 = kStart; k0 < kEnd; k0 += BK) {
    // Not unrolled on purpose (the tail step is shorter): SwiftShader compiles an unrolled body slowly.
    let kLen = min(BK, kEnd - k0);
    ${
      stageA
        ? `for (var idx = li; idx < BM * BK; idx += 256u) {
      let mm = select(idx % BM, idx / BK, aK); let kk = select(idx / BM, idx % BK, aK);
      As[kk * SA + mm] = toH(ldA(m0 + mm, k0 + kk, kEnd)${half ? ' * sA' : ''});
    }`
        : ''
    }
    for (var idx = li; idx < BN * BK; idx += 256u) {
      let nn = select(idx % BN, idx / BK, bK); let kk = select(idx / BN, idx % BK, bK);
      Bs[kk * SB + nn] = toH(ldB(k0 + kk, n0 + nn, kEnd));
    }
    workgroupBarrier();
    ${family === 'subgroup' ? subgroupInner() : half ? halfInner() : tiledInner()}
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    let m = m0 + ty + i * 16u;
    for (var j = 0u; j < TN; j++) {
      let n = n0 + tx + j * 16u;
      if (m < p.M && n < p.N) {
        ${family === 'subgroup' ? 'let v = select(acc[i * TN + j] * alpha, nanValue(), bad);' : 'let v = acc[i * TN + j] * alpha;'}
        store(v, m, n, wid.z);
      }
    }
  }
}`;
  return { key: `gemm:${family}:${tile}${lowRank ? ':lr' : ''}${gated ? ':g' : ''}`, code, bindings: GEMM_BINDINGS };
}

function tiledInner(): string {
  return `for (var kk = 0u; kk < kLen; kk++) {
      for (var i = 0u; i < TM; i++) { ra[i] = As[kk * SA + ty + i * 16u]; }
      for (var j = 0u; j < TN; j++) { rb[j] = Bs[kk * SB + tx + j * 16u]; }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) { acc[i * TN + j] = fma(ra[i], rb[j], acc[i * TN + j]); }
      }
    }`;
}

function halfInner(): string {
  return `for (var kk = 0u; kk < kLen; kk++) {
      for (var i = 0u; i < TM; i++) { ra[i] = As[kk * SA + ty + i * 16u]; }
      for (var j = 0u; j < TN / 2u; j++) {
        rb[j] = vec2<H>(Bs[kk * SB + tx + 2u * j * 16u], Bs[kk * SB + tx + (2u * j + 1u) * 16u]);
      }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN / 2u; j++) {
          part[i * TN / 2u + j] = fma(vec2<H>(ra[i]), rb[j], part[i * TN / 2u + j]);
        }
      }
    }
    for (var i = 0u; i < TM; i++) {
      for (var j = 0u; j < TN / 2u; j++) {
        let q = vec2<f32>(part[i * TN / 2u + j]);
        acc[i * TN + 2u * j] += q.x;
        acc[i * TN + 2u * j + 1u] += q.y;
        part[i * TN / 2u + j] = vec2<H>(0.0);
      }
    }`;
}

function subgroupInner(): string {
  return `for (var r = 0u; r < (kLen + G - 1u) / G; r++) {
      let kr = k0 + r * G + lane % G;
      for (var i = 0u; i < TM; i++) { own[i] = ldA(m0 + ty + i * 16u, kr, kEnd); }
      for (var kk = 0u; kk < G; kk++) {
        for (var i = 0u; i < TM; i++) { ra[i] = subgroupShuffle(own[i], lead + kk); }
        let row = (r * G + kk) * SB + tx;
        for (var j = 0u; j < TN; j++) { rb[j] = Bs[row + j * 16u]; }
        for (var i = 0u; i < TM; i++) {
          for (var j = 0u; j < TN; j++) { acc[i * TN + j] = fma(ra[i], rb[j], acc[i * TN + j]); }
        }
      }
    }`;
}

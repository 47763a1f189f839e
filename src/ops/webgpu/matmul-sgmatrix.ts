// The tensor-core product: Dawn's `chromium-experimental-subgroup-matrix` (cooperative matrices on
// Vulkan, simdgroup matrices on Metal). Tiles of A (scaled to max|A| = 2^4 like the half family) and
// B are rounded to f16 in workgroup memory; up to four subgroups each multiply-accumulate their part
// of the 64×64 tile as a block of f16×f16→f32 subgroup matrices; the f32 result goes through workgroup memory
// to the same epilogue as the other families (bounds, alpha, keep, bias, accumulate, split-K slices).
//
// Only adapters that list an f16→f32 configuration in adapterInfo.subgroupMatrixConfigs can compile
// it, and the kernel refuses (writes NaN) when the device does not run it as the planned number of subgroups;
// the matmul self-check (matmul-check.ts) is what admits it to automatic selection.
import type { GpuContext, KernelSpec } from './context.js';
import { GEMM_BINDINGS, GEMM_DECLS, GEMM_PARAMS, gemmHelpers } from './matmul-kernels.js';

export interface SubgroupMatrixConfig {
  M: number;
  N: number;
  K: number;
}

interface RawConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

/** The f16→f32 configuration the kernel uses on this device (the largest), or null. */
export function subgroupMatrixConfig(ctx: GpuContext): SubgroupMatrixConfig | null {
  if (!ctx.subgroupMatrix || !ctx.f16) return null;
  const info = (ctx.device as unknown as { adapterInfo?: { subgroupMatrixConfigs?: RawConfig[] } }).adapterInfo;
  const ok = (info?.subgroupMatrixConfigs ?? []).filter(
    (c) =>
      c.componentType === 'f16' &&
      c.resultComponentType === 'f32' &&
      [8, 16, 32].includes(c.M) &&
      [8, 16, 32].includes(c.N) &&
      [8, 16, 32].includes(c.K),
  );
  ok.sort((x, y) => y.M * y.N * y.K - x.M * x.N * x.K);
  return ok[0] ? { M: ok[0].M, N: ok[0].N, K: ok[0].K } : null;
}

/**
 * Workgroup shape: up to four subgroups of the adapter's largest subgroup size (the x size must be a
 * multiple of it when subgroup matrices are used), within the invocation limit.
 */
export function sgmThreads(ctx: GpuContext): { sgMax: number; subgroups: number; threads: number } {
  const sgMax = ctx.info.subgroupMaxSize || 32;
  const fit = Math.floor(ctx.info.limits.maxComputeInvocationsPerWorkgroup / sgMax);
  const subgroups = fit >= 4 ? 4 : fit >= 2 ? 2 : 1;
  return { sgMax, subgroups, threads: subgroups * sgMax };
}

/** Output tile of the subgroup-matrix kernel: BM = BN = 64, BK = 32 (or K of the config if larger). */
export function sgmTile(cfg: SubgroupMatrixConfig): { bm: number; bn: number; bk: number } {
  return { bm: 64, bn: 64, bk: Math.max(32, cfg.K) };
}

/** The operand layouts are compile-time here: subgroupMatrixLoad's column-major flag must be constant. */
export interface SgmKey {
  transA: boolean;
  transB: boolean;
  /** The fused low-rank term in the epilogue (gemmHelpers). */
  lowRank?: boolean;
  /** Gated A loads (gemm.ts gatedA; gemmHelpers' ldA). */
  gated?: boolean;
}

/** Kernel for one key on this device's configuration. Workgroups: (ceil(N/64), ceil(M/64), slices). */
export function sgmKernel(ctx: GpuContext, cfg: SubgroupMatrixConfig, key: SgmKey): KernelSpec & { threads: number } {
  const { transA, transB } = key;
  const { subgroups, threads } = sgmThreads(ctx);
  const { bm, bn, bk } = sgmTile(cfg);
  // Subgroups in a 2×2 (or 2×1, or 1×1) grid over the 64×64 tile; each owns RM×RN result matrices.
  const sr = subgroups >= 2 ? 2 : 1,
    sc = subgroups / sr;
  const rm = bm / sr / cfg.M,
    rn = bn / sc / cfg.N;
  // Shared-memory layouts follow global memory so staging stores are contiguous: A [BM][BK] (row
  // major) unless A is transposed in memory ([BK][BM], loaded column major); B [BK][BN] unless NT.
  const aOff = transA ? '(kk * BM + row)' : '(row * BK + kk)';
  const bOff = transB ? '(col * BK + kk)' : '(kk * BN + col)';
  const code = /* wgsl */ `enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium_experimental.subgroup_matrix_uniformity);
diagnostic(off, subgroup_uniformity);
${GEMM_PARAMS}
@group(0) @binding(0) var<uniform> p: Params;
${GEMM_DECLS}
const BM = ${bm}u; const BN = ${bn}u; const BK = ${bk}u;
const CM = ${cfg.M}u; const CN = ${cfg.N}u; const CK = ${cfg.K}u; const RM = ${rm}u; const RN = ${rn}u;
const WG = ${threads}u;
alias Left = subgroup_matrix_left<f16, ${cfg.K}, ${cfg.M}>;
alias Right = subgroup_matrix_right<f16, ${cfg.N}, ${cfg.K}>;
alias Result = subgroup_matrix_result<f32, ${cfg.N}, ${cfg.M}>;
var<workgroup> As: array<f16, BM * BK>;
var<workgroup> Bs: array<f16, BK * BN>;
// One result matrix per subgroup at a time passes through here to the epilogue (12 KiB in all).
var<workgroup> Cs: array<f32, ${subgroups} * CM * CN>;
${gemmHelpers(key.lowRank === true, key.gated === true)}

@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_id) sg: u32, @builtin(num_subgroups) nsg: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sgSize: u32) {
  let m0 = wid.y * BM; let n0 = wid.x * BN;
  let kStart = wid.z * p.kChunk;
  let kEnd = min(p.K, kStart + p.kChunk);
  let e = scaleExp();
  let sA = ldexp(1.0, e);
  let alpha = p.alpha * ldexp(1.0, -e);
  let sgr = (sg / ${sc}u) % ${sr}u; let sgc = sg % ${sc}u;
  var acc: array<Result, ${rm * rn}>;
  for (var k0 = kStart; k0 < kEnd; k0 += BK) {
    for (var idx = li; idx < BM * BK; idx += WG) {
      ${transA ? 'let mm = idx % BM; let kk = idx / BM; As[kk * BM + mm]' : 'let kk = idx % BK; let mm = idx / BK; As[mm * BK + kk]'} = f16(ldA(m0 + mm, k0 + kk, kEnd) * sA);
    }
    for (var idx = li; idx < BK * BN; idx += WG) {
      ${transB ? 'let kk = idx % BK; let nn = idx / BK; Bs[nn * BK + kk]' : 'let nn = idx % BN; let kk = idx / BN; Bs[kk * BN + nn]'} = f16(ldB(k0 + kk, n0 + nn, kEnd));
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk += CK) {
      var left: array<Left, ${rm}>;
      var right: array<Right, ${rn}>;
      for (var i = 0u; i < RM; i++) {
        let row = sgr * RM * CM + i * CM;
        left[i] = subgroupMatrixLoad<Left, ${transA ? 'col_major' : 'row_major'}>(&As, ${aOff}, ${transA ? 'BM' : 'BK'});
      }
      for (var j = 0u; j < RN; j++) {
        let col = sgc * RN * CN + j * CN;
        right[j] = subgroupMatrixLoad<Right, ${transB ? 'col_major' : 'row_major'}>(&Bs, ${bOff}, ${transB ? 'BK' : 'BN'});
      }
      for (var i = 0u; i < RM; i++) {
        for (var j = 0u; j < RN; j++) {
          acc[i * RN + j] = subgroupMatrixMultiplyAccumulate(left[i], right[j], acc[i * RN + j]);
        }
      }
    }
    workgroupBarrier();
  }
  let bad = nsg != ${subgroups}u;
  let slot = min(sg, ${subgroups - 1}u) * CM * CN;
  for (var i = 0u; i < RM; i++) {
    for (var j = 0u; j < RN; j++) {
      workgroupBarrier();
      subgroupMatrixStore<row_major>(&Cs, slot, acc[i * RN + j], CN);
      workgroupBarrier();
      let r0 = m0 + sgr * RM * CM + i * CM; let c0 = n0 + sgc * RN * CN + j * CN;
      for (var e = lane; e < CM * CN; e += sgSize) {
        let m = r0 + e / CN; let n = c0 + e % CN;
        if (m < p.M && n < p.N) { store(select(Cs[slot + e] * alpha, nanValue(), bad), m, n, wid.z); }
      }
    }
  }
}`;
  const k = `gemm:sgmatrix${cfg.M}x${cfg.N}x${cfg.K}w${threads}:${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}${key.lowRank ? ':lr' : ''}${key.gated ? ':g' : ''}`;
  return { key: k, code, bindings: GEMM_BINDINGS, threads };
}

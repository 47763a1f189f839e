// WGSL of the barrier-free matrix product ('direct' variant of gemm.ts) for CPU adapters
// (SwiftShader, llvmpipe/lavapipe), where workgroup barriers are what costs: SwiftShader runs the
// invocations of a workgroup as coroutines and switches between them at every barrier, so the
// workgroup-memory tiles of matmul-kernels.ts spend most of their time there (on SwiftShader this
// kernel takes about a tenth of the tiled one's CPU time at the tiny model's shapes). Here every invocation
// reads its operands straight from storage (the CPU's caches do the staging) and keeps a TM×TN
// register block, with TN a multiple of 4 held as vec4 accumulators. The loops over the block are
// unrolled in the generated source: SwiftShader's Subzero backend does not unroll, and a private
// array indexed in a loop becomes memory traffic per lane.
//
// Same parameter block, bindings and epilogue as the tiled family (GEMM_PARAMS, GEMM_DECLS,
// gemmHelpers' `store`), so gemm.ts dispatches it like the others, split-K included. Rows and
// columns past the edge are clamped into the matrix for the loads (no per-element bounds checks in
// the k loop) and their results are not stored.
import type { KernelSpec } from './context.js';
import { FLAG, GEMM_BINDINGS, GEMM_DECLS, GEMM_PARAMS, gemmHelpers, type TileName } from './matmul-kernels.js';

/** Register block TM×TN per invocation (TN a multiple of 4), WM×WN invocations per workgroup. */
export interface DirectTile {
  tm: number;
  tn: number;
  wm: number;
  wn: number;
}

/**
 * Tiles by the same names as the tiled family's (tests and benches force them alike). Every one is
 * an 8×8 register block per invocation: on SwiftShader that took about half the CPU time of 4×4
 * (fewer loads per FMA) and 16×8 or 8×16 lost again (spills). Without barriers the workgroup size
 * only sets the scheduling granularity, so the tile is sized to waste little at the edges.
 */
export const DIRECT_TILES: Record<TileName, DirectTile> = {
  large: { tm: 8, tn: 8, wm: 8, wn: 8 },
  medium: { tm: 8, tn: 8, wm: 4, wn: 4 },
  /** N = LoRA rank (16): 64×16 outputs per workgroup. */
  narrow: { tm: 8, tn: 8, wm: 8, wn: 2 },
  /** M = LoRA rank (dA = dzᵀ·x): 16×64. */
  wide: { tm: 8, tn: 8, wm: 2, wn: 8 },
};

/** Workgroup tile in outputs, and the K granule split-K slices are rounded to. */
export function directTileSize(name: TileName): { bm: number; bn: number; bk: number } {
  const t = DIRECT_TILES[name];
  return { bm: t.tm * t.wm, bn: t.tn * t.wn, bk: 4 };
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/**
 * The unrolled k loop for one storage type of B (`ldb(e)` reads element e of b as f32); `gated`: A's
 * elements are gated (gemmHelpers' ldGated).
 */
function kLoop(t: DirectTile, ldb: (e: string) => string, gated: boolean): string {
  const lines: string[] = ['let ka = k * p.sAk; let kb = k * p.sBk;'];
  for (const i of range(t.tm))
    lines.push(`let a${i} = vec4<f32>(${gated ? `ldGated(ra${i} + ka)` : `a[ra${i} + ka]`});`);
  for (const q of range(t.tn / 4)) {
    const cols = range(4).map((j) => ldb(`cb${4 * q + j} + kb`));
    lines.push(`let b${q} = vec4<f32>(${cols.join(', ')});`);
  }
  for (const i of range(t.tm))
    for (const q of range(t.tn / 4)) lines.push(`acc${i}_${q} = fma(a${i}, b${q}, acc${i}_${q});`);
  return `for (var k = kStart; k < kEnd; k++) {\n      ${lines.join('\n      ')}\n    }`;
}

/**
 * The low-rank term of the whole register block, u[m, :]·lb[n, :] into vec4 registers lo{i}_{q}, in
 * one loop over the rank: store's per-element loop, unrolled TM×TN times here, compiles several times
 * slower on SwiftShader. Each u element is broadcast over the thread's columns, which holds while
 * they share one segment; the segmented variant (column segments, gemm.ts LowRank.segments) runs the
 * loop once per segment among the thread's columns (mostly one), with the B values of columns in
 * other segments masked to zero.
 */
function lowRankLoop(t: DirectTile, segmented: boolean): string {
  const uAt = segmented ? ' + us' : '';
  const lines: string[] = [];
  for (const i of range(t.tm)) lines.push(`let u${i} = vec4<f32>(lu[ru${i}${uAt} + j]);`);
  for (const q of range(t.tn / 4)) {
    const cols = `vec4<f32>(${range(4)
      .map((jj) => `lb[cl${4 * q + jj} + j]`)
      .join(', ')})`;
    lines.push(`let l${q} = ${segmented ? `select(vec4<f32>(0.0), ${cols}, mk${q})` : cols};`);
  }
  for (const i of range(t.tm))
    for (const q of range(t.tn / 4)) lines.push(`lo${i}_${q} = fma(u${i}, l${q}, lo${i}_${q});`);
  const decl: string[] = [];
  for (const i of range(t.tm)) decl.push(`let ru${i} = p.offU + min(mBase + ${i * t.wm}u, p.M - 1u) * p.ldU;`);
  if (segmented) {
    for (const j of range(t.tn)) {
      decl.push(`let nc${j} = min(nBase + ${j * t.wn}u, p.N - 1u); let sg${j} = lowRankSegment(nc${j});`);
      decl.push(`let cl${j} = lowRankBase(sg${j}) + nc${j} * p.R;`);
    }
    for (const q of range(t.tn / 4))
      decl.push(
        `let sq${q} = vec4<u32>(${range(4)
          .map((jj) => `sg${4 * q + jj}`)
          .join(', ')});`,
      );
  } else {
    for (const j of range(t.tn)) decl.push(`let cl${j} = p.offLb + min(nBase + ${j * t.wn}u, p.N - 1u) * p.R;`);
  }
  for (const i of range(t.tm)) for (const q of range(t.tn / 4)) decl.push(`var lo${i}_${q} = vec4<f32>(0.0);`);
  const rankLoop = `for (var j = 0u; j < p.R; j++) {
    ${lines.join('\n    ')}
  }`;
  if (!segmented) return `${decl.join('\n  ')}\n  ${rankLoop}`;
  // Columns ascend with j, and segments with columns: the thread's segments are sg0..sg{TN-1}.
  const masks = range(t.tn / 4).map((q) => `let mk${q} = sq${q} == vec4<u32>(s);`);
  return `${decl.join('\n  ')}
  for (var s = sg0; s <= sg${t.tn - 1}; s++) {
  ${masks.join(' ')}
  let us = s * p.R;
  ${rankLoop}
  }`;
}

/**
 * The direct kernel of one tile; `gated`: A packed gate | up (gemm.ts gatedA). Workgroups:
 * (ceil(N/BN), ceil(M/BM), splitK slices).
 */
export function directKernel(tile: TileName, lowRank = false, segmented = false, gated = false): KernelSpec {
  const t = DIRECT_TILES[tile];
  if (t.tn % 4 !== 0) throw new Error(`direct matmul tile ${tile}: TN must be a multiple of 4`);
  const { bm, bn } = directTileSize(tile);
  const decl: string[] = [];
  for (const i of range(t.tm)) decl.push(`let ra${i} = p.offA + min(mBase + ${i * t.wm}u, p.M - 1u) * p.sAm;`);
  for (const j of range(t.tn)) decl.push(`let cb${j} = p.offB + min(nBase + ${j * t.wn}u, p.N - 1u) * p.sBn;`);
  for (const i of range(t.tm)) for (const q of range(t.tn / 4)) decl.push(`var acc${i}_${q} = vec4<f32>(0.0);`);
  const stores: string[] = [];
  for (const i of range(t.tm)) {
    for (const j of range(t.tn)) {
      const comp = 'xyzw'[j % 4],
        q = Math.floor(j / 4);
      const low = lowRank ? `lo${i}_${q}.${comp}` : '0.0';
      stores.push(
        `if (mBase + ${i * t.wm}u < p.M && nBase + ${j * t.wn}u < p.N) { storeWith(acc${i}_${q}.${comp} * p.alpha, mBase + ${i * t.wm}u, nBase + ${j * t.wn}u, wid.z, ${low}); }`,
      );
    }
  }
  const code = /* wgsl */ `${GEMM_PARAMS}
@group(0) @binding(0) var<uniform> p: Params;
${GEMM_DECLS}
${gemmHelpers(lowRank, gated)}
fn bF32(e: u32) -> f32 { return bitcast<f32>(b[e]); }
fn bF16(e: u32) -> f32 {
  let w = unpack2x16float(b[e >> 1u]);
  return select(w.x, w.y, (e & 1u) == 1u);
}

@compute @workgroup_size(${t.wm * t.wn})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  // Invocation (ty, tx) owns rows mBase + i·WM and columns nBase + j·WN: neighbours read
  // neighbouring columns of B (coalesced where that matters).
  let mBase = wid.y * ${bm}u + li / ${t.wn}u;
  let nBase = wid.x * ${bn}u + li % ${t.wn}u;
  let kStart = wid.z * p.kChunk;
  let kEnd = min(p.K, kStart + p.kChunk);
  ${decl.join('\n  ')}
  if (has(${FLAG.bF16}u)) {
    ${kLoop(t, (e) => `bF16(${e})`, gated)}
  } else {
    ${kLoop(t, (e) => `bF32(${e})`, gated)}
  }
  ${lowRank ? lowRankLoop(t, segmented) : ''}
  ${stores.join('\n  ')}
}`;
  const lr = lowRank ? (segmented ? ':lrs' : ':lr') : '';
  return { key: `gemm:direct:${tile}${lr}${gated ? ':g' : ''}`, code, bindings: GEMM_BINDINGS };
}

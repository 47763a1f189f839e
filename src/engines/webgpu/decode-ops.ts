// The operation interface as the engine's passes use it: the webgpu ops, with linear layers (base
// product, bias, LoRA branch) and the LM head routed to the few-row kernel (skinny-matmul.ts) when
// a pass has at most `skinnyRows` rows — a decode step at small batch, where the tiled GEMM mostly
// computes padding. Above that (the GEMM route), a decode step's LoRA A products still take the
// few-row kernel, and each base product carries its B product in the GEMM's epilogue. Same semantics
// as ops.loraLinearForward / matmulNT (LoRA unmerged: y (+)= x·Wᵀ + bias + scale·(x·Aᵀ)·Bᵀ,
// us = scale·x·Aᵀ kept as the interface defines it). A gated input (LinearShape.gatedX: packed
// gate | up rows) is passed to whichever kernel takes each product (skinny gatedX, gemm gatedA).
import type { Ops } from '../../ops/types.js';
import type { GpuContext } from '../../ops/webgpu/context.js';
import type { GpuTensor } from '../../ops/webgpu/tensor.js';
import { skinnyMatmulNT } from '../../ops/webgpu/skinny-matmul.js';
import { skinnyRmsnormMatmulNT } from '../../ops/webgpu/skinny-norm-matmul.js';
import { gemm } from '../../ops/webgpu/gemm.js';
import { isCpuAdapter } from '../../ops/webgpu/cpu-adapter.js';
import { gatedInput, segmentsNeedUs } from '../../ops/webgpu/lora-linear.js';

/** Rows up to which the few-row kernel is used: always on CPU adapters (SwiftShader), else 8. */
export function defaultSkinnyRows(ctx: GpuContext): number {
  return isCpuAdapter(ctx) ? Infinity : 8;
}

/**
 * Whether down_proj forms the SwiGLU as it loads (WebGpuEngineOptions.foldSwiglu): on GPUs, not on CPU
 * adapters. Each of a product's workgroups along N recomputes silu over its rows: on a GPU that is
 * expected to cost less than the dispatch it saves (not yet measured: bench:gpu-rollout's unfolded row
 * shows it), on a CPU adapter it is real time (SwiftShader, the 1.5B's structure at 1/8 width, batch
 * 48: 12–15% slower per decode step folded, one session, 2026-12-03).
 */
export function defaultFoldSwiglu(ctx: GpuContext): boolean {
  return !isCpuAdapter(ctx);
}

/**
 * Rows up to which the LoRA A products (us = scale·x·Aᵀ: N = r outputs, or n·r for the stacked A of
 * layer.ts) run on the skinny kernel even when the base product takes the tiled GEMM: there the tiled
 * GEMM has one or two output tiles, split over K with a reduce after them, where the skinny kernel is
 * one dispatch of N/8 × rows/4 workgroups.
 */
const LORA_A_SKINNY_ROWS = 64;
/** Columns up to which a product counts as a LoRA A product (3r for r ≤ 64, Tina's r is 32). */
const LORA_A_MAX_COLS = 192;

/** Whether an m×n product takes the few-row kernel. */
function skinnyProduct(m: number, n: number, skinnyRows: number): boolean {
  return m <= skinnyRows || (m <= LORA_A_SKINNY_ROWS && n <= LORA_A_MAX_COLS);
}

/**
 * foldNorm (WebGpuEngineOptions.foldNorm, default true): ops.rmsnormMatmulNT as one dispatch where its
 * product takes the few-row kernel; false (or a product off that kernel) runs the norm, then the product
 * routed like any matmulNT here.
 */
export function decodeOps(ctx: GpuContext, ops: Ops<GpuTensor>, skinnyRows: number, foldNorm = true): Ops<GpuTensor> {
  const matmulNT: Ops<GpuTensor>['matmulNT'] = (c, a, b, m, k, n, acc) =>
    skinnyProduct(m, n, skinnyRows)
      ? skinnyMatmulNT(ctx, c, a, b, m, k, n, { accumulate: acc ?? false })
      : ops.matmulNT(c, a, b, m, k, n, acc);
  return {
    ...ops,
    matmulNT,
    rmsnormMatmulNT: (xn, rstd, c, x, w, b, rows, dim, n, eps) => {
      if (foldNorm && skinnyProduct(rows, n, skinnyRows)) {
        skinnyRmsnormMatmulNT(ctx, xn, rstd, c, x, w, b, rows, dim, n, eps);
        return;
      }
      ops.rmsnormForward(xn, rstd, x, w, rows, dim, eps);
      matmulNT(c, xn, b, rows, dim, n, false);
    },
    loraLinearForward: (y, x, w, bias, shape, lora, xLora, us) => {
      const { rows, inF, outF } = shape;
      const accumulate = shape.accumulate === true;
      const branch = lora && lora.scale !== 0 ? lora : null;
      if (rows > skinnyRows && (!branch || shape.usGiven || !skinnyProduct(rows, branch.r, skinnyRows))) {
        ops.loraLinearForward(y, x, w, bias, shape, lora, xLora, us);
        return;
      }
      const gated = gatedInput('loraLinearForward', shape, x, xLora);
      if (!branch) {
        skinnyMatmulNT(ctx, y, x, w, rows, inF, outF, { accumulate, bias, gatedX: gated });
        return;
      }
      // us = scale·xLora·Aᵀ (unless given), then y (+)= x·Wᵀ + bias + us·Bᵀ in one product (the B product
      // in its epilogue).
      if (branch.segments?.length && !shape.usGiven) throw new Error(segmentsNeedUs('loraLinearForward'));
      if (!shape.usGiven) {
        const epi = { accumulate: false, alpha: branch.scale, gatedX: gated };
        skinnyMatmulNT(ctx, us, xLora, branch.a, rows, inF, branch.r, epi);
      }
      const lowRank = { u: us, b: branch.b, r: branch.r, ldu: shape.usGiven?.ld, segments: branch.segments };
      if (rows <= skinnyRows)
        skinnyMatmulNT(ctx, y, x, w, rows, inF, outF, { accumulate, bias, lowRank, gatedX: gated });
      else gemm(ctx, 'NT', y, x, w, rows, inF, outF, { accumulate, bias, lowRank, gatedA: gated });
    },
  };
}

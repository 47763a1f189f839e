// The operation interface as the engine's passes use it: the webgpu ops, with linear layers (base
// product, bias, LoRA branch) and the LM head routed to the few-row kernel (skinny-matmul.ts) when
// a pass has at most `skinnyRows` rows — a decode step at small batch, where the tiled GEMM mostly
// computes padding. Same semantics as ops.loraLinearForward / matmulNT (LoRA unmerged:
// y = x·Wᵀ + bias + scale·(x·Aᵀ)·Bᵀ, us = scale·x·Aᵀ kept as the interface defines it).
import type { Ops } from '../../ops/types.js';
import type { GpuContext } from '../../ops/webgpu/context.js';
import type { GpuTensor } from '../../ops/webgpu/tensor.js';
import { skinnyMatmulNT } from '../../ops/webgpu/skinny-matmul.js';

/** Rows up to which the few-row kernel is used: always on CPU adapters (SwiftShader), else 8. */
export function defaultSkinnyRows(ctx: GpuContext): number {
  return /swiftshader|llvmpipe|lavapipe/i.test(ctx.info.adapter) ? Infinity : 8;
}

export function decodeOps(ctx: GpuContext, ops: Ops<GpuTensor>, skinnyRows: number): Ops<GpuTensor> {
  if (!(skinnyRows > 0)) return ops;
  return {
    ...ops,
    matmulNT: (c, a, b, m, k, n, acc) =>
      m <= skinnyRows
        ? skinnyMatmulNT(ctx, c, a, b, m, k, n, { accumulate: acc ?? false })
        : ops.matmulNT(c, a, b, m, k, n, acc),
    loraLinearForward: (y, x, w, bias, shape, lora, xLora, us) => {
      const { rows, inF, outF } = shape;
      if (rows > skinnyRows) {
        ops.loraLinearForward(y, x, w, bias, shape, lora, xLora, us);
        return;
      }
      if (!lora || lora.scale === 0) {
        skinnyMatmulNT(ctx, y, x, w, rows, inF, outF, { accumulate: false, bias });
        return;
      }
      // us = scale·xLora·Aᵀ, then y = x·Wᵀ + bias + us·Bᵀ in one pass (the B product in the epilogue).
      skinnyMatmulNT(ctx, us, xLora, lora.a, rows, inF, lora.r, { accumulate: false, alpha: lora.scale });
      skinnyMatmulNT(ctx, y, x, w, rows, inF, outF, {
        accumulate: false,
        bias,
        lowRank: { u: us, b: lora.b, r: lora.r },
      });
    },
  };
}

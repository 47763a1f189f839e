// The webgpu implementation of the operation interface (ops/types.ts): T = GpuTensor. Every call
// enqueues GPU work on the context's command stream; read() submits and waits. Kernels live next
// to their TypeScript wrappers by concern: matmul.ts (tiled products, LoRA linear, LM head),
// attention.ts (flash attention forward/backward), elementwise.ts (norms, RoPE, SwiGLU, row moves,
// dropout), optimizer.ts (AdamW, gradient norm).
import type { Ops } from '../types.js';
import { allocTensor, beginScope, endScope, readF32, uploadTensor, type GpuContext } from './context.js';
import { viewOf, type GpuTensor } from './tensor.js';
import {
  lmHeadBackward,
  lmHeadForward,
  loraLinearBackward,
  loraLinearForward,
  matmulNN,
  matmulNT,
  matmulTN,
} from './matmul.js';
import { attentionBackward, attentionForward } from './attention.js';
import {
  addInPlace,
  copyTensor,
  dropout,
  gatherRows,
  rmsnormBackward,
  rmsnormForward,
  ropeApply,
  scatterAddRows,
  swigluBackward,
  swigluForward,
  swigluPackedForward,
} from './elementwise.js';
import { adamwStep } from './optimizer.js';
import { ropeTable } from '../cpu/rope.js';

export type { GpuTensor, GpuContext };

/** The operation interface over one GPU context. */
export function webgpuOps(ctx: GpuContext): Ops<GpuTensor> {
  return {
    name: 'webgpu',
    alloc: (n) => allocTensor(ctx, n, 'f32', true),
    view: viewOf,
    read: (t) => readF32(ctx, t),
    upload: (data) => uploadTensor(ctx, Float32Array.from(data), 'f32'),
    beginScope: () => beginScope(ctx),
    endScope: (keep) => endScope(ctx, keep),
    copy: (dst, src, n) => copyTensor(ctx, dst, src, n),
    addInPlace: (y, x, n) => addInPlace(ctx, y, x, n),
    gatherRows: (dst, src, index, width) => gatherRows(ctx, dst, src, index, width),
    scatterAddRows: (dst, src, index, width) => scatterAddRows(ctx, dst, src, index, width),
    matmulNN: (c, a, b, m, k, n, acc) => matmulNN(ctx, c, a, b, m, k, n, acc ?? false),
    matmulNT: (c, a, b, m, k, n, acc) => matmulNT(ctx, c, a, b, m, k, n, acc ?? false),
    matmulTN: (c, a, b, m, k, n, acc) => matmulTN(ctx, c, a, b, m, k, n, acc ?? false),
    rmsnormForward: (y, rstd, x, w, rows, dim, eps) => rmsnormForward(ctx, y, rstd, x, w, rows, dim, eps),
    rmsnormBackward: (dx, dw, dy, x, w, rstd, rows, dim) => rmsnormBackward(ctx, dx, dw, dy, x, w, rstd, rows, dim),
    rmsnormMatmulNT: (xn, rstd, c, x, w, b, rows, dim, n, eps) => {
      rmsnormForward(ctx, xn, rstd, x, w, rows, dim, eps);
      matmulNT(ctx, c, xn, b, rows, dim, n, false);
    },
    ropeTable,
    ropeApply: (x, positions, rows, nHeads, headDim, table, direction) =>
      ropeApply(ctx, x, positions, rows, nHeads, headDim, table, direction),
    attentionForward: (o, lse, q, k, v, rowStart, shape) => attentionForward(ctx, o, lse, q, k, v, rowStart, shape),
    attentionBackward: (dq, dk, dv, dO, q, k, v, o, lse, rowStart, shape) =>
      attentionBackward(ctx, dq, dk, dv, dO, q, k, v, o, lse, rowStart, shape),
    swigluForward: (a, g, u, n) => swigluForward(ctx, a, g, u, n),
    swigluPackedForward: (a, gu, rows, width) => swigluPackedForward(ctx, a, gu, rows, width),
    swigluBackward: (dg, du, da, g, u, n) => swigluBackward(ctx, dg, du, da, g, u, n),
    dropout: (xl, keep, x, n, p, source) => dropout(ctx, xl, keep, x, n, p, source),
    loraLinearForward: (y, x, w, bias, shape, lora, xLora, us) =>
      loraLinearForward(ctx, y, x, w, bias, shape, lora, xLora, us),
    loraLinearBackward: (g, dy, x, w, shape, lora, xLora, us, keep, dz, dx) =>
      loraLinearBackward(ctx, g, dy, x, w, shape, lora, xLora, us, keep, dz, dx),
    lmHeadForward: (logp, lse, entropy, hs, w, targets, rows, dim, vocab, invTemp, logits) =>
      lmHeadForward(ctx, logp, lse, entropy, hs, w, targets, rows, dim, vocab, invTemp, logits),
    lmHeadBackward: (dhs, dW, dlogp, hs, w, lse, targets, rows, dim, vocab, invTemp, keptLogits) => {
      // Truncated (top-p/top-k) scoring needs whole logit rows, which the fused GPU head never holds.
      if (keptLogits)
        throw new Error(
          'lmHeadBackward: top-p/top-k (truncated) log-probs are not implemented on webgpu; use learner.device "cpu" or grpo.top_p 1 / top_k 0',
        );
      lmHeadBackward(ctx, dhs, dW, dlogp, hs, w, lse, targets, rows, dim, vocab, invTemp);
    },
    adamwStep: (param, grad, m, v, lr, b1, b2, eps, wd, step, gradScale) =>
      adamwStep(ctx, param, grad, m, v, lr, b1, b2, eps, wd, step, gradScale ?? 1),
  };
}

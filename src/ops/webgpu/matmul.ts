// Matrix products on the GPU with the cpu ops' semantics (src/ops/matmul.ts):
//   matmulNN: C[M,N] (+)= A[M,K] · B[K,N]      (backward of a linear layer: dx = dy·W)
//   matmulNT: C[M,N] (+)= A[M,K] · B[N,K]ᵀ     (linear layer y = x·Wᵀ, weights as B)
//   matmulTN: C[M,N] (+)= A[K,M]ᵀ · B[K,N]     (weight and LoRA gradients)
// accumulate=false overwrites C; true adds into it. A and C are f32, B f32 or f16; views at any
// offset and split weights are accepted. The kernels and the choice of variant are in gemm.ts; the
// LoRA linear layer and the chunked LM head, which the operation interface also takes from here,
// in lora-linear.ts and lm-head.ts.
import type { GpuContext } from './context.js';
import type { GpuTensor } from './tensor.js';
import { gemm, type MatmulOptions } from './gemm.js';

export { configureMatmul, matmulSettings, variantUnavailable, MATMUL_VARIANTS, gemm } from './gemm.js';
export type { MatmulOptions, MatmulVariant, MatmulSettings, MatmulOp, GemmEpilogue } from './gemm.js';
export { loraLinearBackward, loraLinearForward } from './lora-linear.js';
export { lmHeadBackward, lmHeadForward, configureLmHead } from './lm-head.js';

export function matmulNN(
  ctx: GpuContext,
  c: GpuTensor,
  a: GpuTensor,
  b: GpuTensor,
  m: number,
  k: number,
  n: number,
  accumulate: boolean,
  opts: MatmulOptions = {},
): void {
  gemm(ctx, 'NN', c, a, b, m, k, n, { accumulate }, opts);
}

export function matmulNT(
  ctx: GpuContext,
  c: GpuTensor,
  a: GpuTensor,
  b: GpuTensor,
  m: number,
  k: number,
  n: number,
  accumulate: boolean,
  opts: MatmulOptions = {},
): void {
  gemm(ctx, 'NT', c, a, b, m, k, n, { accumulate }, opts);
}

export function matmulTN(
  ctx: GpuContext,
  c: GpuTensor,
  a: GpuTensor,
  b: GpuTensor,
  m: number,
  k: number,
  n: number,
  accumulate: boolean,
  opts: MatmulOptions = {},
): void {
  gemm(ctx, 'TN', c, a, b, m, k, n, { accumulate }, opts);
}

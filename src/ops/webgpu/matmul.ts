// PLACEHOLDER (replaced by the matmul kernels): signatures of the products, LoRA linear and LM head.
import type { GpuContext } from './context.js';
import type { GpuTensor } from './tensor.js';
import type { LinearGrads, LinearShape, LoraOperand } from '../types.js';

const todo = (name: string): never => { throw new Error(`webgpu: ${name} is not implemented yet`); };

export function matmulNN(ctx: GpuContext, c: GpuTensor, a: GpuTensor, b: GpuTensor, m: number, k: number, n: number, accumulate: boolean): void { void [ctx, c, a, b, m, k, n, accumulate]; todo('matmulNN'); }
export function matmulNT(ctx: GpuContext, c: GpuTensor, a: GpuTensor, b: GpuTensor, m: number, k: number, n: number, accumulate: boolean): void { void [ctx, c, a, b, m, k, n, accumulate]; todo('matmulNT'); }
export function matmulTN(ctx: GpuContext, c: GpuTensor, a: GpuTensor, b: GpuTensor, m: number, k: number, n: number, accumulate: boolean): void { void [ctx, c, a, b, m, k, n, accumulate]; todo('matmulTN'); }
export function loraLinearForward(ctx: GpuContext, y: GpuTensor, x: GpuTensor, w: GpuTensor, bias: GpuTensor | null, shape: LinearShape, lora: LoraOperand<GpuTensor> | null, xLora: GpuTensor, us: GpuTensor): void { void [ctx, y, x, w, bias, shape, lora, xLora, us]; todo('loraLinearForward'); }
export function loraLinearBackward(ctx: GpuContext, g: LinearGrads<GpuTensor>, dy: GpuTensor, x: GpuTensor, w: GpuTensor, shape: LinearShape, lora: LoraOperand<GpuTensor> | null, xLora: GpuTensor, us: GpuTensor, keep: GpuTensor | null, scratchDz: GpuTensor, scratchDx: GpuTensor): void { void [ctx, g, dy, x, w, shape, lora, xLora, us, keep, scratchDz, scratchDx]; todo('loraLinearBackward'); }
export function lmHeadForward(ctx: GpuContext, logp: GpuTensor, lse: GpuTensor, entropy: GpuTensor | null, hs: GpuTensor, w: GpuTensor, targets: Int32Array, rows: number, dim: number, vocab: number, invTemp: number, logits: GpuTensor | null): void { void [ctx, logp, lse, entropy, hs, w, targets, rows, dim, vocab, invTemp, logits]; todo('lmHeadForward'); }
export function lmHeadBackward(ctx: GpuContext, dhs: GpuTensor, dW: GpuTensor | null, dlogp: GpuTensor, hs: GpuTensor, w: GpuTensor, lse: GpuTensor, targets: Int32Array, rows: number, dim: number, vocab: number, invTemp: number): void { void [ctx, dhs, dW, dlogp, hs, w, lse, targets, rows, dim, vocab, invTemp]; todo('lmHeadBackward'); }

// PLACEHOLDER (replaced by the optimizer kernels).
import type { GpuContext } from './context.js';
import type { GpuTensor } from './tensor.js';

const todo = (name: string): never => { throw new Error(`webgpu: ${name} is not implemented yet`); };

export function adamwStep(ctx: GpuContext, param: GpuTensor, grad: GpuTensor, m: GpuTensor, v: GpuTensor, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number, gradScale: number): void { void [ctx, param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step, gradScale]; todo('adamwStep'); }
/** Σx² of t as partial sums (one per workgroup); the caller adds them on the host in float64. */
export async function sumOfSquares(ctx: GpuContext, t: GpuTensor): Promise<number> { void [ctx, t]; return todo('sumOfSquares'); }

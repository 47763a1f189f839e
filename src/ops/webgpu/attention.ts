// PLACEHOLDER (replaced by the flash-attention kernels).
import type { GpuContext } from './context.js';
import type { GpuTensor } from './tensor.js';
import type { HeadShape } from '../types.js';

const todo = (name: string): never => { throw new Error(`webgpu: ${name} is not implemented yet`); };

export function attentionForward(ctx: GpuContext, o: GpuTensor, lse: GpuTensor, q: GpuTensor, k: GpuTensor, v: GpuTensor, rowStart: Int32Array, shape: HeadShape): void { void [ctx, o, lse, q, k, v, rowStart, shape]; todo('attentionForward'); }
export function attentionBackward(ctx: GpuContext, dq: GpuTensor, dk: GpuTensor, dv: GpuTensor, dO: GpuTensor, q: GpuTensor, k: GpuTensor, v: GpuTensor, o: GpuTensor, lse: GpuTensor, rowStart: Int32Array, shape: HeadShape): void { void [ctx, dq, dk, dv, dO, q, k, v, o, lse, rowStart, shape]; todo('attentionBackward'); }

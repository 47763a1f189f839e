// PLACEHOLDER (replaced by the elementwise kernels).
import type { GpuContext } from './context.js';
import type { GpuTensor } from './tensor.js';
import type { DropoutSource, RopeTable } from '../types.js';

const todo = (name: string): never => { throw new Error(`webgpu: ${name} is not implemented yet`); };

export function copyTensor(ctx: GpuContext, dst: GpuTensor, src: GpuTensor, n: number): void { void [ctx, dst, src, n]; todo('copy'); }
export function addInPlace(ctx: GpuContext, y: GpuTensor, x: GpuTensor, n: number): void { void [ctx, y, x, n]; todo('addInPlace'); }
export function gatherRows(ctx: GpuContext, dst: GpuTensor, src: GpuTensor, index: Int32Array, width: number): void { void [ctx, dst, src, index, width]; todo('gatherRows'); }
export function scatterAddRows(ctx: GpuContext, dst: GpuTensor, src: GpuTensor, index: Int32Array, width: number): void { void [ctx, dst, src, index, width]; todo('scatterAddRows'); }
export function rmsnormForward(ctx: GpuContext, y: GpuTensor, rstd: GpuTensor, x: GpuTensor, w: GpuTensor, rows: number, dim: number, eps: number): void { void [ctx, y, rstd, x, w, rows, dim, eps]; todo('rmsnormForward'); }
export function rmsnormBackward(ctx: GpuContext, dx: GpuTensor, dw: GpuTensor | null, dy: GpuTensor, x: GpuTensor, w: GpuTensor, rstd: GpuTensor, rows: number, dim: number): void { void [ctx, dx, dw, dy, x, w, rstd, rows, dim]; todo('rmsnormBackward'); }
export function ropeApply(ctx: GpuContext, x: GpuTensor, positions: Int32Array, rows: number, nHeads: number, headDim: number, table: RopeTable, direction: 1 | -1): void { void [ctx, x, positions, rows, nHeads, headDim, table, direction]; todo('ropeApply'); }
export function swigluForward(ctx: GpuContext, a: GpuTensor, g: GpuTensor, u: GpuTensor, n: number): void { void [ctx, a, g, u, n]; todo('swigluForward'); }
export function swigluBackward(ctx: GpuContext, dg: GpuTensor, du: GpuTensor, da: GpuTensor, g: GpuTensor, u: GpuTensor, n: number): void { void [ctx, dg, du, da, g, u, n]; todo('swigluBackward'); }
export function dropout(ctx: GpuContext, xl: GpuTensor, keep: GpuTensor, x: GpuTensor, n: number, p: number, source: DropoutSource): void { void [ctx, xl, keep, x, n, p, source]; todo('dropout'); }

// Linear layer with an optional LoRA branch on the GPU, the semantics of src/ops/cpu/lora-linear.ts:
//   y (+)= x·Wᵀ + bias + scale · (xLora·Aᵀ)·Bᵀ       W [out,in], A [r,in], B [out,r]
// xLora is x with dropout applied (or x itself). Fused into the products' epilogues: the bias add and
// the LoRA branch's B product (into y = x·Wᵀ: the forward is two products, us first), the LoRA scale
// (us = scale·xLora·Aᵀ, dz = scale·dy·B) and the dropout keep multiplier of the LoRA branch's dx
// (dx += (dz·A) ⊙ keep, so scratchDx is not needed on the GPU).
// dBias is the column sum of dy, computed as onesᵀ·dy on the same (split-K) product.
// shape.gatedX (inference): x is packed gate | up rows and both products (us, y) load silu(gate)·up
// (gemm.ts gatedA), so down_proj runs without the SwiGLU's own dispatch and [rows, inF] activation.
import { allocTensor, fillTensor, releaseTensor, type GpuContext } from './context.js';
import type { GpuTensor } from './tensor.js';
import type { LinearGrads, LinearShape, LoraOperand } from '../types.js';
import { gemm, type MatmulOptions } from './gemm.js';

/**
 * y [rows,out] = x·Wᵀ + bias (+ LoRA), or y += that with shape.accumulate. us [rows, r] receives
 * scale·(xLora·Aᵀ) for the backward (with shape.usGiven it holds that already, at row stride
 * usGiven.ld). lora null or scale 0: the branch is off (y is the base layer, us untouched).
 */
export function loraLinearForward(
  ctx: GpuContext,
  y: GpuTensor,
  x: GpuTensor,
  w: GpuTensor,
  bias: GpuTensor | null,
  shape: LinearShape,
  lora: LoraOperand<GpuTensor> | null,
  xLora: GpuTensor,
  us: GpuTensor,
  opts: MatmulOptions = {},
): void {
  const { rows, inF, outF } = shape;
  const accumulate = shape.accumulate === true;
  const gatedA = gatedInput('loraLinearForward', shape, x, xLora);
  if (!lora || lora.scale === 0) {
    gemm(ctx, 'NT', y, x, w, rows, inF, outF, { accumulate, bias, gatedA }, opts);
    return;
  }
  if (lora.segments?.length && !shape.usGiven) throw new Error(segmentsNeedUs('loraLinearForward'));
  if (!shape.usGiven)
    gemm(ctx, 'NT', us, xLora, lora.a, rows, inF, lora.r, { accumulate: false, alpha: lora.scale, gatedA }, opts);
  const lowRank = { u: us, b: lora.b, r: lora.r, ldu: shape.usGiven?.ld, segments: lora.segments };
  gemm(ctx, 'NT', y, x, w, rows, inF, outF, { accumulate, bias, lowRank, gatedA }, opts);
}

/**
 * Whether the layer's input is gated (shape.gatedX); refuses an xLora that is not x (dropout has no
 * gated form, and gatedX is for inference, where there is none).
 */
export function gatedInput(where: string, shape: LinearShape, x: GpuTensor, xLora: GpuTensor): boolean {
  if (!shape.gatedX) return false;
  const same = xLora === x || (xLora.buffer === x.buffer && xLora.offset === x.offset && !xLora.split && !x.split);
  if (!same) throw new Error(`${where}: gatedX needs xLora to be x (no dropout in inference)`);
  return true;
}

/**
 * The refusal of lora.segments without shape.usGiven: each segment would need its own A product into
 * its own columns of us, which is the caller's stacked A product (layer.ts).
 */
export function segmentsNeedUs(where: string): string {
  return `${where}: lora.segments needs shape.usGiven (us computed by the caller, r columns per segment)`;
}

/**
 * Accumulates the gradients of loraLinearForward into the non-null outputs of g. keep: dropout
 * multipliers of the LoRA input (null: none). scratchDz [rows, r] is overwritten with scale·dy·B;
 * scratchDx is not used (the keep multiply is fused). With the branch off, dA and dB get nothing
 * (exactly zero gradient, as on the cpu).
 */
export function loraLinearBackward(
  ctx: GpuContext,
  g: LinearGrads<GpuTensor>,
  dy: GpuTensor,
  x: GpuTensor,
  w: GpuTensor,
  shape: LinearShape,
  lora: LoraOperand<GpuTensor> | null,
  xLora: GpuTensor,
  us: GpuTensor,
  keep: GpuTensor | null,
  scratchDz: GpuTensor,
  scratchDx: GpuTensor,
  opts: MatmulOptions = {},
): void {
  void scratchDx;
  // Segments are an inference layout (several projections as one product over a given us).
  if (lora?.segments?.length) throw new Error('loraLinearBackward: lora.segments is forward-only (inference)');
  if (shape.gatedX) throw new Error('loraLinearBackward: gatedX is forward-only (inference)');
  const { rows, inF, outF } = shape;
  if (g.dx) gemm(ctx, 'NN', g.dx, dy, w, rows, outF, inF, { accumulate: true }, opts);
  if (g.dW) gemm(ctx, 'TN', g.dW, dy, x, outF, rows, inF, { accumulate: true }, opts);
  if (g.dBias) gemm(ctx, 'TN', g.dBias, ones(ctx, rows), dy, 1, rows, outF, { accumulate: true }, opts);
  if (!lora || lora.scale === 0) return;
  const r = lora.r;
  if (g.dB) gemm(ctx, 'TN', g.dB, dy, us, outF, rows, r, { accumulate: true }, opts);
  if (!g.dA && !g.dx) return;
  gemm(ctx, 'NN', scratchDz, dy, lora.b, rows, outF, r, { accumulate: false, alpha: lora.scale }, opts);
  if (g.dA) gemm(ctx, 'TN', g.dA, scratchDz, xLora, r, rows, inF, { accumulate: true }, opts);
  if (g.dx) gemm(ctx, 'NN', g.dx, scratchDz, lora.a, rows, r, inF, { accumulate: true, mul: keep }, opts);
}

const onesCache = new WeakMap<GpuContext, GpuTensor>();

/** A persistent tensor of at least n ones (grown by doubling). */
function ones(ctx: GpuContext, n: number): GpuTensor {
  let t = onesCache.get(ctx);
  if (!t || t.length < n) {
    if (t) releaseTensor(ctx, t);
    t = allocTensor(ctx, Math.max(1024, 2 ** Math.ceil(Math.log2(Math.max(n, 1)))), 'f32', false, true);
    fillTensor(ctx, t, 1);
    onesCache.set(ctx, t);
  }
  return t;
}

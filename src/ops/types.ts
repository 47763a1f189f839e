// The numeric operation interface. The model is written against these functions only; `cpu`
// (src/ops/cpu) implements them over Float32Array or Float64Array (float64 for gradient checks),
// and a webgpu implementation can provide the same shapes. Every backward ACCUMULATES into its
// gradient outputs unless its doc says it overwrites, so residual branches can share buffers.
import type { FloatArray } from './matmul.js';
import type { RopeTable } from './cpu/rope.js';
import type { AttentionShape } from './cpu/attention.js';
import type { LinearGrads, LinearShape, LoraOperand } from './cpu/lora-linear.js';

export type { FloatArray, RopeTable, AttentionShape, LinearGrads, LinearShape, LoraOperand };

export interface Ops {
  readonly name: string;
  matmulNN(c: FloatArray, a: FloatArray, b: FloatArray, m: number, k: number, n: number, accumulate?: boolean): void;
  matmulNT(c: FloatArray, a: FloatArray, b: FloatArray, m: number, k: number, n: number, accumulate?: boolean): void;
  matmulTN(c: FloatArray, a: FloatArray, b: FloatArray, m: number, k: number, n: number, accumulate?: boolean): void;

  rmsnormForward(y: FloatArray, rstd: FloatArray, x: FloatArray, w: FloatArray, rows: number, dim: number, eps: number): void;
  rmsnormBackward(dx: FloatArray, dw: FloatArray | null, dy: FloatArray, x: FloatArray, w: FloatArray, rstd: FloatArray, rows: number, dim: number): void;

  ropeTable(theta: number, headDim: number, minPositions: number): RopeTable;
  /** In place; direction −1 is the inverse rotation, which is also the backward. */
  ropeApply(x: FloatArray, positions: Int32Array, rows: number, nHeads: number, headDim: number, table: RopeTable, direction: 1 | -1): void;

  attentionForward(o: FloatArray, lse: FloatArray, q: FloatArray, k: FloatArray, v: FloatArray, shape: AttentionShape, scratch: Float64Array): void;
  attentionBackward(dq: FloatArray, dk: FloatArray, dv: FloatArray, dO: FloatArray, q: FloatArray, k: FloatArray, v: FloatArray, o: FloatArray, lse: FloatArray, shape: AttentionShape): void;

  swigluForward(a: FloatArray, g: FloatArray, u: FloatArray, n: number): void;
  /** Overwrites dg, du. */
  swigluBackward(dg: FloatArray, du: FloatArray, da: FloatArray, g: FloatArray, u: FloatArray, n: number): void;

  loraLinearForward(y: FloatArray, x: FloatArray, w: FloatArray, bias: FloatArray | null, shape: LinearShape, lora: LoraOperand | null, xLora: FloatArray, us: FloatArray): void;
  loraLinearBackward(g: LinearGrads, dy: FloatArray, x: FloatArray, w: FloatArray, shape: LinearShape, lora: LoraOperand | null, xLora: FloatArray, us: FloatArray, keep: FloatArray | null, scratchDz: FloatArray, scratchDx: FloatArray): void;

  logSoftmaxGatherForward(logp: FloatArray, lse: FloatArray, logits: FloatArray, targets: Int32Array, rows: number, vocab: number, invTemp: number): void;
  /** Overwrites logits with ∂L/∂logits. */
  logSoftmaxGatherBackward(logits: FloatArray, dlogp: FloatArray, lse: FloatArray, targets: Int32Array, rows: number, vocab: number, invTemp: number): void;

  /** AdamW update (src/ops/cpu/adamw.ts, written by the RL engineer); step counts from 1. */
  adamwStep(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number): void;
}

// The numeric operation interface. The model (src/model/train.ts, layer.ts, layer-backward.ts) is
// written against these functions only. Two implementations:
//   cpu    (src/ops/cpu)    T = Float32Array | Float64Array (float64 for gradient checks)
//   webgpu (src/ops/webgpu) T = GpuTensor: calls enqueue GPU work; results are read back with read()
// Tensors are flat and row-major; `view` makes zero-copy sub-tensors. Index arrays (positions,
// targets, row maps) and RoPE tables are host data in both: the webgpu implementation uploads each
// once and caches it. Every backward ACCUMULATES into its gradient outputs unless its doc says it
// overwrites, so residual branches can share buffers.
import type { Rng } from '../util/rng.js';

/** A host tensor: float32, or float64 for gradient checks. */
export type FloatArray = Float32Array | Float64Array;

/** cos/sin of every (position, frequency) pair, float64, computed once per (theta, headDim). */
export interface RopeTable {
  theta: number;
  headDim: number;
  /** Positions covered: cos/sin have maxPos · headDim/2 entries. */
  maxPos: number;
  cos: Float64Array;
  sin: Float64Array;
}

/** One sequence's attention call: query row i sits at position firstPos + i (cpu, KV-cache decode). */
export interface AttentionShape {
  rows: number;
  firstPos: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

/** Heads of a packed multi-sequence attention call (positions restart at 0 in each sequence). */
export interface HeadShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

export interface LinearShape {
  rows: number;
  inF: number;
  outF: number;
  /**
   * Forward only: add the layer's output to y instead of overwriting it (y += x·Wᵀ + bias + LoRA),
   * so inference adds o_proj and down_proj straight into the residual stream.
   */
  accumulate?: boolean;
  /**
   * Forward only (inference): us already holds scale·xLora·Aᵀ, as r columns of a wider matrix with
   * row stride `ld` (layer.ts runs the A products of the branches that read one input as one product
   * over their stacked A matrices); only the base product and the B product run, and us is read, not
   * written.
   */
  usGiven?: { ld: number };
  /**
   * Forward only (inference): x (and xLora, which must be x) are packed gate | up rows [rows, 2·inF],
   * and the layer's input is silu(gate)·up [rows, inF], formed as the products load it (down_proj after
   * gate,up as one projection: the SwiGLU folded into its loads, layer.ts).
   */
  gatedX?: boolean;
}

/** One LoRA branch: views of the flat adapter block. */
export interface LoraOperand<T = FloatArray> {
  /** lora_A [r, in] */
  a: T;
  /** lora_B [out, r] */
  b: T;
  r: number;
  scale: number;
  /**
   * Forward only (inference, with LinearShape.usGiven): the output columns of several projections
   * that read one input, run as one product (layer.ts: q,k,v and gate,up as one projection). Columns
   * [0, segments[0].start) take `b` and us's columns [0, r); segment i's columns [start, next start or
   * outF) take its own B (its rows from 0) and us's columns [(i+1)·r, (i+2)·r). At most 2 segments.
   */
  segments?: readonly LoraSegment<T>[];
}

/** A further column segment of a LoraOperand: its first output column and its lora_B [columns, r]. */
export interface LoraSegment<T = FloatArray> {
  start: number;
  b: T;
}

export interface LinearGrads<T = FloatArray> {
  /** ∂L/∂x, accumulated (null: not needed). */
  dx: T | null;
  dW: T | null;
  dBias: T | null;
  dA: T | null;
  dB: T | null;
}

/**
 * Where dropout randomness comes from. `sequential`: the next values of a seeded generator, in
 * element order (the CPU learner's historical stream; cpu only). `counter`: a hash of (seed,
 * stream, element index), so any device computes the same mask, in any order, and a recomputed
 * layer reproduces its mask exactly.
 */
export type DropoutSource = { kind: 'sequential'; rng: Rng } | { kind: 'counter'; seed: number; stream: number };

export interface Ops<T = FloatArray> {
  readonly name: string;

  // Storage. alloc gives zeros, of like's float type on the cpu (f32 or f64), f32 on the GPU.
  alloc(n: number, like: T): T;
  view(t: T, offset: number, length: number): T;
  /** Reads a tensor back to the host (cpu: a copy of the values). */
  read(t: T): Promise<Float32Array | Float64Array>;
  /** Host data into a new tensor of like's type. */
  upload(data: Float32Array | Float64Array, like: T): T;
  /** Scratch scopes: tensors allocated between begin and end are released at end (cpu: nothing). */
  beginScope(): void;
  endScope(keep?: T[]): void;

  // Elementwise and row moves.
  copy(dst: T, src: T, n: number): void;
  /** y += x */
  addInPlace(y: T, x: T, n: number): void;
  /** dst[i, :] = src[index[i], :] for i < index.length (rows of `width`). */
  gatherRows(dst: T, src: T, index: Int32Array, width: number): void;
  /** dst[index[i], :] += src[i, :] (indices may repeat). */
  scatterAddRows(dst: T, src: T, index: Int32Array, width: number): void;

  // Products. C[M,N] (+)= A·B with A [M,K]; NN: B [K,N]; NT: B [N,K]; TN: A [K,M], B [K,N].
  matmulNN(c: T, a: T, b: T, m: number, k: number, n: number, accumulate?: boolean): void;
  matmulNT(c: T, a: T, b: T, m: number, k: number, n: number, accumulate?: boolean): void;
  matmulTN(c: T, a: T, b: T, m: number, k: number, n: number, accumulate?: boolean): void;

  rmsnormForward(y: T, rstd: T, x: T, w: T, rows: number, dim: number, eps: number): void;
  rmsnormBackward(dx: T, dw: T | null, dy: T, x: T, w: T, rstd: T, rows: number, dim: number): void;
  /**
   * Inference: rmsnormForward(xn, rstd, x, w, rows, dim, eps), then c [rows, n] = xn·bᵀ (b [n, dim], c
   * overwritten): a norm and the product that first reads its output (layer.ts: the stacked LoRA A
   * product of q,k,v or gate,up). The webgpu engine's decode step runs both as one dispatch
   * (skinny-norm-matmul.ts); elsewhere it is the two operations.
   */
  rmsnormMatmulNT(xn: T, rstd: T, c: T, x: T, w: T, b: T, rows: number, dim: number, n: number, eps: number): void;

  ropeTable(theta: number, headDim: number, minPositions: number): RopeTable;
  /** In place; direction −1 is the inverse rotation, which is also the backward. */
  ropeApply(
    x: T,
    positions: Int32Array,
    rows: number,
    nHeads: number,
    headDim: number,
    table: RopeTable,
    direction: 1 | -1,
  ): void;

  /**
   * Causal GQA attention over packed sequences: sequence s owns rows [rowStart[s], rowStart[s+1])
   * of q, k, v, o (positions 0.. within it). lse [rows, nHeads] is saved for the backward.
   */
  attentionForward(o: T, lse: T, q: T, k: T, v: T, rowStart: Int32Array, shape: HeadShape): void;
  attentionBackward(
    dq: T,
    dk: T,
    dv: T,
    dO: T,
    q: T,
    k: T,
    v: T,
    o: T,
    lse: T,
    rowStart: Int32Array,
    shape: HeadShape,
  ): void;

  swigluForward(a: T, g: T, u: T, n: number): void;
  /**
   * Inference: a [rows, width] = silu(gate) · up over packed rows gu [rows, 2·width], each row gate | up
   * (the output of gate and up as one projection, layer.ts).
   */
  swigluPackedForward(a: T, gu: T, rows: number, width: number): void;
  /** Overwrites dg, du. */
  swigluBackward(dg: T, du: T, da: T, g: T, u: T, n: number): void;

  /** xl = x ⊙ keep with keep ∈ {0, 1/(1−p)} drawn from source; writes keep too. */
  dropout(xl: T, keep: T, x: T, n: number, p: number, source: DropoutSource): void;

  loraLinearForward(
    y: T,
    x: T,
    w: T,
    bias: T | null,
    shape: LinearShape,
    lora: LoraOperand<T> | null,
    xLora: T,
    us: T,
  ): void;
  loraLinearBackward(
    g: LinearGrads<T>,
    dy: T,
    x: T,
    w: T,
    shape: LinearShape,
    lora: LoraOperand<T> | null,
    xLora: T,
    us: T,
    keep: T | null,
    scratchDz: T,
    scratchDx: T,
  ): void;

  /**
   * LM head + log-softmax + gather, never holding more than a chunk of rows × vocab logits:
   * logp[r] = z[r, targets[r]] − lse[r], z = (hs·Wᵀ)·invTemp. entropy[r] (when given) is the entropy
   * of softmax(z[r]). logits (when given, [rows, vocab]) receives the raw logits.
   */
  lmHeadForward(
    logp: T,
    lse: T,
    entropy: T | null,
    hs: T,
    w: T,
    targets: Int32Array,
    rows: number,
    dim: number,
    vocab: number,
    invTemp: number,
    logits: T | null,
  ): void;
  /**
   * dhs += ∂L/∂hs from dlogp (recomputing the logits chunk by chunk); dW += ∂L/∂W when given.
   * keptLogits (top-p/top-k scoring, [rows, vocab]): the raw logits with excluded tokens overwritten
   * by EXCLUDED_LOGIT, used (and consumed) instead of the recomputed ones, with lse over the kept set.
   */
  lmHeadBackward(
    dhs: T,
    dW: T | null,
    dlogp: T,
    hs: T,
    w: T,
    lse: T,
    targets: Int32Array,
    rows: number,
    dim: number,
    vocab: number,
    invTemp: number,
    keptLogits?: T | null,
  ): void;

  /** AdamW update (torch semantics, step counts from 1); grad is multiplied by gradScale first. */
  adamwStep(
    param: T,
    grad: T,
    m: T,
    v: T,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    step: number,
    gradScale?: number,
  ): void;
}

// The buffers of one decoder layer (layer.ts): every intermediate the training forward keeps for the
// backward, and what inference allocates beyond them or leaves empty (the residual stream in place,
// stacked LoRA A products, fused projections, the folded SwiGLU).
import type { Qwen2Config } from './config.js';
import { LORA_MODULES, type LayerLoraSlots, type LoraModule } from './lora.js';

export interface LoraBuffers<T> {
  /** scale·(xLora·Aᵀ) [rows, r] */
  us: T;
  /** The LoRA branch's input: the dropped-out copy when dropout is on, else null (the layer input). */
  xl: T | null;
  /** Inverted-dropout multipliers [rows, in], or null. */
  keep: T | null;
}

/** Every intermediate of one layer; `out` is the layer output (the next layer's x). */
export interface LayerBuffers<T> {
  x: T;
  rstd1: T;
  xn1: T;
  q: T;
  k: T;
  v: T;
  lse: T;
  attn: T;
  h2: T;
  rstd2: T;
  xn2: T;
  g: T;
  u: T;
  a: T;
  out: T;
  lora: Record<LoraModule, LoraBuffers<T> | null>;
  /** scale·x·Aᵀ of the stacked branches: [rows, 3r] (q,k,v) and [rows, 2r] (gate,up); see StackedLora. */
  usStack: { qkv: T; gateUp: T } | null;
  /** The fused q,k,v projection's output [rows, Q + 2·KV] (each row q | k | v), or null (q, k, v apart). */
  qkv: T | null;
  /** The fused gate,up projection's output [rows, 2·I] (each row gate | up), or null (g and u apart). */
  gu: T | null;
  /** down_proj reads gu, the SwiGLU formed as its products load it (LinearShape.gatedX); a is empty. */
  swigluInDown: boolean;
}

/**
 * Inference: one layer's LoRA A matrices of the branches that read one input, stacked and multiplied
 * by the LoRA scale: scale·[A_q; A_k; A_v] [3r, D] and scale·[A_gate; A_up] [2r, D]. Each group's A
 * products then run as one product (ops.matmulNT, or ops.rmsnormMatmulNT with the norm before it), and
 * every branch reads its r columns of the result (LinearShape.usGiven): two dispatches per layer instead
 * of five; a fused projection reads all of them in one low-rank term. null: the group is not adapted in
 * full.
 */
export interface StackedLora<T> {
  /** The scale folded in: the stacks serve only a LayerContext of this scale. */
  scale: number;
  qkv: T | null;
  gateUp: T | null;
}

/** What allocLayerBuffers allocates beyond the layer's fixed intermediates. */
export interface LayerBufferOptions<T> {
  /** LoRA dropout buffers (xl, keep) per adapted module (training with dropout). */
  dropout?: boolean;
  /** The layer input, supplied by the caller (else allocated). */
  x?: T;
  /**
   * Inference only: h2 and out are x itself, so layerForward adds o_proj's and down_proj's outputs
   * straight into the residual stream (two residual adds and two buffers fewer per layer). The
   * training forward keeps h2 for the backward and leaves this off.
   */
  residualInPlace?: boolean;
  /** Inference only: the stacked A products' outputs (usStack), for a LayerContext with stacked. */
  stackedLora?: boolean;
  /**
   * Inference only: q,k,v as one projection into LayerBuffers.qkv (q, k, v empty), for a LayerContext with
   * fusedQkv and ropeInAttend whose every adapted layer has its q,k,v stack.
   */
  fusedQkv?: boolean;
  /** Inference only: gate,up as one projection into LayerBuffers.gu (g, u empty), for a fusedGateUp context. */
  fusedGateUp?: boolean;
  /** Inference only, with fusedGateUp: down_proj reads gu through the SwiGLU folded into its loads (a empty). */
  swigluInDown?: boolean;
}

/** make(n) gives a tensor of n elements (zeroed or not, as the caller's passes need). */
export function allocLayerBuffers<T>(
  c: Qwen2Config,
  rows: number,
  slots: LayerLoraSlots | null,
  make: (n: number) => T,
  opts: LayerBufferOptions<T> = {},
): LayerBuffers<T> {
  const D = c.hiddenSize,
    Q = c.numHeads * c.headDim,
    KV = c.numKvHeads * c.headDim,
    I = c.intermediateSize;
  const lora = {} as Record<LoraModule, LoraBuffers<T> | null>;
  for (const m of LORA_MODULES) {
    const s = slots ? slots[m] : null;
    lora[m] = s
      ? {
          us: make(rows * s.r),
          xl: opts.dropout ? make(rows * s.inF) : null,
          keep: opts.dropout ? make(rows * s.inF) : null,
        }
      : null;
  }
  const x = opts.x ?? make(rows * D);
  const inPlace = opts.residualInPlace === true;
  const r = stackRank(slots);
  const fq = opts.fusedQkv === true,
    fgu = opts.fusedGateUp === true,
    folded = fgu && opts.swigluInDown === true;
  const usStack = opts.stackedLora && r > 0 ? { qkv: make(rows * 3 * r), gateUp: make(rows * 2 * r) } : null;
  return {
    x,
    rstd1: make(rows),
    xn1: make(rows * D),
    // Fused groups write their packed buffer instead: their members' buffers are empty (length 0).
    q: make(fq ? 0 : rows * Q),
    k: make(fq ? 0 : rows * KV),
    v: make(fq ? 0 : rows * KV),
    lse: make(rows * c.numHeads),
    attn: make(rows * Q),
    h2: inPlace ? x : make(rows * D),
    rstd2: make(rows),
    xn2: make(rows * D),
    g: make(fgu ? 0 : rows * I),
    u: make(fgu ? 0 : rows * I),
    a: make(folded ? 0 : rows * I),
    out: inPlace ? x : make(rows * D),
    lora,
    usStack,
    qkv: fq ? make(rows * (Q + 2 * KV)) : null,
    gu: fgu ? make(rows * 2 * I) : null,
    swigluInDown: folded,
  };
}

/** The LoRA rank of the stackable groups (q_proj's, else gate_proj's; 0: neither adapted). */
export function stackRank(slots: LayerLoraSlots | null): number {
  return slots?.q_proj?.r ?? slots?.gate_proj?.r ?? 0;
}

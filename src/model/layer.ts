// One Qwen2 decoder layer over a set of packed token rows, shared by the training forward (which
// keeps every buffer for the backward) and KV-cache decoding (which reuses one workspace). Only the
// attention step differs between the two, so it is passed in as `attend`.
//
//   xn1 = rmsnorm(x)             q,k,v = LoRA-linear(xn1) (+bias), RoPE on q,k
//   attn = attend(q,k,v)         h2 = x + LoRA-linear_o(attn)
//   xn2 = rmsnorm(h2)            a = silu(gate(xn2)) · up(xn2)        out = h2 + down(a)
import type { FloatArray } from '../ops/matmul.js';
import type { Ops, RopeTable } from '../ops/types.js';
import type { Qwen2Config } from './config.js';
import { LORA_MODULES, operandOf, type LayerLoraSlots, type LoraModule } from './lora.js';
import type { LoraOperand } from '../ops/cpu/lora-linear.js';
import type { LayerWeights } from './weights.js';
import type { Rng } from '../util/rng.js';

export interface LoraBuffers<F extends FloatArray> {
  /** scale·(xLora·Aᵀ) [rows, r] */
  us: F;
  /** The LoRA branch's input: the dropped-out copy when dropout is on, else the layer input itself. */
  xl: F | null;
  /** Inverted-dropout multipliers [rows, in], or null. */
  keep: F | null;
}

/** Every intermediate of one layer; `out` is the layer output (the next layer's x). */
export interface LayerBuffers<F extends FloatArray> {
  x: F; rstd1: F; xn1: F;
  q: F; k: F; v: F;
  lse: F; attn: F;
  h2: F; rstd2: F; xn2: F;
  g: F; u: F; a: F;
  out: F;
  lora: Record<LoraModule, LoraBuffers<F> | null>;
}

export function allocLayerBuffers<F extends FloatArray>(c: Qwen2Config, rows: number, slots: LayerLoraSlots | null, make: (n: number) => F, withDropout: boolean): LayerBuffers<F> {
  const D = c.hiddenSize, Q = c.numHeads * c.headDim, KV = c.numKvHeads * c.headDim, I = c.intermediateSize;
  const lora = {} as Record<LoraModule, LoraBuffers<F> | null>;
  for (const m of LORA_MODULES) {
    const s = slots ? slots[m] : null;
    lora[m] = s ? { us: make(rows * s.r), xl: withDropout ? make(rows * s.inF) : null, keep: withDropout ? make(rows * s.inF) : null } : null;
  }
  return {
    x: make(rows * D), rstd1: make(rows), xn1: make(rows * D),
    q: make(rows * Q), k: make(rows * KV), v: make(rows * KV),
    lse: make(rows * c.numHeads), attn: make(rows * Q),
    h2: make(rows * D), rstd2: make(rows), xn2: make(rows * D),
    g: make(rows * I), u: make(rows * I), a: make(rows * I),
    out: make(rows * D),
    lora,
  };
}

export interface LayerContext {
  config: Qwen2Config;
  ops: Ops;
  rope: RopeTable;
  /** Effective LoRA scale (alpha/r for the policy, 0 for the reference policy). */
  scale: number;
  /** When set and the adapter has dropout > 0, LoRA inputs are dropped out (training only). */
  dropout: { p: number; rng: Rng } | null;
}

export type AttendFn<F extends FloatArray> = (buf: LayerBuffers<F>, rows: number) => void;

function dropInput<F extends FloatArray>(lb: LoraBuffers<F>, x: F, n: number, drop: { p: number; rng: Rng }): F {
  const keep = lb.keep!, xl = lb.xl!;
  const mult = 1 / (1 - drop.p);
  for (let i = 0; i < n; i++) {
    const k = drop.rng.next() < drop.p ? 0 : mult;
    keep[i] = k;
    xl[i] = x[i]! * k;
  }
  return xl;
}

function projForward<F extends FloatArray>(ctx: LayerContext, y: F, x: F, w: F, bias: F | null, rows: number, inF: number, outF: number, op: LoraOperand | null, lb: LoraBuffers<F> | null): void {
  let xl: F = x;
  if (op && lb && ctx.dropout && lb.keep && op.scale !== 0) xl = dropInput(lb, x, rows * inF, ctx.dropout);
  ctx.ops.loraLinearForward(y, x, w, bias, { rows, inF, outF }, op, xl, lb ? lb.us : y);
}

/** Runs the layer on buf.x (rows × D, filled by the caller) into buf.out. */
export function layerForward<F extends FloatArray>(ctx: LayerContext, lw: LayerWeights<F>, slots: LayerLoraSlots | null, loraFlat: F | null, buf: LayerBuffers<F>, rows: number, positions: Int32Array, attend: AttendFn<F>): void {
  const c = ctx.config, ops = ctx.ops;
  const D = c.hiddenSize, Q = c.numHeads * c.headDim, KV = c.numKvHeads * c.headDim, I = c.intermediateSize;
  const op = (m: LoraModule): LoraOperand | null => (slots && loraFlat ? operandOf(slots[m], loraFlat, ctx.scale) : null);
  ops.rmsnormForward(buf.xn1, buf.rstd1, buf.x, lw.inputNorm, rows, D, c.rmsNormEps);
  projForward(ctx, buf.q, buf.xn1, lw.q, lw.qBias, rows, D, Q, op('q_proj'), buf.lora.q_proj);
  projForward(ctx, buf.k, buf.xn1, lw.k, lw.kBias, rows, D, KV, op('k_proj'), buf.lora.k_proj);
  projForward(ctx, buf.v, buf.xn1, lw.v, lw.vBias, rows, D, KV, op('v_proj'), buf.lora.v_proj);
  ops.ropeApply(buf.q, positions, rows, c.numHeads, c.headDim, ctx.rope, 1);
  ops.ropeApply(buf.k, positions, rows, c.numKvHeads, c.headDim, ctx.rope, 1);
  attend(buf, rows);
  projForward(ctx, buf.h2, buf.attn, lw.o, null, rows, Q, D, op('o_proj'), buf.lora.o_proj);
  const nD = rows * D;
  for (let i = 0; i < nD; i++) buf.h2[i]! += buf.x[i]!;
  ops.rmsnormForward(buf.xn2, buf.rstd2, buf.h2, lw.postNorm, rows, D, c.rmsNormEps);
  projForward(ctx, buf.g, buf.xn2, lw.gate, null, rows, D, I, op('gate_proj'), buf.lora.gate_proj);
  projForward(ctx, buf.u, buf.xn2, lw.up, null, rows, D, I, op('up_proj'), buf.lora.up_proj);
  ops.swigluForward(buf.a, buf.g, buf.u, rows * I);
  projForward(ctx, buf.out, buf.a, lw.down, null, rows, I, D, op('down_proj'), buf.lora.down_proj);
  for (let i = 0; i < nD; i++) buf.out[i]! += buf.h2[i]!;
}

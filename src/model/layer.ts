// One Qwen2 decoder layer over a set of packed token rows, shared by the training forward (which
// keeps every buffer for the backward, or only the layer input when recomputing), the backward's
// recomputation, and KV-cache decoding (which reuses one workspace). Only the attention step differs
// between them, so it is passed in as `attend`. Written against the operation interface: the same
// code runs on the cpu and on WebGPU.
//
//   xn1 = rmsnorm(x)             q,k,v = LoRA-linear(xn1) (+bias), RoPE on q,k
//   attn = attend(q,k,v)         h2 = x + LoRA-linear_o(attn)
//   xn2 = rmsnorm(h2)            a = silu(gate(xn2)) · up(xn2)        out = h2 + down(a)
// Inference may keep the residual stream in x instead (buffers allocated with residualInPlace: h2 and
// out are x): o_proj and down_proj add into it, and x holds the layer output.
import type { DropoutSource, Ops, RopeTable } from '../ops/types.js';
import type { Qwen2Config } from './config.js';
import { LORA_MODULES, operandOf, type LayerLoraSlots, type LoraModule } from './lora.js';
import type { LoraOperand } from '../ops/types.js';
import type { LayerWeights } from './weights.js';
import type { Rng } from '../util/rng.js';
import { dropoutStream } from '../ops/dropout-hash.js';

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
  return {
    x,
    rstd1: make(rows),
    xn1: make(rows * D),
    q: make(rows * Q),
    k: make(rows * KV),
    v: make(rows * KV),
    lse: make(rows * c.numHeads),
    attn: make(rows * Q),
    h2: inPlace ? x : make(rows * D),
    rstd2: make(rows),
    xn2: make(rows * D),
    g: make(rows * I),
    u: make(rows * I),
    a: make(rows * I),
    out: inPlace ? x : make(rows * D),
    lora,
  };
}

/** Dropout of the LoRA inputs (training only). */
export type LayerDropout =
  | { kind: 'sequential'; p: number; rng: Rng }
  /** Counter-based: stream per (layer, module) under a per-forward seed; replayable. */
  | { kind: 'counter'; p: number; seed: number };

export interface LayerContext<T> {
  config: Qwen2Config;
  ops: Ops<T>;
  rope: RopeTable;
  /** Effective LoRA scale (alpha/r for the policy, 0 for the reference policy). */
  scale: number;
  /** When set and the adapter has dropout > 0, LoRA inputs are dropped out (training only). */
  dropout: LayerDropout | null;
  /** The layer being run (names the counter-dropout streams). */
  layer: number;
}

export type AttendFn<T> = (buf: LayerBuffers<T>, rows: number) => void;

function dropoutSource<T>(ctx: LayerContext<T>, m: LoraModule): DropoutSource {
  const d = ctx.dropout!;
  return d.kind === 'sequential'
    ? { kind: 'sequential', rng: d.rng }
    : { kind: 'counter', seed: d.seed, stream: dropoutStream(ctx.layer, LORA_MODULES.indexOf(m)) };
}

function projForward<T>(
  ctx: LayerContext<T>,
  m: LoraModule,
  y: T,
  x: T,
  w: T,
  bias: T | null,
  rows: number,
  inF: number,
  outF: number,
  op: LoraOperand<T> | null,
  lb: LoraBuffers<T> | null,
  accumulate = false,
): void {
  let xl: T = x;
  if (op && lb && ctx.dropout && lb.keep && op.scale !== 0) {
    ctx.ops.dropout(lb.xl!, lb.keep, x, rows * inF, ctx.dropout.p, dropoutSource(ctx, m));
    xl = lb.xl!;
  }
  ctx.ops.loraLinearForward(y, x, w, bias, { rows, inF, outF, accumulate }, op, xl, lb ? lb.us : y);
}

/** Runs the layer on buf.x (rows × D, filled by the caller) into buf.out (x itself: residualInPlace). */
export function layerForward<T>(
  ctx: LayerContext<T>,
  lw: LayerWeights<T>,
  slots: LayerLoraSlots | null,
  loraFlat: T | null,
  buf: LayerBuffers<T>,
  rows: number,
  positions: Int32Array,
  attend: AttendFn<T>,
): void {
  const c = ctx.config,
    ops = ctx.ops;
  const D = c.hiddenSize,
    Q = c.numHeads * c.headDim,
    KV = c.numKvHeads * c.headDim,
    I = c.intermediateSize;
  const op = (m: LoraModule): LoraOperand<T> | null =>
    slots && loraFlat ? operandOf(slots[m], loraFlat, ctx.scale, ops.view) : null;
  ops.rmsnormForward(buf.xn1, buf.rstd1, buf.x, lw.inputNorm, rows, D, c.rmsNormEps);
  projForward(ctx, 'q_proj', buf.q, buf.xn1, lw.q, lw.qBias, rows, D, Q, op('q_proj'), buf.lora.q_proj);
  projForward(ctx, 'k_proj', buf.k, buf.xn1, lw.k, lw.kBias, rows, D, KV, op('k_proj'), buf.lora.k_proj);
  projForward(ctx, 'v_proj', buf.v, buf.xn1, lw.v, lw.vBias, rows, D, KV, op('v_proj'), buf.lora.v_proj);
  ops.ropeApply(buf.q, positions, rows, c.numHeads, c.headDim, ctx.rope, 1);
  ops.ropeApply(buf.k, positions, rows, c.numKvHeads, c.headDim, ctx.rope, 1);
  attend(buf, rows);
  // h2 = x + o_proj(attn), out = h2 + down_proj(a): added into the residual stream when h2 and out are
  // x itself (allocated with residualInPlace).
  const inPlace = buf.h2 === buf.x;
  projForward(ctx, 'o_proj', buf.h2, buf.attn, lw.o, null, rows, Q, D, op('o_proj'), buf.lora.o_proj, inPlace);
  const nD = rows * D;
  if (!inPlace) ops.addInPlace(buf.h2, buf.x, nD);
  ops.rmsnormForward(buf.xn2, buf.rstd2, buf.h2, lw.postNorm, rows, D, c.rmsNormEps);
  projForward(ctx, 'gate_proj', buf.g, buf.xn2, lw.gate, null, rows, D, I, op('gate_proj'), buf.lora.gate_proj);
  projForward(ctx, 'up_proj', buf.u, buf.xn2, lw.up, null, rows, D, I, op('up_proj'), buf.lora.up_proj);
  ops.swigluForward(buf.a, buf.g, buf.u, rows * I);
  projForward(
    ctx,
    'down_proj',
    buf.out,
    buf.a,
    lw.down,
    null,
    rows,
    I,
    D,
    op('down_proj'),
    buf.lora.down_proj,
    inPlace,
  );
  if (!inPlace) ops.addInPlace(buf.out, buf.h2, nD);
}

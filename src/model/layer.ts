// One Qwen2 decoder layer over a set of packed token rows, shared by the training forward (which
// keeps every buffer for the backward, or only the layer input when recomputing), the backward's
// recomputation, and KV-cache decoding (which reuses one workspace). Only the attention step differs
// between them, so it is passed in as `attend`. Written against the operation interface: the same
// code runs on the cpu and on WebGPU.
//
//   xn1 = rmsnorm(x)             q,k,v = LoRA-linear(xn1) (+bias), RoPE on q,k (or in attend)
//   attn = attend(q,k,v)         h2 = x + LoRA-linear_o(attn)
//   xn2 = rmsnorm(h2)            a = silu(gate(xn2)) · up(xn2)        out = h2 + down(a)
// Inference may keep the residual stream in x instead (buffers allocated with residualInPlace: h2 and
// out are x): o_proj and down_proj add into it, and x holds the layer output. It may also run the LoRA
// A products of q,k,v (and of gate,up), which read one input, as one product over their stacked A
// matrices (LayerContext.stacked, buffers allocated with stackedLora), and q,k,v (and gate,up) as one
// projection (buffers allocated with fusedQkv, fusedGateUp: LayerContext.fusedQkv, fusedGateUp), the
// LoRA side path one low-rank term over the stacked A product with each member's B on its own columns
// (LoraOperand.segments). Fused q,k,v feed an attend that applies RoPE itself; fused gate,up feed the
// SwiGLU over their packed rows. A norm and the stacked A product after it are one operation
// (ops.rmsnormMatmulNT: one dispatch on the webgpu engine's decode step).
import type { DropoutSource, Ops, RopeTable } from '../ops/types.js';
import type { Qwen2Config } from './config.js';
import {
  LORA_GROUPS,
  LORA_MODULES,
  moduleDims,
  operandOf,
  type LayerLoraSlots,
  type LoraGroup,
  type LoraModule,
} from './lora.js';
import type { LoraOperand, LoraSegment } from '../ops/types.js';
import type { LayerWeights } from './weights.js';
import type { Rng } from '../util/rng.js';
import { dropoutStream } from '../ops/dropout-hash.js';

import { stackRank, type LayerBuffers, type LoraBuffers, type StackedLora } from './layer-buffers.js';
export {
  allocLayerBuffers,
  type LayerBufferOptions,
  type LayerBuffers,
  type LoraBuffers,
  type StackedLora,
} from './layer-buffers.js';

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
  /** Inference: this layer's stacked LoRA matrices (see StackedLora), or null. */
  stacked?: StackedLora<T> | null;
  /**
   * Inference: `attend` applies RoPE to q and k itself (the webgpu engine's decode step rotates them
   * in the dispatch that writes the KV cache), so layerForward leaves them unrotated.
   */
  ropeInAttend?: boolean;
  /** Inference: this layer's q,k,v weights [Q + 2·KV, D] and biases as one matrix and vector (fusedQkv). */
  fusedQkv?: { w: T; bias: T } | null;
  /** Inference: this layer's gate and up weights as one [2·I, D] matrix (fusedGateUp). */
  fusedGateUp?: T | null;
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
  given: GivenUs<T> | null = null,
): void {
  if (given && op) {
    const shape = { rows, inF, outF, accumulate, usGiven: { ld: given.ld } };
    ctx.ops.loraLinearForward(y, x, w, bias, shape, op, x, given.us);
    return;
  }
  let xl: T = x;
  if (op && lb && ctx.dropout && lb.keep && op.scale !== 0) {
    ctx.ops.dropout(lb.xl!, lb.keep, x, rows * inF, ctx.dropout.p, dropoutSource(ctx, m));
    xl = lb.xl!;
  }
  ctx.ops.loraLinearForward(y, x, w, bias, { rows, inF, outF, accumulate }, op, xl, lb ? lb.us : y);
}

/** A branch's r columns of a stacked A product (row stride ld). */
interface GivenUs<T> {
  us: T;
  ld: number;
}

/** An RMSNorm's operands: xn = rmsnorm(x)·w, rstd saved. */
interface NormCall<T> {
  xn: T;
  rstd: T;
  x: T;
  w: T;
}

/**
 * The norm before a group of `n` branches, and the stacked A product of the group over its output (one
 * product of n·r columns; the two as ops.rmsnormMatmulNT); returns a function giving branch i's columns,
 * or null when the group runs branch by branch (no stack for it, no buffer, dropout on, or stacks made
 * for another scale).
 */
function normedGroup<T>(
  ctx: LayerContext<T>,
  norm: NormCall<T>,
  stack: T | null | undefined,
  out: T | undefined,
  rows: number,
  r: number,
  n: number,
): ((i: number) => GivenUs<T>) | null {
  const st = ctx.stacked,
    D = ctx.config.hiddenSize,
    eps = ctx.config.rmsNormEps;
  const { xn, rstd, x, w } = norm;
  if (!st || !stack || !out || ctx.dropout || st.scale !== ctx.scale || r === 0 || rows === 0) {
    ctx.ops.rmsnormForward(xn, rstd, x, w, rows, D, eps);
    return null;
  }
  const ld = n * r;
  ctx.ops.rmsnormMatmulNT(xn, rstd, out, x, w, stack, rows, D, ld, eps);
  return (i) => ({ us: ctx.ops.view(out, i * r, (rows - 1) * ld + r), ld });
}

/** Each module's LoRA operand in this layer (views of the flat block), or null when not adapted. */
type Operands<T> = (m: LoraModule) => LoraOperand<T> | null;

/** A fused projection's weights, input, output and stacked A product (null us: no adapter). */
interface FusedCall<T> {
  group: LoraGroup;
  out: T;
  x: T;
  w: T;
  bias: T | null;
  us: T | null;
}

/**
 * A group of projections as one, out [rows, Σ members' widths] = x·Wᵀ (+ bias), with the LoRA side
 * path as one low-rank term over the stacked A product: each member's columns read its own B (a view
 * of the flat adapter block) and its r columns of us (LoraOperand.segments).
 */
function fusedForward<T>(ctx: LayerContext<T>, f: FusedCall<T>, op: Operands<T>, rows: number, r: number): void {
  const members = LORA_GROUPS[f.group];
  const branches = members.map(op);
  const adapted = branches.some((o) => o !== null);
  if (adapted && !(f.us && ctx.stacked?.[f.group]))
    throw new Error(
      `layerForward (layer ${ctx.layer}): fused ${members.join(',')} need the layer's stacked A for its adapter`,
    );
  // Each member after the first is a segment starting where the columns before it end.
  const segments: LoraSegment<T>[] = [];
  let outF = 0;
  members.forEach((m, i) => {
    if (adapted && i > 0) segments.push({ start: outF, b: branches[i]!.b });
    outF += moduleDims(ctx.config, m)[0];
  });
  const lora = adapted ? { a: ctx.stacked![f.group]!, b: branches[0]!.b, r, scale: ctx.scale, segments } : null;
  const shape = { rows, inF: ctx.config.hiddenSize, outF, usGiven: { ld: members.length * r } };
  ctx.ops.loraLinearForward(f.out, f.x, f.w, f.bias, shape, lora, f.x, f.us ?? f.out);
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
    KV = c.numKvHeads * c.headDim;
  const op = (m: LoraModule): LoraOperand<T> | null =>
    slots && loraFlat ? operandOf(slots[m], loraFlat, ctx.scale, ops.view) : null;
  const r = stackRank(slots);
  const norm1 = { xn: buf.xn1, rstd: buf.rstd1, x: buf.x, w: lw.inputNorm };
  const qkv = normedGroup(ctx, norm1, ctx.stacked?.qkv, buf.usStack?.qkv, rows, r, 3);
  const [lq, lk, lv] = [buf.lora.q_proj, buf.lora.k_proj, buf.lora.v_proj];
  if (buf.qkv) {
    const f = ctx.fusedQkv;
    if (!f || !ctx.ropeInAttend)
      throw new Error(`layerForward (layer ${ctx.layer}): fused q,k,v need LayerContext.fusedQkv and ropeInAttend`);
    const us = qkv ? buf.usStack!.qkv : null;
    fusedForward(ctx, { group: 'qkv', out: buf.qkv, x: buf.xn1, w: f.w, bias: f.bias, us }, op, rows, r);
  } else {
    projForward(ctx, 'q_proj', buf.q, buf.xn1, lw.q, lw.qBias, rows, D, Q, op('q_proj'), lq, false, qkv?.(0));
    projForward(ctx, 'k_proj', buf.k, buf.xn1, lw.k, lw.kBias, rows, D, KV, op('k_proj'), lk, false, qkv?.(1));
    projForward(ctx, 'v_proj', buf.v, buf.xn1, lw.v, lw.vBias, rows, D, KV, op('v_proj'), lv, false, qkv?.(2));
  }
  if (!ctx.ropeInAttend) {
    ops.ropeApply(buf.q, positions, rows, c.numHeads, c.headDim, ctx.rope, 1);
    ops.ropeApply(buf.k, positions, rows, c.numKvHeads, c.headDim, ctx.rope, 1);
  }
  attend(buf, rows);
  // h2 = x + o_proj(attn), out = h2 + down_proj(a): added into the residual stream when h2 and out are
  // x itself (allocated with residualInPlace).
  const inPlace = buf.h2 === buf.x;
  projForward(ctx, 'o_proj', buf.h2, buf.attn, lw.o, null, rows, Q, D, op('o_proj'), buf.lora.o_proj, inPlace);
  if (!inPlace) ops.addInPlace(buf.h2, buf.x, rows * D);
  mlpForward(ctx, lw, buf, op, r, rows, inPlace);
}

/**
 * The MLP half of the layer on h2: xn2 = rmsnorm(h2), a = silu(gate(xn2))·up(xn2), out (+)= down(a)
 * (gate,up as one projection with fused buffers; the SwiGLU folded into down_proj's loads with
 * swigluInDown).
 */
function mlpForward<T>(
  ctx: LayerContext<T>,
  lw: LayerWeights<T>,
  buf: LayerBuffers<T>,
  op: Operands<T>,
  r: number,
  rows: number,
  inPlace: boolean,
): void {
  const c = ctx.config,
    ops = ctx.ops;
  const D = c.hiddenSize,
    I = c.intermediateSize;
  const norm2 = { xn: buf.xn2, rstd: buf.rstd2, x: buf.h2, w: lw.postNorm };
  const gu = normedGroup(ctx, norm2, ctx.stacked?.gateUp, buf.usStack?.gateUp, rows, r, 2);
  const [lg, lu, ld] = [buf.lora.gate_proj, buf.lora.up_proj, buf.lora.down_proj];
  if (buf.gu) {
    const w = ctx.fusedGateUp;
    if (!w) throw new Error(`layerForward (layer ${ctx.layer}): fused gate,up need LayerContext.fusedGateUp`);
    const us = gu ? buf.usStack!.gateUp : null;
    fusedForward(ctx, { group: 'gateUp', out: buf.gu, x: buf.xn2, w, bias: null, us }, op, rows, r);
    if (!buf.swigluInDown) ops.swigluPackedForward(buf.a, buf.gu, rows, I);
  } else {
    projForward(ctx, 'gate_proj', buf.g, buf.xn2, lw.gate, null, rows, D, I, op('gate_proj'), lg, false, gu?.(0));
    projForward(ctx, 'up_proj', buf.u, buf.xn2, lw.up, null, rows, D, I, op('up_proj'), lu, false, gu?.(1));
    ops.swigluForward(buf.a, buf.g, buf.u, rows * I);
  }
  if (buf.swigluInDown) {
    // The packed gate | up rows straight into down_proj's products (no `a`, one dispatch fewer).
    if (!buf.gu || ctx.dropout)
      throw new Error(`layerForward (layer ${ctx.layer}): swigluInDown needs fused gate,up and no dropout`);
    const shape = { rows, inF: I, outF: D, accumulate: inPlace, gatedX: true };
    ops.loraLinearForward(buf.out, buf.gu, lw.down, null, shape, op('down_proj'), buf.gu, ld ? ld.us : buf.out);
  } else projForward(ctx, 'down_proj', buf.out, buf.a, lw.down, null, rows, I, D, op('down_proj'), ld, inPlace);
  if (!inPlace) ops.addInPlace(buf.out, buf.h2, rows * D);
}

// Backward of one decoder layer (see layer.ts for the forward). dh holds ∂L/∂(layer output) on
// entry and ∂L/∂(layer input) on return; LoRA and (optionally) base-weight gradients accumulate.
// S holds the layer's forward intermediates (saved, or recomputed from the layer input).
import type { LinearGrads, LoraOperand } from '../ops/types.js';
import type { LayerBuffers, LayerContext } from './layer.js';
import { operandOf, type LayerLoraSlots, type LoraModule } from './lora.js';
import type { LayerWeights } from './weights.js';

export interface LayerBackwardArgs<T> {
  ctx: LayerContext<T>;
  lw: LayerWeights<T>;
  S: LayerBuffers<T>;
  slots: LayerLoraSlots | null;
  /** The flat LoRA block (null: no adapter) and its gradient (null: not wanted). */
  params: T | null;
  loraGrad: T | null;
  /** Largest LoRA rank (scratch size). */
  maxR: number;
  baseGrad: LayerWeights<T> | null;
  rows: number;
  rowStart: Int32Array;
  positions: Int32Array;
}

export function layerBackward<T>(args: LayerBackwardArgs<T>, dh: T): void {
  const { ctx, lw, S, slots, params, loraGrad, rows } = args;
  const c = ctx.config,
    ops = ctx.ops;
  const like = dh;
  const make = (n: number): T => ops.alloc(n, like);
  const D = c.hiddenSize,
    Q = c.numHeads * c.headDim,
    KV = c.numKvHeads * c.headDim,
    I = c.intermediateSize;
  const dz = make(rows * args.maxR);
  const dxScratch = ctx.dropout ? make(rows * Math.max(D, Q, I)) : dz;
  const bg = args.baseGrad;

  const op = (m: LoraModule): LoraOperand<T> | null =>
    slots && params ? operandOf(slots[m], params, ctx.scale, ops.view) : null;
  const gop = (m: LoraModule): LoraOperand<T> | null =>
    slots && loraGrad ? operandOf(slots[m], loraGrad, ctx.scale, ops.view) : null;
  const proj = (
    m: LoraModule,
    dx: T,
    dy: T,
    x: T,
    wt: T,
    dW: T | null,
    dBias: T | null,
    inF: number,
    outF: number,
  ): void => {
    const g = gop(m);
    const grads: LinearGrads<T> = { dx, dW, dBias, dA: g ? g.a : null, dB: g ? g.b : null };
    const lb = S.lora[m];
    const xl = lb?.keep && ctx.dropout ? lb.xl! : x;
    ops.loraLinearBackward(
      grads,
      dy,
      x,
      wt,
      { rows, inF, outF },
      op(m),
      xl,
      lb ? lb.us : x,
      lb && ctx.dropout ? lb.keep : null,
      dz,
      dxScratch,
    );
  };

  // MLP: out = h2 + down(silu(gate(xn2)) · up(xn2))
  const da = make(rows * I);
  proj('down_proj', da, dh, S.a, lw.down, bg ? bg.down : null, null, I, D);
  const dg = make(rows * I),
    du = make(rows * I);
  ops.swigluBackward(dg, du, da, S.g, S.u, rows * I);
  const dxn = make(rows * D);
  proj('gate_proj', dxn, dg, S.xn2, lw.gate, bg ? bg.gate : null, null, D, I);
  proj('up_proj', dxn, du, S.xn2, lw.up, bg ? bg.up : null, null, D, I);
  ops.rmsnormBackward(dh, bg ? bg.postNorm : null, dxn, S.h2, lw.postNorm, S.rstd2, rows, D);
  // dh is now ∂L/∂h2. Attention: h2 = x + o(attn)
  const dattn = make(rows * Q);
  proj('o_proj', dattn, dh, S.attn, lw.o, bg ? bg.o : null, null, Q, D);
  const dq = make(rows * Q),
    dk = make(rows * KV),
    dv = make(rows * KV);
  const heads = { nHeads: c.numHeads, nKvHeads: c.numKvHeads, headDim: c.headDim };
  ops.attentionBackward(dq, dk, dv, dattn, S.q, S.k, S.v, S.attn, S.lse, args.rowStart, heads);
  ops.ropeApply(dq, args.positions, rows, c.numHeads, c.headDim, ctx.rope, -1);
  ops.ropeApply(dk, args.positions, rows, c.numKvHeads, c.headDim, ctx.rope, -1);
  const dxn1 = make(rows * D);
  proj('q_proj', dxn1, dq, S.xn1, lw.q, bg ? bg.q : null, bg ? bg.qBias : null, D, Q);
  proj('k_proj', dxn1, dk, S.xn1, lw.k, bg ? bg.k : null, bg ? bg.kBias : null, D, KV);
  proj('v_proj', dxn1, dv, S.xn1, lw.v, bg ? bg.v : null, bg ? bg.vBias : null, D, KV);
  ops.rmsnormBackward(dh, bg ? bg.inputNorm : null, dxn1, S.x, lw.inputNorm, S.rstd1, rows, D);
}

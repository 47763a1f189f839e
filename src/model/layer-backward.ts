// Backward of one decoder layer (see layer.ts for the forward). dh holds ∂L/∂(layer output) on
// entry and ∂L/∂(layer input) on return; LoRA and (optionally) base-weight gradients accumulate.
import type { FloatArray } from '../ops/matmul.js';
import type { LinearGrads, LoraOperand } from '../ops/cpu/lora-linear.js';
import type { LayerBuffers } from './layer.js';
import { operandOf, type LoraModule } from './lora.js';
import type { SavedForward } from './train.js';
import { floatMaker } from './train.js';
import type { LayerWeights } from './weights.js';

export function layerBackward<F extends FloatArray>(saved: SavedForward<F>, l: number, dh: F, loraGrad: F | null, baseGrad: LayerWeights<F> | null): void {
  const { model, ctx, rows, rowStart } = saved;
  const c = model.config, ops = ctx.ops;
  const lw = model.weights.layers[l]!;
  const S: LayerBuffers<F> = saved.layers[l]!;
  const make = floatMaker(dh);
  const D = c.hiddenSize, Q = c.numHeads * c.headDim, KV = c.numKvHeads * c.headDim, I = c.intermediateSize;
  const slots = saved.slots ? saved.slots[l]! : null;
  const params = saved.adapter ? saved.adapter.params : null;
  const maxR = saved.adapter ? saved.adapter.settings.r : 1;
  const dz = make(rows * maxR);
  const dxScratch = ctx.dropout ? make(rows * Math.max(D, Q, I)) : dz;

  const op = (m: LoraModule): LoraOperand | null => (slots && params ? operandOf(slots[m], params, ctx.scale) : null);
  const gop = (m: LoraModule): LoraOperand | null => (slots && loraGrad ? operandOf(slots[m], loraGrad, ctx.scale) : null);
  const proj = (m: LoraModule, dx: F, dy: F, x: F, wt: F, dW: F | null, dBias: F | null, inF: number, outF: number): void => {
    const g = gop(m);
    const grads: LinearGrads = { dx, dW, dBias, dA: g ? g.a : null, dB: g ? g.b : null };
    const lb = S.lora[m];
    const xl = lb && lb.keep && ctx.dropout ? lb.xl! : x;
    ops.loraLinearBackward(grads, dy, x, wt, { rows, inF, outF }, op(m), xl, lb ? lb.us : x, lb && ctx.dropout ? lb.keep : null, dz, dxScratch);
  };
  const bg = baseGrad;

  // MLP: out = h2 + down(silu(gate(xn2)) · up(xn2))
  const da = make(rows * I);
  proj('down_proj', da, dh, S.a, lw.down, bg ? bg.down : null, null, I, D);
  const dg = make(rows * I), du = make(rows * I);
  ops.swigluBackward(dg, du, da, S.g, S.u, rows * I);
  const dxn = make(rows * D);
  proj('gate_proj', dxn, dg, S.xn2, lw.gate, bg ? bg.gate : null, null, D, I);
  proj('up_proj', dxn, du, S.xn2, lw.up, bg ? bg.up : null, null, D, I);
  ops.rmsnormBackward(dh, bg ? bg.postNorm : null, dxn, S.h2, lw.postNorm, S.rstd2, rows, D);
  // dh is now ∂L/∂h2. Attention: h2 = x + o(attn)
  const dattn = make(rows * Q);
  proj('o_proj', dattn, dh, S.attn, lw.o, bg ? bg.o : null, null, Q, D);
  const dq = make(rows * Q), dk = make(rows * KV), dv = make(rows * KV);
  const B = rowStart.length - 1;
  for (let b = 0; b < B; b++) {
    const r0 = rowStart[b]!, r1 = rowStart[b + 1]!;
    ops.attentionBackward(dq.subarray(r0 * Q, r1 * Q), dk.subarray(r0 * KV, r1 * KV), dv.subarray(r0 * KV, r1 * KV),
      dattn.subarray(r0 * Q, r1 * Q), S.q.subarray(r0 * Q, r1 * Q), S.k.subarray(r0 * KV, r1 * KV), S.v.subarray(r0 * KV, r1 * KV),
      S.attn.subarray(r0 * Q, r1 * Q), S.lse.subarray(r0 * c.numHeads, r1 * c.numHeads),
      { rows: r1 - r0, firstPos: 0, nHeads: c.numHeads, nKvHeads: c.numKvHeads, headDim: c.headDim });
  }
  ops.ropeApply(dq, saved.positions, rows, c.numHeads, c.headDim, ctx.rope, -1);
  ops.ropeApply(dk, saved.positions, rows, c.numKvHeads, c.headDim, ctx.rope, -1);
  dxn.fill(0);
  proj('q_proj', dxn, dq, S.xn1, lw.q, bg ? bg.q : null, bg ? bg.qBias : null, D, Q);
  proj('k_proj', dxn, dk, S.xn1, lw.k, bg ? bg.k : null, bg ? bg.kBias : null, D, KV);
  proj('v_proj', dxn, dv, S.xn1, lw.v, bg ? bg.v : null, bg ? bg.vBias : null, D, KV);
  ops.rmsnormBackward(dh, bg ? bg.inputNorm : null, dxn, S.x, lw.inputNorm, S.rstd1, rows, D);
}

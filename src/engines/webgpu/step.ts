// The model passes of the webgpu engine, on the webgpu ops and the engine kernels:
//   prefill: packed prompts (positions from 0) through every layer; attention is the training flash
//            attention over the packed prompt rows, and each layer's keys and values (after RoPE)
//            are written into the pages of every sequence that starts from that prompt;
//   decode:  one new token per sequence (read from the GPU token buffer by slot); each layer rotates
//            q and k and writes k and v into the sequence's page in one dispatch (rope-kv-write.ts),
//            and runs paged decode attention.
// Both end in the final norm and the LM head over the rows that are sampled from (each prompt's last
// row; every decode row), giving logits [rows, vocab]. LoRA is the unmerged side path of
// ops.loraLinearForward (x·Aᵀ·Bᵀ·scale) over the adapter version the call pinned.
import type { Ops, RopeTable } from '../../ops/types.js';
import { allocTensor, type GpuContext } from '../../ops/webgpu/context.js';
import type { GpuTensor } from '../../ops/webgpu/tensor.js';
import { pagedKvWrite, type PagedKvCache } from '../../ops/webgpu/paged-kv.js';
import { decodeAttention } from '../../ops/webgpu/decode-attention.js';
import { ropeKvWrite } from '../../ops/webgpu/rope-kv-write.js';
import type { FusedWeights } from './fused-projections.js';
import { gatherTokenRows } from '../../ops/webgpu/token-rows.js';
import {
  allocLayerBuffers,
  layerForward,
  type LayerBuffers,
  type LayerContext,
  type StackedLora,
} from '../../model/layer.js';
import type { LayerLoraSlots, LoraAdapter } from '../../model/lora.js';
import type { Model } from '../../model/weights.js';

export interface StepState {
  ctx: GpuContext;
  ops: Ops<GpuTensor>;
  model: Model<GpuTensor>;
  kv: PagedKvCache;
  /** Page table on the GPU (i32 [slots, maxPagesPerSeq]). */
  table: GpuTensor;
  maxPagesPerSeq: number;
  rope: RopeTable;
  /** Each layer's q,k,v and gate,up weights as one matrix each (fused-projections.ts), or null: apart. */
  fused: FusedWeights;
  /** down_proj reads fused gate,up's packed rows through the folded SwiGLU (LayerBufferOptions.swigluInDown). */
  foldSwiglu: boolean;
}

/** The adapter version a call runs on (null: the base model). */
export interface StepAdapter {
  adapter: LoraAdapter<GpuTensor> | null;
  slots: LayerLoraSlots[] | null;
  scale: number;
  /** Per layer, the version's stacked LoRA matrices (stacked-lora.ts), or null: one A product per branch. */
  stacked: StackedLora<GpuTensor>[] | null;
  /** Whether the version's stacks allow each fused projection (fused-projections.ts stacksCover). */
  covers: { qkv: boolean; gateUp: boolean };
}

/**
 * Runs every layer over `rows` rows on the residual stream x (updated in place: each layer adds its
 * attention and MLP outputs into it: buffers allocated with residualInPlace); returns x.
 */
function layers(
  st: StepState,
  ad: StepAdapter,
  x: GpuTensor,
  rows: number,
  positions: Int32Array,
  attend: (buf: LayerBuffers<GpuTensor>, layer: number) => void,
  ropeInAttend = false,
): GpuTensor {
  // q,k,v as one projection: decode only (its attend rotates them); q,k,v and gate,up only where every
  // adapted layer has the group's stacked A.
  const fusedQkv = ropeInAttend && ad.covers.qkv ? st.fused.qkv : null;
  const fusedGateUp = ad.covers.gateUp ? st.fused.gateUp : null;
  const c = st.model.config,
    ops = st.ops;
  // Not zeroed: every layer buffer is written in full before it is read (saves a fill per buffer).
  const make = (n: number): GpuTensor => allocTensor(st.ctx, n, 'f32');
  const bufOpts = {
    x,
    residualInPlace: true,
    stackedLora: ad.stacked !== null,
    fusedQkv: fusedQkv !== null,
    fusedGateUp: fusedGateUp !== null,
    swigluInDown: fusedGateUp !== null && st.foldSwiglu,
  };
  const buf = allocLayerBuffers(c, rows, ad.slots ? ad.slots[0]! : null, make, bufOpts);
  const ctx: LayerContext<GpuTensor> = {
    config: c,
    ops,
    rope: st.rope,
    scale: ad.scale,
    dropout: null,
    layer: 0,
    ropeInAttend,
  };
  for (let l = 0; l < c.numLayers; l++) {
    ctx.layer = l;
    ctx.stacked = ad.stacked ? ad.stacked[l]! : null;
    ctx.fusedQkv = fusedQkv ? fusedQkv[l]! : null;
    ctx.fusedGateUp = fusedGateUp ? fusedGateUp[l]! : null;
    layerForward(
      ctx,
      st.model.weights.layers[l]!,
      ad.slots ? ad.slots[l]! : null,
      ad.adapter ? ad.adapter.params : null,
      buf,
      rows,
      positions,
      (b) => attend(b, l),
    );
  }
  return buf.x;
}

/** Final norm and LM head over rows `pick` of h: logits [pick.length, vocab]. */
function head(st: StepState, h: GpuTensor, pick: Int32Array | null, n: number): GpuTensor {
  const c = st.model.config,
    ops = st.ops,
    w = st.model.weights,
    D = c.hiddenSize;
  const make = (k: number): GpuTensor => allocTensor(st.ctx, k, 'f32');
  let hin = h;
  if (pick) {
    hin = make(n * D);
    ops.gatherRows(hin, h, pick, D);
  }
  const hs = make(n * D),
    rstd = make(n);
  ops.rmsnormForward(hs, rstd, hin, w.finalNorm, n, D, c.rmsNormEps);
  const logits = make(n * c.vocabSize);
  ops.matmulNT(logits, hs, w.lmHead, n, D, c.vocabSize, false);
  return logits;
}

export interface PrefillInput {
  /** Distinct prompts, packed in this order. */
  prompts: Int32Array[];
  /** KV writes: i32 [2·count] (source row of the packed prompts, destination pool row), uploaded. */
  writeMap: GpuTensor;
  writes: number;
}

/** Prefill: logits [prompts.length, vocab] of each prompt's last token. */
export function prefillLogits(st: StepState, ad: StepAdapter, input: PrefillInput): GpuTensor {
  const c = st.model.config,
    ops = st.ops,
    D = c.hiddenSize;
  const P = input.prompts.length;
  const rowStart = new Int32Array(P + 1);
  input.prompts.forEach((p, i) => {
    rowStart[i + 1] = rowStart[i]! + p.length;
  });
  const rows = rowStart[P]!;
  const ids = new Int32Array(rows),
    positions = new Int32Array(rows),
    last = new Int32Array(P);
  input.prompts.forEach((p, i) => {
    ids.set(p, rowStart[i]!);
    for (let j = 0; j < p.length; j++) positions[rowStart[i]! + j] = j;
    last[i] = rowStart[i + 1]! - 1;
  });
  const x = allocTensor(st.ctx, rows * D, 'f32');
  ops.gatherRows(x, st.model.weights.embed, ids, D);
  const heads = { nHeads: c.numHeads, nKvHeads: c.numKvHeads, headDim: c.headDim };
  const h = layers(st, ad, x, rows, positions, (b, l) => {
    ops.attentionForward(b.attn, b.lse, b.q, b.k, b.v, rowStart, heads);
    pagedKvWrite(st.ctx, st.kv, l, b.k, b.v, input.writeMap, input.writes);
  });
  return head(st, h, last, P);
}

export interface DecodeInput {
  n: number;
  /** i32 [n]: the slot of each row (its token is tokens[slot]). */
  rowSlots: GpuTensor;
  /** Token per slot, written by the sampler. */
  tokens: GpuTensor;
  /** Position of each row's token (host: RoPE). */
  positions: Int32Array;
  /** i32 [2n]: (page-table row, keys after this step) per row. */
  seqs: GpuTensor;
  /** i32 [n]: each row's destination pool row (where its key and value are cached). */
  dest: GpuTensor;
  /** Longest sequence after this step (keys). */
  maxLen: number;
}

/** One decode step: logits [n, vocab]. */
export function decodeLogits(st: StepState, ad: StepAdapter, input: DecodeInput): GpuTensor {
  const c = st.model.config,
    D = c.hiddenSize,
    n = input.n;
  const x = allocTensor(st.ctx, n * D, 'f32');
  gatherTokenRows(st.ctx, x, st.model.weights.embed, input.tokens, input.rowSlots, n, D);
  const shape = { nHeads: c.numHeads, nKvHeads: c.numKvHeads, headDim: c.headDim, maxPagesPerSeq: st.maxPagesPerSeq };
  const attend = (b: LayerBuffers<GpuTensor>, l: number): void => {
    const src = b.qkv ? { qkv: b.qkv } : { q: b.q, k: b.k, v: b.v };
    ropeKvWrite(st.ctx, st.kv, l, src, input.dest, input.positions, n, shape, st.rope);
    // Fused: q is the first Q columns of each q | k | v row.
    const opts = { maxLen: input.maxLen, ldq: b.qkv ? (c.numHeads + 2 * c.numKvHeads) * c.headDim : undefined };
    decodeAttention(st.ctx, b.attn, b.qkv ?? b.q, st.kv, l, st.table, input.seqs, n, shape, opts);
  };
  const h = layers(st, ad, x, n, input.positions, attend, true);
  return head(st, h, null, n);
}

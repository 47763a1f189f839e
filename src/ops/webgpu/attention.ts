// Causal grouped-query attention over packed sequences on WebGPU, flash-attention style: fused and
// tiled in both directions, so no [T × T] tensor ever exists (memory O(T)). Semantics are exactly
// the cpu ops' (src/ops/cpu/tensor-ops.ts): sequence s owns rows [rowStart[s], rowStart[s+1]) of
// q, o [rows, nHeads·hd] and k, v [rows, nKvHeads·hd]; positions restart at 0 in each sequence;
// lse [rows, nHeads] is saved by the forward; the backward ACCUMULATES into dq, dk, dv.
//
// Forward: one workgroup per (query tile, q head); online softmax over the key tiles up to the
// diagonal. Backward, without float atomics (WGSL has none):
//   1. stats pre-pass: (lse, D = rowsum(dO ⊙ O)) per (row, head);
//   2. dQ pass: one workgroup per (query tile, q head), recomputing P from q, k and lse;
//   3. dK/dV pass: one workgroup per (key tile, kv head, split), looping over the query tiles of the
//      same sequence and the split's q heads of the GQA group. With splits > 1 (more parallelism
//      when there are few key tiles) each split writes a partial sum and a small kernel adds them.
// The tile schedule (which query/key tiles exist, in which sequence, how much work each has) is
// built on the host from rowStart, heaviest tiles first, and uploaded once per rowStart array; it, the
// tile geometry and the operand checks are in attention-plan.ts.
// Kernels: attention-wgsl-forward.ts (forward, stats pre-pass), attention-wgsl-backward.ts (dQ, dK/dV,
// split reduction), on the shared generator helpers of attention-wgsl.ts.
import { allocTensor, beginScope, dispatch, endScope, type GpuContext, type ParamWord } from './context.js';
import { indexTensor } from './indices.js';
import type { GpuTensor } from './tensor.js';
import type { HeadShape } from '../types.js';
import { geometry, variantKey, type AttentionTile, type AttentionVariant } from './attention-wgsl.js';
import {
  aligned4,
  chooseVariant,
  grid1d,
  keyTiles,
  layoutOf,
  queryTiles,
  spec,
  tileGrid,
  words,
  type AttentionOptions,
  type Layout,
} from './attention-plan.js';
import { FORWARD_PARAMS, STATS_PARAMS, forwardKernel, statsKernel } from './attention-wgsl-forward.js';
import {
  DKV_PARAMS,
  DQ_PARAMS,
  REDUCE_PARAMS,
  dkvKernel,
  dqKernel,
  splitReduceKernel,
} from './attention-wgsl-backward.js';

export type { AttentionTile, AttentionVariant };
export { MAX_HEAD_DIM, defaultTile, keyTiles, queryTiles, type AttentionOptions } from './attention-plan.js';

// --- forward -------------------------------------------------------------------------------------------

export function attentionForward(
  ctx: GpuContext,
  o: GpuTensor,
  lse: GpuTensor,
  q: GpuTensor,
  k: GpuTensor,
  v: GpuTensor,
  rowStart: Int32Array,
  shape: HeadShape,
  opts: AttentionOptions = {},
): void {
  const L = layoutOf('attentionForward', rowStart, shape, {
    q: [q, 'q'],
    k: [k, 'kv'],
    v: [v, 'kv'],
    o: [o, 'q'],
    lse: [lse, 'lse'],
  });
  if (L.rowEnd === L.rowBase) return;
  const variant = chooseVariant(ctx, shape.headDim, aligned4([q, k, v, o]), opts);
  const g = geometry(variant);
  const list = queryTiles(rowStart, g.M, g.N);
  const nTiles = list.length / 4;
  const tiles = indexTensor(ctx, list);
  const { gy, groups } = tileGrid(ctx, shape.nHeads, nTiles);
  const params: Record<string, ParamWord> = {
    qOff: q.offset,
    kOff: k.offset,
    vOff: v.offset,
    oOff: o.offset,
    lseOff: lse.offset,
    nHeads: shape.nHeads,
    qs: L.Q,
    ks: L.KV,
    group: L.group,
    gy,
    nTiles,
    scale: { f32: L.scale },
  };
  dispatch(
    ctx,
    spec(`fwd-${variantKey(variant)}`, () => forwardKernel(variant)),
    [tiles, q, k, v, o, lse],
    words(FORWARD_PARAMS, params),
    groups,
  );
}

// --- backward ------------------------------------------------------------------------------------------

/** Default dK/dV splits: the fewest that give ≥ 512 workgroups (a large GPU's worth), up to the whole group. */
function defaultSplits(group: number, keyTileCount: number, nKvHeads: number): number {
  for (let s = 1; s <= group; s++) if (group % s === 0 && keyTileCount * nKvHeads * s >= 512) return s;
  return group;
}

interface BackwardCall {
  ctx: GpuContext;
  variant: AttentionVariant;
  L: Layout;
  shape: HeadShape;
  dq: GpuTensor;
  dk: GpuTensor;
  dv: GpuTensor;
  dO: GpuTensor;
  q: GpuTensor;
  k: GpuTensor;
  v: GpuTensor;
  o: GpuTensor;
  lse: GpuTensor;
}

export function attentionBackward(
  ctx: GpuContext,
  dq: GpuTensor,
  dk: GpuTensor,
  dv: GpuTensor,
  dO: GpuTensor,
  q: GpuTensor,
  k: GpuTensor,
  v: GpuTensor,
  o: GpuTensor,
  lse: GpuTensor,
  rowStart: Int32Array,
  shape: HeadShape,
  opts: AttentionOptions = {},
): void {
  const L = layoutOf('attentionBackward', rowStart, shape, {
    dq: [dq, 'q'],
    dk: [dk, 'kv'],
    dv: [dv, 'kv'],
    dO: [dO, 'q'],
    q: [q, 'q'],
    k: [k, 'kv'],
    v: [v, 'kv'],
    o: [o, 'q'],
    lse: [lse, 'lse'],
  });
  if (L.rowEnd === L.rowBase) return;
  const variant = chooseVariant(ctx, shape.headDim, aligned4([dq, dk, dv, dO, q, k, v, o]), opts);
  const g = geometry(variant);
  const qList = queryTiles(rowStart, g.M, g.N),
    kList = keyTiles(rowStart, g.M, g.N);
  const qTiles = indexTensor(ctx, qList),
    kTiles = indexTensor(ctx, kList);
  const splits = opts.dkvSplits ?? defaultSplits(L.group, kList.length / 4, shape.nKvHeads);
  if (!(Number.isInteger(splits) && splits >= 1 && L.group % splits === 0))
    throw new Error(
      `attentionBackward: dkvSplits ${splits} must divide the GQA group (${L.group} q heads per kv head)`,
    );
  const call: BackwardCall = { ctx, variant, L, shape, dq, dk, dv, dO, q, k, v, o, lse };
  beginScope(ctx); // the stats and partial sums go back to the pool once the kernels are enqueued
  try {
    const stats = backwardStats(call);
    backwardDq(call, qTiles, qList.length / 4, stats);
    backwardDkv(call, kTiles, kList.length / 4, stats, splits);
  } finally {
    endScope(ctx);
  }
}

/** stats[row, head] = (lse, D = Σ_d dO ⊙ O), one thread per pair. */
function backwardStats(b: BackwardCall): GpuTensor {
  const {
      ctx,
      L,
      variant: { headDim: hd, vec4 },
    } = b,
    nHeads = b.shape.nHeads;
  const stats = allocTensor(ctx, L.rowEnd * nHeads * 2);
  const pairs = (L.rowEnd - L.rowBase) * nHeads,
    grid = grid1d(ctx, pairs, 64);
  const p = {
    doOff: b.dO.offset,
    oOff: b.o.offset,
    lseOff: b.lse.offset,
    rowBase: L.rowBase,
    pairs,
    nHeads,
    qs: L.Q,
    gx: grid.gx,
  };
  dispatch(
    ctx,
    spec(`stats-${hd}-${vec4}`, () => statsKernel(hd, vec4)),
    [b.dO, b.o, b.lse, stats],
    words(STATS_PARAMS, p),
    [grid.gx, grid.gy],
  );
  return stats;
}

/** dq += dS·K, one workgroup per (query tile, q head). */
function backwardDq(b: BackwardCall, tiles: GpuTensor, nTiles: number, stats: GpuTensor): void {
  const { ctx, L, variant } = b,
    grid = tileGrid(ctx, b.shape.nHeads, nTiles);
  const p = {
    qOff: b.q.offset,
    kOff: b.k.offset,
    vOff: b.v.offset,
    doOff: b.dO.offset,
    dqOff: b.dq.offset,
    nHeads: b.shape.nHeads,
    qs: L.Q,
    ks: L.KV,
    group: L.group,
    gy: grid.gy,
    nTiles,
    scale: { f32: L.scale },
  };
  dispatch(
    ctx,
    spec(`dq-${variantKey(variant)}`, () => dqKernel(variant)),
    [tiles, b.q, b.k, b.v, b.dO, stats, b.dq],
    words(DQ_PARAMS, p),
    grid.groups,
  );
}

/** dk += dSᵀ·Q, dv += Pᵀ·dO, one workgroup per (key tile, kv head, split); splits > 1 go through partial sums. */
function backwardDkv(b: BackwardCall, tiles: GpuTensor, nTiles: number, stats: GpuTensor, splits: number): void {
  const { ctx, L, variant } = b,
    grid = tileGrid(ctx, b.shape.nKvHeads * splits, nTiles);
  const rowsUsed = L.rowEnd - L.rowBase,
    direct = splits === 1;
  const pk = direct ? b.dk : allocTensor(ctx, splits * rowsUsed * L.KV),
    pv = direct ? b.dv : allocTensor(ctx, splits * rowsUsed * L.KV);
  const p = {
    qOff: b.q.offset,
    kOff: b.k.offset,
    vOff: b.v.offset,
    doOff: b.dO.offset,
    dkOff: pk.offset,
    dvOff: pv.offset,
    nHeads: b.shape.nHeads,
    qs: L.Q,
    ks: L.KV,
    group: L.group,
    hpw: L.group / splits,
    splits,
    partStride: direct ? 0 : rowsUsed * L.KV,
    rowBase: direct ? 0 : L.rowBase,
    accumulate: direct ? 1 : 0,
    gy: grid.gy,
    nTiles,
    scale: { f32: L.scale },
  };
  dispatch(
    ctx,
    spec(`dkv-${variantKey(variant)}`, () => dkvKernel(variant)),
    [tiles, b.q, b.k, b.v, b.dO, stats, pk, pv],
    words(DKV_PARAMS, p),
    grid.groups,
  );
  if (direct) return;
  const n = rowsUsed * L.KV,
    rg = grid1d(ctx, n, 256);
  for (const [part, out] of [
    [pk, b.dk],
    [pv, b.dv],
  ] as const) {
    const rp = { outOff: out.offset + L.rowBase * L.KV, n, splits, stride: n, gx: rg.gx };
    dispatch(ctx, spec('reduce', splitReduceKernel), [part, out], words(REDUCE_PARAMS, rp), [rg.gx, rg.gy]);
  }
}

// LM head + log-softmax + gather on the GPU (semantics of lmHeadForward/lmHeadBackward in
// src/ops/cpu/tensor-ops.ts and src/ops/cpu/logsoftmax.ts), never holding more than one chunk of
// rows × vocab logits: rows are processed in chunks sized from a byte budget (256 MiB by default:
// 441 rows of the 151936-token vocabulary), so ~100k scored rows cost 256 MiB, not 60 GB.
//   forward, per chunk:  z = hs·Wᵀ (into the caller's logits when it asks for them); one workgroup
//                        per row: max, then Σe and Σe·z in one more pass → lse, logp, entropy.
//   backward, per chunk: z recomputed; dlogits = dlogp·invTemp·(onehot − softmax) written over z in
//                        place; dhs += dlogits·W; dW += dlogitsᵀ·hs when dW is given.
// W may be f16 and split in row blocks (vocabulary ranges); the products handle both.
import { allocTensor, dispatch, releaseTensor, type GpuContext, type KernelSpec } from './context.js';
import { rowParts, single, viewOf, type GpuTensor } from './tensor.js';
import { indexTensor } from './indices.js';
import { gemm, type MatmulOptions } from './gemm.js';
import { isCpuAdapter } from './cpu-adapter.js';

let chunkBytes = 256 * 1024 * 1024;
/** Row-statistics kernel: a workgroup per row, an invocation per row (CPU adapters), or by adapter. */
export type RowKernel = 'auto' | 'workgroup' | 'invocation';
let rowKernel: RowKernel = 'auto';

/**
 * Sets the logits budget per chunk (bytes) and the row-statistics kernel; returns the previous
 * settings. Tests force tiny chunks and each row kernel.
 */
export function configureLmHead(opts: { chunkBytes?: number; rowKernel?: RowKernel }): {
  chunkBytes: number;
  rowKernel: RowKernel;
} {
  const prev = { chunkBytes, rowKernel };
  if (opts.chunkBytes !== undefined) {
    if (!(opts.chunkBytes > 0)) throw new Error(`lmHead chunkBytes must be > 0, got ${opts.chunkBytes}`);
    chunkBytes = opts.chunkBytes;
  }
  if (opts.rowKernel !== undefined) {
    if (!['auto', 'workgroup', 'invocation'].includes(opts.rowKernel))
      throw new Error(`lmHead rowKernel must be auto, workgroup or invocation, got ${String(opts.rowKernel)}`);
    rowKernel = opts.rowKernel;
  }
  return prev;
}

/** Rows per chunk: the budget's worth of logits rows, at least 1, within one binding and one grid row. */
export function lmHeadChunkRows(ctx: GpuContext, vocab: number): number {
  const rowBytes = Math.max(vocab, 1) * 4;
  if (rowBytes > ctx.maxBinding)
    throw new Error(
      `lmHead: one row of ${vocab} logits exceeds the device's largest storage binding (${ctx.maxBinding} bytes)`,
    );
  return Math.max(1, Math.min(32768, Math.floor(Math.min(chunkBytes, ctx.maxBinding) / rowBytes)));
}

// Per-row outputs (logp, lse, entropy) may be views of one buffer, and a buffer must not be bound
// writable twice: each distinct buffer is bound once (o0..o2, the unused ones to sinks) and every
// output names its binding ("slot"; 3 = not wanted).
/** Parameters, bindings and the output switch shared by both row-statistics kernels. */
function rowStatsHead(extraParams: string): string {
  return /* wgsl */ `
struct Params { vocab: u32, zOff: u32, r0: u32, tOff: u32, lpOff: u32, lseOff: u32, entOff: u32, invTemp: f32, lpSlot: u32, lseSlot: u32, entSlot: u32${extraParams} }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> z: array<f32>;
@group(0) @binding(2) var<storage, read> tg: array<i32>;
@group(0) @binding(3) var<storage, read_write> o0: array<f32>;
@group(0) @binding(4) var<storage, read_write> o1: array<f32>;
@group(0) @binding(5) var<storage, read_write> o2: array<f32>;
fn put(slot: u32, i: u32, v: f32) {
  switch slot {
    case 0u: { o0[i] = v; }
    case 1u: { o1[i] = v; }
    case 2u: { o2[i] = v; }
    default: {}
  }
}`;
}

const ROW_STATS: KernelSpec = {
  key: 'lmhead-rowstats',
  bindings: ['read', 'read', 'write', 'write', 'write'],
  code: /* wgsl */ `${rowStatsHead('')}
var<workgroup> red: array<vec2<f32>, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = wid.x;
  let base = p.zOff + row * p.vocab;
  var mx = -3.4028234e38;
  for (var i = li; i < p.vocab; i += 256u) { mx = max(mx, z[base + i] * p.invTemp); }
  red[li] = vec2<f32>(mx, 0.0);
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (li < s) { red[li].x = max(red[li].x, red[li + s].x); }
    workgroupBarrier();
  }
  mx = red[0].x;
  workgroupBarrier();
  // Σ e^(z−max) and Σ e^(z−max)·z: the entropy is lse − (Σ e·z)/(Σ e).
  var acc = vec2<f32>(0.0);
  for (var i = li; i < p.vocab; i += 256u) {
    let zz = z[base + i] * p.invTemp;
    let e = exp(zz - mx);
    acc += vec2<f32>(e, e * zz);
  }
  red[li] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  if (li == 0u) {
    let r = p.r0 + row;
    let l = mx + log(red[0].x);
    put(p.lseSlot, p.lseOff + r, l);
    put(p.lpSlot, p.lpOff + r, z[base + u32(tg[p.tOff + r])] * p.invTemp - l);
    put(p.entSlot, p.entOff + r, l - red[0].y / red[0].x);
  }
}`,
};

// CPU adapters (SwiftShader): one invocation per row, no workgroup memory and no barriers (which
// SwiftShader implements as coroutine switches: on 1008 rows of the tiny model the 256-wide
// reduction took 0.3-1.6 s a call, this kernel under 1 ms). Same statistics, two passes over the
// row instead of a tree reduction.
const ROW_STATS_CPU: KernelSpec = {
  key: 'lmhead-rowstats-cpu',
  bindings: ROW_STATS.bindings,
  code: /* wgsl */ `${rowStatsHead(', rows: u32')}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= p.rows) { return; }
  let base = p.zOff + row * p.vocab;
  var mx = -3.4028234e38;
  for (var i = 0u; i < p.vocab; i++) { mx = max(mx, z[base + i] * p.invTemp); }
  var acc = vec2<f32>(0.0);
  for (var i = 0u; i < p.vocab; i++) {
    let zz = z[base + i] * p.invTemp;
    let e = exp(zz - mx);
    acc += vec2<f32>(e, e * zz);
  }
  let r = p.r0 + row;
  let l = mx + log(acc.x);
  put(p.lseSlot, p.lseOff + r, l);
  put(p.lpSlot, p.lpOff + r, z[base + u32(tg[p.tOff + r])] * p.invTemp - l);
  put(p.entSlot, p.entOff + r, l - acc.y / acc.x);
}`,
};

const sinks = new WeakMap<GpuContext, GpuTensor[]>();

/** Bindings o0..o2 for the per-row outputs and each output's slot in them. */
function outputSlots(ctx: GpuContext, outs: (GpuTensor | null)[]): { bound: GpuTensor[]; slots: number[] } {
  let sink = sinks.get(ctx);
  if (!sink) sinks.set(ctx, (sink = [0, 1, 2].map(() => allocTensor(ctx, 1, 'f32', false, true))));
  const bound: GpuTensor[] = [];
  const slots = outs.map((t) => {
    if (!t) return 3;
    const i = bound.findIndex((b) => b.buffer === t.buffer);
    if (i >= 0) return i;
    bound.push(t);
    return bound.length - 1;
  });
  for (let i = bound.length; i < 3; i++) bound.push(sink[i]!);
  return { bound, slots };
}

const DLOGITS: KernelSpec = {
  key: 'lmhead-dlogits',
  bindings: ['write', 'read', 'read', 'read'],
  code: /* wgsl */ `
struct Params { vocab: u32, zOff: u32, r0: u32, dOff: u32, lseOff: u32, tOff: u32, invTemp: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> z: array<f32>;
@group(0) @binding(2) var<storage, read> dl: array<f32>;
@group(0) @binding(3) var<storage, read> ls: array<f32>;
@group(0) @binding(4) var<storage, read> tg: array<i32>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let r = p.r0 + wid.x;
  let g = dl[p.dOff + r] * p.invTemp;
  let l = ls[p.lseOff + r];
  let t = u32(tg[p.tOff + r]);
  let base = p.zOff + wid.x * p.vocab;
  for (var i = li; i < p.vocab; i += 256u) {
    var v = -g * exp(z[base + i] * p.invTemp - l);
    if (i == t) { v += g; }
    z[base + i] = v;
  }
}`,
};

function checkArgs(
  name: string,
  hs: GpuTensor,
  w: GpuTensor,
  targets: Int32Array,
  rows: number,
  dim: number,
  vocab: number,
  perRow: [string, GpuTensor | null][],
): void {
  if (
    !(Number.isInteger(rows) && rows >= 0 && Number.isInteger(dim) && dim >= 0 && Number.isInteger(vocab) && vocab >= 0)
  ) {
    throw new Error(`${name}: rows, dim, vocab must be non-negative integers, got ${rows}, ${dim}, ${vocab}`);
  }
  if (hs.length < rows * dim) throw new Error(`${name}: hs has ${hs.length} elements, needs rows*dim = ${rows * dim}`);
  if (w.length < vocab * dim) throw new Error(`${name}: w has ${w.length} elements, needs vocab*dim = ${vocab * dim}`);
  if (targets.length < rows) throw new Error(`${name}: ${targets.length} targets for ${rows} rows`);
  for (const [what, t] of perRow)
    if (t && t.length < rows) throw new Error(`${name}: ${what} has ${t.length} elements, needs rows = ${rows}`);
  for (let r = 0; r < rows; r++) {
    const t = targets[r]!;
    if (t < 0 || t >= vocab) throw new Error(`logSoftmaxGather: target id ${t} outside vocabulary [0, ${vocab})`);
  }
}

/** The rows [r0, r1) of the next chunk and the [r1−r0, vocab] tensor its logits go to. */
function chunkTarget(
  logits: GpuTensor | null,
  scratch: () => GpuTensor,
  r0: number,
  rows: number,
  rc: number,
  vocab: number,
): { r1: number; z: GpuTensor } {
  let r1 = Math.min(rows, r0 + rc);
  if (!logits) return { r1, z: viewOf(scratch(), 0, (r1 - r0) * vocab) };
  const part = rowParts(logits, vocab).find((p) => r0 >= p.rowStart && r0 < p.rowStart + p.rows);
  if (!part) throw new Error(`lmHeadForward: logits tensor has no row ${r0}`);
  r1 = Math.min(r1, part.rowStart + part.rows);
  return { r1, z: viewOf(part.tensor, (r0 - part.rowStart) * vocab, (r1 - r0) * vocab) };
}

/**
 * logp[r] = z[r, targets[r]] − lse[r] with z = (hs·Wᵀ)·invTemp; lse saved; entropy (when given)
 * of softmax(z[r]); logits (when given, [rows, vocab]) receive the raw logits hs·Wᵀ.
 */
export function lmHeadForward(
  ctx: GpuContext,
  logp: GpuTensor,
  lse: GpuTensor,
  entropy: GpuTensor | null,
  hs: GpuTensor,
  w: GpuTensor,
  targets: Int32Array,
  rows: number,
  dim: number,
  vocab: number,
  invTemp: number,
  logits: GpuTensor | null,
  opts: MatmulOptions = {},
): void {
  checkArgs('lmHeadForward', hs, w, targets, rows, dim, vocab, [
    ['logp', logp],
    ['lse', lse],
    ['entropy', entropy],
  ]);
  if (logits && logits.length < rows * vocab)
    throw new Error(`lmHeadForward: logits has ${logits.length} elements, needs rows*vocab = ${rows * vocab}`);
  if (rows === 0) return;
  const h = single(hs, 'lmHeadForward hs');
  const T = indexTensor(ctx, targets);
  const rc = lmHeadChunkRows(ctx, vocab);
  let buf: GpuTensor | null = null;
  const scratch = (): GpuTensor => (buf ??= allocTensor(ctx, Math.min(rc, rows) * vocab, 'f32', false, true));
  const { bound, slots } = outputSlots(ctx, [
    single(logp, 'logp'),
    single(lse, 'lse'),
    entropy ? single(entropy, 'entropy') : null,
  ]);
  const cpu = rowKernel === 'auto' ? isCpuAdapter(ctx) : rowKernel === 'invocation';
  for (let r0 = 0; r0 < rows; ) {
    const { r1, z } = chunkTarget(logits, scratch, r0, rows, rc, vocab);
    gemm(ctx, 'NT', z, viewOf(h, r0 * dim, (r1 - r0) * dim), w, r1 - r0, dim, vocab, { accumulate: false }, opts);
    const params = [
      vocab,
      z.offset,
      r0,
      T.offset,
      logp.offset,
      lse.offset,
      entropy ? entropy.offset : 0,
      { f32: invTemp },
      ...slots,
    ];
    if (cpu) dispatch(ctx, ROW_STATS_CPU, [z, T, ...bound], [...params, r1 - r0], [Math.ceil((r1 - r0) / 64)]);
    else dispatch(ctx, ROW_STATS, [z, T, ...bound], params, [r1 - r0]);
    r0 = r1;
  }
  if (buf) releaseTensor(ctx, buf);
}

/** dhs += ∂L/∂hs from dlogp (logits recomputed chunk by chunk); dW += ∂L/∂W when given. */
export function lmHeadBackward(
  ctx: GpuContext,
  dhs: GpuTensor,
  dW: GpuTensor | null,
  dlogp: GpuTensor,
  hs: GpuTensor,
  w: GpuTensor,
  lse: GpuTensor,
  targets: Int32Array,
  rows: number,
  dim: number,
  vocab: number,
  invTemp: number,
  opts: MatmulOptions = {},
): void {
  checkArgs('lmHeadBackward', hs, w, targets, rows, dim, vocab, [
    ['dlogp', dlogp],
    ['lse', lse],
  ]);
  if (dhs.length < rows * dim)
    throw new Error(`lmHeadBackward: dhs has ${dhs.length} elements, needs rows*dim = ${rows * dim}`);
  if (rows === 0) return;
  const h = single(hs, 'lmHeadBackward hs'),
    dh = single(dhs, 'lmHeadBackward dhs');
  const T = indexTensor(ctx, targets);
  const rc = lmHeadChunkRows(ctx, vocab);
  const buf = allocTensor(ctx, Math.min(rc, rows) * vocab, 'f32', false, true);
  for (let r0 = 0; r0 < rows; r0 += rc) {
    const r1 = Math.min(rows, r0 + rc),
      n = r1 - r0;
    const z = viewOf(buf, 0, n * vocab),
      hc = viewOf(h, r0 * dim, n * dim);
    gemm(ctx, 'NT', z, hc, w, n, dim, vocab, { accumulate: false }, opts);
    dispatch(
      ctx,
      DLOGITS,
      [z, single(dlogp, 'dlogp'), single(lse, 'lse'), T],
      [vocab, z.offset, r0, dlogp.offset, lse.offset, T.offset, { f32: invTemp }],
      [n],
    );
    gemm(ctx, 'NN', viewOf(dh, r0 * dim, n * dim), z, w, n, vocab, dim, { accumulate: true }, opts);
    if (dW) gemm(ctx, 'TN', dW, z, hc, vocab, n, dim, { accumulate: true }, opts);
  }
  releaseTensor(ctx, buf);
}

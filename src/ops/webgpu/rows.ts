// Row moves on the GPU, the semantics of ops/cpu/tensor-ops.ts:
//   gatherRows      dst[i, :] = src[index[i], :]
//   scatterAddRows  dst[index[i], :] += src[i, :]   (indices may repeat)
// src of a gather may be f16-packed (the embedding) and split into row blocks across buffers; dst
// of a scatter may be split (the embedding gradient). Index arrays are host Int32Arrays.
//
// WGSL has no float atomics, so the scatter never lets two invocations add into one row: on the
// host, once per index array (cached), the source rows are grouped by target row (sorted by
// (target, i)), and one workgroup owns each distinct target row, adding its sources in ascending
// i, the order the cpu loop adds them in, so f32 results are bit-identical to the cpu's.
import type { GpuContext } from './context.js';
import { rowParts, type GpuTensor } from './tensor.js';
import { indexTensor } from './indices.js';
import { foldGroups, needF32, prefix, run, WORKGROUP_INDEX, type KernelDef } from './operands.js';

const ranges = new WeakMap<Int32Array, { min: number; max: number }>();

/** min and max of a host index array (cached per array object; arrays are not mutated once passed to ops). */
export function indexRange(index: Int32Array): { min: number; max: number } {
  let r = ranges.get(index);
  if (!r) {
    let min = Infinity,
      max = -Infinity;
    for (let i = 0; i < index.length; i++) {
      const v = index[i]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    ranges.set(index, (r = { min, max }));
  }
  return r;
}

function checkIndex(where: string, index: Int32Array, rows: number): void {
  const { min, max } = indexRange(index);
  if (min < 0 || max >= rows)
    throw new Error(`${where}: index values must be in [0, ${rows}), got ${min < 0 ? min : max}`);
}

function checkWidth(where: string, width: number): void {
  if (!(Number.isInteger(width) && width > 0))
    throw new Error(`${where}: width must be a positive integer, got ${width}`);
}

const GATHER: KernelDef = {
  name: 'gatherRows',
  params: ['count', 'width', 'rowStart', 'partRows'],
  code: `${WORKGROUP_INDEX}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = workgroupIndex(wid, nwg);
  if (i >= p.count) { return; }
  let r = ld_idx(i) - i32(p.rowStart);
  if (r < 0 || r >= i32(p.partRows)) { return; }
  let srcAt = u32(r) * p.width;
  let dstAt = i * p.width;
  for (var j = lid; j < p.width; j += 256u) { st_dst(dstAt + j, ld_src(srcAt + j)); }
}`,
};

export function gatherRows(ctx: GpuContext, dst: GpuTensor, src: GpuTensor, index: Int32Array, width: number): void {
  const where = 'gatherRows';
  checkWidth(where, width);
  const count = index.length;
  if (count === 0) return;
  needF32(dst, where, 'dst');
  if (src.dtype !== 'f32' && src.dtype !== 'f16') throw new Error(`${where}: src must be f32 or f16, got ${src.dtype}`);
  checkIndex(where, index, Math.floor(src.length / width));
  const d = prefix(dst, count * width, where, 'dst');
  const idx = indexTensor(ctx, index);
  for (const part of rowParts(src, width)) {
    if (part.rows === 0) continue;
    run(
      ctx,
      GATHER,
      [
        { name: 'dst', t: d, access: 'write' },
        { name: 'src', t: prefix(part.tensor, part.rows * width, where, 'src'), access: 'read' },
        { name: 'idx', t: idx, access: 'read' },
      ],
      [count, width, part.rowStart, part.rows],
      foldGroups(count),
    );
  }
}

// --- scatter-add -------------------------------------------------------------------------------

/**
 * An index array grouped by target row, packed into one Int32Array for one upload:
 * [targets (K distinct, ascending) | start (K+1) | order (n source rows, by target then i)].
 */
interface Grouping {
  packed: Int32Array;
  distinct: number;
}

const groupings = new WeakMap<Int32Array, Grouping>();

export function groupByTarget(index: Int32Array): Grouping {
  const hit = groupings.get(index);
  if (hit) return hit;
  const n = index.length;
  // key = target·n + i sorts by target, then source row; exact in float64 for any Int32 target and n < 2²¹.
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = index[i]! * n + i;
  keys.sort();
  const order = new Int32Array(n),
    targetOf = new Int32Array(n);
  let distinct = 0;
  for (let j = 0; j < n; j++) {
    const i = keys[j]! % n; // exact on doubles, unlike a rounded division
    order[j] = i;
    const t = (keys[j]! - i) / n;
    targetOf[j] = t;
    if (j === 0 || t !== targetOf[j - 1]) distinct++;
  }
  const packed = new Int32Array(2 * distinct + 1 + n);
  let k = -1;
  for (let j = 0; j < n; j++) {
    if (j === 0 || targetOf[j] !== targetOf[j - 1]) {
      k++;
      packed[k] = targetOf[j]!;
      packed[distinct + k] = j;
    }
  }
  packed[2 * distinct] = n;
  packed.set(order, 2 * distinct + 1);
  const g = { packed, distinct };
  groupings.set(index, g);
  return g;
}

/** First k with targets[k] ≥ row (targets = packed[0, distinct)). */
function lowerBound(g: Grouping, row: number): number {
  let lo = 0,
    hi = g.distinct;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (g.packed[mid]! < row) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const SCATTER_ADD: KernelDef = {
  name: 'scatterAddRows',
  params: ['width', 'k0', 'count', 'rowStart', 'startAt', 'orderAt'],
  code: `${WORKGROUP_INDEX}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let k = workgroupIndex(wid, nwg);
  if (k >= p.count) { return; }
  let u = p.k0 + k;
  let dstAt = (u32(ld_map(u)) - p.rowStart) * p.width;
  let s0 = u32(ld_map(p.startAt + u));
  let s1 = u32(ld_map(p.startAt + u + 1u));
  for (var j = lid; j < p.width; j += 256u) {
    var acc = ld_dst(dstAt + j);
    for (var s = s0; s < s1; s++) { acc += ld_src(u32(ld_map(p.orderAt + s)) * p.width + j); }
    st_dst(dstAt + j, acc);
  }
}`,
};

export function scatterAddRows(
  ctx: GpuContext,
  dst: GpuTensor,
  src: GpuTensor,
  index: Int32Array,
  width: number,
): void {
  const where = 'scatterAddRows';
  checkWidth(where, width);
  const count = index.length;
  if (count === 0) return;
  if (count >= 2 ** 21) throw new Error(`${where}: ${count} source rows; at most 2097151 per call`);
  needF32(dst, where, 'dst');
  needF32(src, where, 'src');
  checkIndex(where, index, Math.floor(dst.length / width));
  const s = prefix(src, count * width, where, 'src');
  const g = groupByTarget(index);
  const map = indexTensor(ctx, g.packed);
  for (const part of rowParts(dst, width)) {
    const k0 = lowerBound(g, part.rowStart),
      k1 = lowerBound(g, part.rowStart + part.rows);
    if (k1 === k0) continue;
    run(
      ctx,
      SCATTER_ADD,
      [
        { name: 'dst', t: prefix(part.tensor, part.rows * width, where, 'dst'), access: 'write' },
        { name: 'src', t: s, access: 'read' },
        { name: 'map', t: map, access: 'read' },
      ],
      [width, k0, k1 - k0, part.rowStart, g.distinct, 2 * g.distinct + 1],
      foldGroups(k1 - k0),
    );
  }
}

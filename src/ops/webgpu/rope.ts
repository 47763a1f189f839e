// Rotary position embedding on the GPU, in place, the semantics of ops/cpu/rope.ts (rotate-half:
// pair i of a head is (x[i], x[i + headDim/2]); direction −1 is the inverse rotation = the
// backward). The cpu table's float64 cos/sin are uploaded once per table as interleaved f32
// pairs (persistentTable); positions are the host Int32Array, uploaded once (indexTensor).
// One invocation per (row, head, pair): it reads both halves and writes both back.
import type { GpuContext } from './context.js';
import type { GpuTensor } from './tensor.js';
import type { RopeTable } from '../types.js';
import { indexTensor, persistentTable } from './indices.js';
import { foldGroups, needF32, prefix, run, WORKGROUP_INDEX, type KernelDef } from './operands.js';
import { indexRange } from './rows.js';

const ROPE: KernelDef = {
  name: 'rope',
  params: ['total', 'half', 'heads', 'dir:f32'],
  code: `${WORKGROUP_INDEX}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = workgroupIndex(wid, nwg) * 256u + lid;
  if (t >= p.total) { return; }
  let i = t % p.half;
  let rh = t / p.half;
  let row = rh / p.heads;
  let o = rh * 2u * p.half;
  let tb = (u32(ld_pos(row)) * p.half + i) * 2u;
  let c = ld_tab(tb);
  let s = p.dir * ld_tab(tb + 1u);
  let x1 = ld_x(o + i);
  let x2 = ld_x(o + p.half + i);
  st_x(o + i, x1 * c - x2 * s);
  st_x(o + p.half + i, x2 * c + x1 * s);
}`,
};

/** The table's cos/sin as f32 pairs [cos, sin] per (position, frequency). */
function interleaved(table: RopeTable): Float32Array {
  const n = table.cos.length;
  const out = new Float32Array(2 * n);
  for (let j = 0; j < n; j++) {
    out[2 * j] = table.cos[j]!;
    out[2 * j + 1] = table.sin[j]!;
  }
  return out;
}

/** The table's cos/sin on the GPU, uploaded once per table for the life of the context. */
export function ropeTableTensor(ctx: GpuContext, table: RopeTable): GpuTensor {
  return persistentTable(ctx, table, () => interleaved(table));
}

/** Refuses bad shapes and positions outside the table (the first `rows` positions are used). */
export function checkRopeArgs(
  where: string,
  positions: Int32Array,
  rows: number,
  nHeads: number,
  headDim: number,
  table: RopeTable,
): void {
  if (!(Number.isInteger(rows) && rows >= 0))
    throw new Error(`${where}: rows must be a non-negative integer, got ${rows}`);
  if (!(Number.isInteger(nHeads) && nHeads > 0))
    throw new Error(`${where}: nHeads must be a positive integer, got ${nHeads}`);
  if (!(Number.isInteger(headDim) && headDim > 0 && headDim % 2 === 0))
    throw new Error(`${where}: headDim must be a positive even integer, got ${headDim}`);
  if (table.headDim !== headDim)
    throw new Error(`${where}: table is for headDim ${table.headDim}, called with ${headDim}`);
  if (rows === 0) return;
  if (positions.length < rows) throw new Error(`${where}: ${positions.length} positions for ${rows} rows`);
  // The whole array's range is cached per array; only when it fails is the used prefix checked.
  let { min, max } = indexRange(positions);
  if ((max >= table.maxPos || min < 0) && positions.length > rows)
    ({ min, max } = indexRange(positions.subarray(0, rows)));
  if (max >= table.maxPos) throw new Error(`rope: position ${max} beyond table (${table.maxPos})`);
  if (min < 0) throw new Error(`rope: negative position ${min}`);
}

export function ropeApply(
  ctx: GpuContext,
  x: GpuTensor,
  positions: Int32Array,
  rows: number,
  nHeads: number,
  headDim: number,
  table: RopeTable,
  direction: 1 | -1,
): void {
  const where = 'ropeApply';
  checkRopeArgs(where, positions, rows, nHeads, headDim, table);
  if (direction !== 1 && direction !== -1) throw new Error(`${where}: direction must be 1 or -1, got ${direction}`);
  if (rows === 0) return;
  needF32(x, where, 'x');
  const half = headDim / 2,
    total = rows * nHeads * half;
  run(
    ctx,
    ROPE,
    [
      { name: 'x', t: prefix(x, rows * nHeads * headDim, where, 'x'), access: 'write' },
      { name: 'pos', t: indexTensor(ctx, positions), access: 'read' },
      { name: 'tab', t: ropeTableTensor(ctx, table), access: 'read' },
    ],
    [total, half, nHeads, { f32: direction }],
    foldGroups(Math.ceil(total / 256)),
  );
}

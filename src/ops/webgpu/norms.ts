// RMSNorm forward and backward on the GPU, the semantics of ops/cpu/rmsnorm.ts:
//   y = x · rstd · w, rstd = 1/sqrt(mean(x²) + eps)         (rstd saved per row)
//   dx += rstd·w⊙dy − x·rstd³·(Σ w⊙dy⊙x)/dim ;  dw += Σ_rows dy⊙x·rstd   (both accumulate)
// One subgroup (or, portably, one workgroup) per row reduces the row (reduce-wgsl.ts). dw is a sum
// over rows without float atomics: partial sums over blocks of DW_ROWS rows, then one pass that
// adds the partials into dw (a single block adds straight into dw). w may be f32 or f16-packed.
import { allocTensor, releaseTensor, type GpuContext } from './context.js';
import type { GpuTensor } from './tensor.js';
import { foldGroups, needF32, prefix, run, type KernelDef } from './operands.js';
import { BLOCK, reduction, reductionHeader, unitKernel, unitsPerGroup, type Reduction } from './reduce-wgsl.js';

/** Rows per partial sum of dw. */
export const DW_ROWS = 64;

function forwardDef(r: Reduction): KernelDef {
  return {
    name: `rmsnorm.fwd.${r}`,
    params: ['units', 'unitsPerGroup', 'dim', 'eps:f32'],
    header: reductionHeader(r),
    code: unitKernel(
      r,
      `let o = u * p.dim;
    var ss = 0.0;
    for (var i = first; i < p.dim; i += stride) { let v = ld_x(o + i); ss += v * v; }
    let inv = 1.0 / sqrt(unitSum(ss) / f32(p.dim) + p.eps);
    if (leader) { st_rstd(u, inv); }
    for (var i = first; i < p.dim; i += stride) { st_y(o + i, ld_x(o + i) * inv * ld_w(i)); }`,
    ),
  };
}

function backwardDef(r: Reduction): KernelDef {
  return {
    name: `rmsnorm.bwd.${r}`,
    params: ['units', 'unitsPerGroup', 'dim'],
    header: reductionHeader(r),
    code: unitKernel(
      r,
      `let o = u * p.dim;
    let inv = ld_rstd(u);
    var dot = 0.0;
    for (var i = first; i < p.dim; i += stride) { dot += ld_w(i) * ld_dy(o + i) * ld_x(o + i); }
    let c = unitSum(dot) * inv * inv * inv / f32(p.dim);
    for (var i = first; i < p.dim; i += stride) {
      st_dx(o + i, ld_dx(o + i) + (inv * ld_w(i) * ld_dy(o + i) - ld_x(o + i) * c));
    }`,
    ),
  };
}

/** Column sums of dy⊙x·rstd over one block of rows: into part[block, :], or added into dw. */
function dwPartialDef(accumulate: boolean): KernelDef {
  return {
    name: `rmsnorm.dw${accumulate ? '.acc' : ''}`,
    params: ['rows', 'dim', 'blockRows'],
    code: `@compute @workgroup_size(${BLOCK})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let col = wid.x * ${BLOCK}u + lid;
  if (col >= p.dim) { return; }
  let r0 = wid.y * p.blockRows;
  let r1 = min(r0 + p.blockRows, p.rows);
  var s = 0.0;
  for (var r = r0; r < r1; r++) { s += ld_dy(r * p.dim + col) * ld_x(r * p.dim + col) * ld_rstd(r); }
  ${accumulate ? 'st_out(col, ld_out(col) + s);' : 'st_out(wid.y * p.dim + col, s);'}
}`,
  };
}

const DW_REDUCE: KernelDef = {
  name: 'rmsnorm.dw.reduce',
  params: ['dim', 'blocks'],
  code: `@compute @workgroup_size(${BLOCK})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let col = wid.x * ${BLOCK}u + lid;
  if (col >= p.dim) { return; }
  var s = 0.0;
  for (var b = 0u; b < p.blocks; b++) { s += ld_part(b * p.dim + col); }
  st_dw(col, ld_dw(col) + s);
}`,
};

const defs = new Map<string, KernelDef>();
function cached(key: string, make: () => KernelDef): KernelDef {
  let d = defs.get(key);
  if (!d) defs.set(key, (d = make()));
  return d;
}

function checkWeight(w: GpuTensor, where: string): void {
  if (w.dtype !== 'f32' && w.dtype !== 'f16') throw new Error(`${where}: w must be f32 or f16, got ${w.dtype}`);
}

function checkShape(where: string, rows: number, dim: number): void {
  if (!(Number.isInteger(rows) && rows >= 0))
    throw new Error(`${where}: rows must be a non-negative integer, got ${rows}`);
  if (!(Number.isInteger(dim) && dim > 0)) throw new Error(`${where}: dim must be a positive integer, got ${dim}`);
}

export function rmsnormForward(
  ctx: GpuContext,
  y: GpuTensor,
  rstd: GpuTensor,
  x: GpuTensor,
  w: GpuTensor,
  rows: number,
  dim: number,
  eps: number,
): void {
  const where = 'rmsnormForward';
  checkShape(where, rows, dim);
  if (rows === 0) return;
  const n = rows * dim;
  needF32(y, where, 'y');
  needF32(rstd, where, 'rstd');
  needF32(x, where, 'x');
  checkWeight(w, where);
  const r = reduction(ctx),
    per = unitsPerGroup(ctx, r);
  run(
    ctx,
    cached(`f${r}`, () => forwardDef(r)),
    [
      { name: 'y', t: prefix(y, n, where, 'y'), access: 'write' },
      { name: 'rstd', t: prefix(rstd, rows, where, 'rstd'), access: 'write' },
      { name: 'x', t: prefix(x, n, where, 'x'), access: 'read' },
      { name: 'w', t: prefix(w, dim, where, 'w'), access: 'read' },
    ],
    [rows, per, dim, { f32: eps }],
    foldGroups(Math.ceil(rows / per)),
  );
}

export function rmsnormBackward(
  ctx: GpuContext,
  dx: GpuTensor,
  dw: GpuTensor | null,
  dy: GpuTensor,
  x: GpuTensor,
  w: GpuTensor,
  rstd: GpuTensor,
  rows: number,
  dim: number,
): void {
  const where = 'rmsnormBackward';
  checkShape(where, rows, dim);
  if (rows === 0) return;
  const n = rows * dim;
  needF32(dx, where, 'dx');
  needF32(dy, where, 'dy');
  needF32(x, where, 'x');
  needF32(rstd, where, 'rstd');
  checkWeight(w, where);
  const dyV = prefix(dy, n, where, 'dy'),
    xV = prefix(x, n, where, 'x'),
    rV = prefix(rstd, rows, where, 'rstd');
  const r = reduction(ctx),
    per = unitsPerGroup(ctx, r);
  if (dw) accumulateDw(ctx, prefix(dw, dim, where, 'dw'), dyV, xV, rV, rows, dim);
  run(
    ctx,
    cached(`b${r}`, () => backwardDef(r)),
    [
      { name: 'dx', t: prefix(dx, n, where, 'dx'), access: 'write' },
      { name: 'dy', t: dyV, access: 'read' },
      { name: 'x', t: xV, access: 'read' },
      { name: 'w', t: prefix(w, dim, where, 'w'), access: 'read' },
      { name: 'rstd', t: rV, access: 'read' },
    ],
    [rows, per, dim],
    foldGroups(Math.ceil(rows / per)),
  );
}

function accumulateDw(
  ctx: GpuContext,
  dw: GpuTensor,
  dy: GpuTensor,
  x: GpuTensor,
  rstd: GpuTensor,
  rows: number,
  dim: number,
): void {
  needF32(dw, 'rmsnormBackward', 'dw');
  const blocks = Math.ceil(rows / DW_ROWS);
  const colGroups = Math.ceil(dim / BLOCK);
  if (blocks > 65535) throw new Error(`rmsnormBackward: ${rows} rows exceed the dw partial-sum grid`);
  const inputs = [
    { name: 'dy', t: dy, access: 'read' as const },
    { name: 'x', t: x, access: 'read' as const },
    { name: 'rstd', t: rstd, access: 'read' as const },
  ];
  if (blocks === 1) {
    run(
      ctx,
      cached('dwacc', () => dwPartialDef(true)),
      [{ name: 'out', t: dw, access: 'write' }, ...inputs],
      [rows, dim, DW_ROWS],
      [colGroups, 1],
    );
    return;
  }
  const part = allocTensor(ctx, blocks * dim, 'f32', false, true);
  run(
    ctx,
    cached('dw', () => dwPartialDef(false)),
    [{ name: 'out', t: part, access: 'write' }, ...inputs],
    [rows, dim, DW_ROWS],
    [colGroups, blocks],
  );
  run(
    ctx,
    DW_REDUCE,
    [
      { name: 'dw', t: dw, access: 'write' },
      { name: 'part', t: part, access: 'read' },
    ],
    [dim, blocks],
    [colGroups, 1],
  );
  releaseTensor(ctx, part);
}

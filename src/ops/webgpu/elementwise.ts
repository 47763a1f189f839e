// Elementwise kernels of the operation interface (copy, y += x, SwiGLU), with the semantics of the
// cpu ops (ops/cpu/tensor-ops.ts, swiglu.ts), and the entry point for the other row-wise kernels:
// RMSNorm (norms.ts), RoPE (rope.ts), row gathers/scatters (rows.ts), dropout (dropout.ts).
// Each elementwise kernel has a scalar and a vec4 variant (operands.ts `elementwise`): vec4 runs
// when every view is 16-byte aligned, the scalar variant takes the tail and unaligned views.
import type { GpuContext } from './context.js';
import { viewOf, type GpuTensor } from './tensor.js';
import {
  copyInto,
  elementwise,
  foldGroups,
  needF32,
  prefix,
  run,
  vec4Aligned,
  WORKGROUP_INDEX,
  type KernelDef,
} from './operands.js';

export { rmsnormBackward, rmsnormForward } from './norms.js';
export { ropeApply } from './rope.js';
export { gatherRows, scatterAddRows } from './rows.js';
export { dropout } from './dropout.js';

/** A scalar and a vec4 kernel from one body: accessors move V = f32 or vec4<f32>, `i` indexes either. */
function pair(name: string, body: string, extra: string[] = []): [KernelDef, KernelDef] {
  const code = `${WORKGROUP_INDEX}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = workgroupIndex(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }
  ${body}
}`;
  return [
    { name, params: ['n', ...extra], code },
    { name: `${name}4`, params: ['n', ...extra], code, vec4: true },
  ];
}

const ADD = pair('add', 'st_y(i, ld_y(i) + ld_x(i));');

// silu(g), g of type V: exp(−g) is clamped below f32 overflow (WGSL leaves overflow to infinity
// undefined); silu(g) for g < −87 is then ~1e-36 instead of the cpu's ~g·e^g, an absolute difference
// below 1e-35. The GEMM's gated loads compute the same (matmul-kernels.ts SILU).
const SILU_G = 'g / (1.0 + exp(min(-g, V(87.0))))';

const SWIGLU_FWD = pair(
  'swiglu.fwd',
  `let g = ld_g(i);
  st_a(i, ${SILU_G} * ld_u(i));`,
);

const SWIGLU_BWD = pair(
  'swiglu.bwd',
  `let g = ld_g(i);
  let s = 1.0 / (1.0 + exp(min(-g, V(87.0))));
  let d = ld_da(i);
  st_du(i, d * (g * s));
  st_dg(i, d * ld_u(i) * s * (1.0 + g * (1.0 - s)));`,
);

// Packed rows gu [rows, 2·width] (gate | up): element i of a reads gate and up of its row at row stride
// ld = 2·width (in vec4s in the vec4 variant, where width and ld are counted in vec4s too).
const SWIGLU_PACKED_BODY = `let r = i / p.width;
  let j = r * p.ld + (i - r * p.width);
  let g = ld_g(j);
  st_a(i, ${SILU_G} * ld_u(j));`;
const SWIGLU_PACKED = pair('swiglu.packed', SWIGLU_PACKED_BODY, ['width', 'ld']);

/** dst[0, n) = src[0, n). src may be f16 (read as f32); overlapping views copy as if through a temporary. */
export function copyTensor(ctx: GpuContext, dst: GpuTensor, src: GpuTensor, n: number): void {
  const where = 'copy';
  needF32(dst, where, 'dst');
  if (src.dtype !== 'f32' && src.dtype !== 'f16') throw new Error(`${where}: src must be f32 or f16, got ${src.dtype}`);
  copyInto(ctx, prefix(dst, n, where, 'dst'), prefix(src, n, where, 'src'), n);
}

/** y += x over n elements. */
export function addInPlace(ctx: GpuContext, y: GpuTensor, x: GpuTensor, n: number): void {
  const where = 'addInPlace';
  needF32(y, where, 'y');
  needF32(x, where, 'x');
  elementwise(
    ctx,
    ADD[0],
    ADD[1],
    n,
    [
      { name: 'y', t: prefix(y, n, where, 'y'), access: 'write' },
      { name: 'x', t: prefix(x, n, where, 'x'), access: 'read' },
    ],
    [],
  );
}

/** a = silu(g) · u */
export function swigluForward(ctx: GpuContext, a: GpuTensor, g: GpuTensor, u: GpuTensor, n: number): void {
  const where = 'swigluForward';
  needF32(a, where, 'a');
  needF32(g, where, 'g');
  needF32(u, where, 'u');
  elementwise(
    ctx,
    SWIGLU_FWD[0],
    SWIGLU_FWD[1],
    n,
    [
      { name: 'a', t: prefix(a, n, where, 'a'), access: 'write' },
      { name: 'g', t: prefix(g, n, where, 'g'), access: 'read' },
      { name: 'u', t: prefix(u, n, where, 'u'), access: 'read' },
    ],
    [],
  );
}

/** a [rows, width] = silu(gate) · up over packed rows gu [rows, 2·width] (gate | up per row); one dispatch. */
export function swigluPackedForward(ctx: GpuContext, a: GpuTensor, gu: GpuTensor, rows: number, width: number): void {
  const where = 'swigluPackedForward';
  needF32(a, where, 'a');
  needF32(gu, where, 'gu');
  if (!(Number.isInteger(rows) && Number.isInteger(width) && rows >= 0 && width >= 0))
    throw new Error(`${where}: rows and width must be non-negative integers, got ${rows} and ${width}`);
  const n = rows * width;
  if (n === 0) return;
  const out = prefix(a, n, where, 'a'),
    packed = prefix(gu, 2 * n, where, 'gu');
  const g = viewOf(packed, 0, 2 * n - width),
    u = viewOf(packed, width, 2 * n - width);
  const operands = [
    { name: 'a', t: out, access: 'write' as const },
    { name: 'g', t: g, access: 'read' as const },
    { name: 'u', t: u, access: 'read' as const },
  ];
  const v4 = width % 4 === 0 && vec4Aligned([out, g, u]) ? 4 : 1;
  run(
    ctx,
    SWIGLU_PACKED[v4 === 4 ? 1 : 0],
    operands,
    [n / v4, width / v4, (2 * width) / v4],
    foldGroups(Math.ceil(n / v4 / 256)),
  );
}

/** Overwrites dg and du from da (as the cpu op). */
export function swigluBackward(
  ctx: GpuContext,
  dg: GpuTensor,
  du: GpuTensor,
  da: GpuTensor,
  g: GpuTensor,
  u: GpuTensor,
  n: number,
): void {
  const where = 'swigluBackward';
  for (const [t, what] of [
    [dg, 'dg'],
    [du, 'du'],
    [da, 'da'],
    [g, 'g'],
    [u, 'u'],
  ] as const)
    needF32(t, where, what);
  elementwise(
    ctx,
    SWIGLU_BWD[0],
    SWIGLU_BWD[1],
    n,
    [
      { name: 'dg', t: prefix(dg, n, where, 'dg'), access: 'write' },
      { name: 'du', t: prefix(du, n, where, 'du'), access: 'write' },
      { name: 'da', t: prefix(da, n, where, 'da'), access: 'read' },
      { name: 'g', t: prefix(g, n, where, 'g'), access: 'read' },
      { name: 'u', t: prefix(u, n, where, 'u'), access: 'read' },
    ],
    [],
  );
}

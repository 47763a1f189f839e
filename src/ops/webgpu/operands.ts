// Binding layer of the elementwise, row, norm and optimizer kernels: a kernel names its operands
// (x, w, dy, ...) and reads and writes them through generated accessors (`ld_x(i)`, `st_y(i, v)`)
// with i relative to the view's first element. The layer decides the bindings:
//  - every distinct buffer is bound once (Dawn rejects two writable bindings of one buffer, and the
//    context rejects reading a buffer another binding writes), so views into one flat block (the
//    LoRA parameters, the AdamW moments) work in any combination;
//  - every binding is `array<u32>` (or `array<vec4<u32>>` in vec4 mode) and the accessors bitcast,
//    so f32, i32 and f16-packed views of one buffer can be mixed; f16 is read with unpack2x16float;
//  - an operand that is read while an overlapping range of the same buffer is written is first
//    copied to a scratch tensor, so an op sees its inputs as they were before it ran (what the cpu
//    op does for identical or disjoint ranges; typed-array `set` also copies overlapping sources).
// View offsets travel as parameters (`p.o_<name>`) after the kernel's own parameters.
import { allocTensor, dispatch, releaseTensor, type GpuContext, type KernelSpec, type ParamWord } from './context.js';
import type { GpuTensor } from './tensor.js';

/** Variant switches (tests force each path; real GPUs use every one that applies). */
export const kernelVariants = {
  /** vec4 loads/stores for elementwise kernels when every view is 16-byte aligned. */
  vec4: true,
  /** subgroupAdd in row reductions when the device has the subgroups feature. */
  subgroups: true,
};

export interface Operand {
  name: string;
  t: GpuTensor;
  /** 'write' operands may also be read (in-place ops). */
  access: 'read' | 'write';
}

export interface KernelDef {
  /** Pipeline cache key prefix. */
  name: string;
  /** Kernel parameters (u32 unless given as `name:f32` or `name:i32`). */
  params: string[];
  /** The WGSL after the generated header: helper functions and `fn main`. */
  code: string;
  /** vec4 mode: bindings are array<vec4<u32>>, accessors move vec4<f32>, offsets are in vec4s. */
  vec4?: boolean;
  /** Directives that must open the module (`enable subgroups;` ...). */
  header?: string;
}

const specs = new Map<string, KernelSpec>();

/** Byte range a view occupies (f16 views cover whole u32 words). */
function byteRange(t: GpuTensor): [number, number] {
  if (t.dtype === 'f16') return [Math.floor(t.offset / 2) * 4, Math.ceil((t.offset + t.length) / 2) * 4];
  return [t.offset * 4, (t.offset + t.length) * 4];
}

function overlaps(a: GpuTensor, b: GpuTensor): boolean {
  if (a.buffer !== b.buffer || a.length === 0 || b.length === 0) return false;
  const [a0, a1] = byteRange(a),
    [b0, b1] = byteRange(b);
  return a0 < b1 && b0 < a1;
}

function accessors(op: Operand, binding: number, vec4: boolean): string {
  const b = `b${binding}`,
    o = `p.o_${op.name}`,
    n = op.name;
  if (vec4) {
    if (op.t.dtype !== 'f32') throw new Error(`${n}: vec4 kernels take f32 views only`);
    return (
      `fn ld_${n}(i: u32) -> vec4<f32> { return bitcast<vec4<f32>>(${b}[i + ${o}]); }\n` +
      (op.access === 'write' ? `fn st_${n}(i: u32, v: vec4<f32>) { ${b}[i + ${o}] = bitcast<vec4<u32>>(v); }\n` : '')
    );
  }
  if (op.t.dtype === 'f16') {
    if (op.access === 'write') throw new Error(`${n}: kernels do not write f16 tensors`);
    return `fn ld_${n}(i: u32) -> f32 { let j = i + ${o}; let h = unpack2x16float(${b}[j >> 1u]); return select(h.x, h.y, (j & 1u) == 1u); }\n`;
  }
  const ty = op.t.dtype === 'i32' ? 'i32' : 'f32';
  return (
    `fn ld_${n}(i: u32) -> ${ty} { return bitcast<${ty}>(${b}[i + ${o}]); }\n` +
    (op.access === 'write' ? `fn st_${n}(i: u32, v: ${ty}) { ${b}[i + ${o}] = bitcast<u32>(v); }\n` : '')
  );
}

function buildSpec(
  def: KernelDef,
  ops: Operand[],
  slots: number[],
  kinds: ('read' | 'write')[],
  key: string,
): KernelSpec {
  const vec4 = def.vec4 === true;
  const elem = vec4 ? 'vec4<u32>' : 'u32';
  const fields = [
    ...def.params.map((p) => {
      const [n, ty] = p.split(':');
      return `${n}: ${ty ?? 'u32'}`;
    }),
    ...ops.map((o) => `o_${o.name}: u32`),
  ];
  const code = [
    def.header ?? '',
    `alias V = ${vec4 ? 'vec4<f32>' : 'f32'};`,
    `struct Params { ${fields.join(', ')} }`,
    '@group(0) @binding(0) var<uniform> p: Params;',
    ...kinds.map(
      (k, i) =>
        `@group(0) @binding(${i + 1}) var<storage, ${k === 'write' ? 'read_write' : 'read'}> b${i + 1}: array<${elem}>;`,
    ),
    ...ops.map((o, i) => accessors(o, slots[i]! + 1, vec4)),
    def.code,
  ].join('\n');
  return { key, code, bindings: kinds };
}

/**
 * The operands with every read operand that overlaps a written one replaced by a scratch copy
 * (the caller releases `scratch` after enqueuing the kernels that read them).
 */
function unaliased(ctx: GpuContext, name: string, operands: Operand[]): { ops: Operand[]; scratch: GpuTensor[] } {
  const scratch: GpuTensor[] = [];
  const ops = operands.map((op) => {
    for (const w of operands) {
      if (w === op || w.access !== 'write' || !overlaps(w.t, op.t)) continue;
      if (op.access === 'write') throw new Error(`${name}: outputs ${op.name} and ${w.name} overlap`);
      const copy = allocTensor(ctx, op.t.length, op.t.dtype === 'i32' ? 'i32' : 'f32', false, true);
      copyInto(ctx, copy, op.t);
      scratch.push(copy);
      return { ...op, t: copy };
    }
    return op;
  });
  return { ops, scratch };
}

/**
 * Enqueues one dispatch of `def` over `operands` with the kernel's parameters in `def.params` order.
 * Operands that alias a written range are read from scratch copies (see the file comment).
 */
export function run(
  ctx: GpuContext,
  def: KernelDef,
  operands: Operand[],
  params: ParamWord[],
  groups: [number, number?, number?],
): void {
  if (params.length !== def.params.length)
    throw new Error(`${def.name}: ${params.length} parameters for ${def.params.length}`);
  const { ops, scratch } = unaliased(ctx, def.name, operands);
  const buffers: GPUBuffer[] = [],
    kinds: ('read' | 'write')[] = [],
    bound: GpuTensor[] = [];
  const slots = ops.map((op) => {
    let s = buffers.indexOf(op.t.buffer);
    if (s < 0) {
      s = buffers.length;
      buffers.push(op.t.buffer);
      kinds.push('read');
      bound.push(op.t);
    }
    if (op.access === 'write') kinds[s] = 'write';
    return s;
  });
  const key = `${def.name}|${ops.map((o, i) => `${o.t.dtype}@${slots[i]}`).join(',')}|${kinds.map((k) => k[0]).join('')}`;
  let spec = specs.get(key);
  if (!spec) specs.set(key, (spec = buildSpec(def, ops, slots, kinds, key)));
  const offsets = ops.map((o) => (def.vec4 ? o.t.offset / 4 : o.t.offset));
  dispatch(ctx, spec, bound, [...params, ...offsets], groups);
  for (const t of scratch) releaseTensor(ctx, t);
}

/** dispatch shape for `count` workgroups, folded into y past 32768 (kernels use workgroupIndex()). */
export function foldGroups(count: number): [number, number] {
  const gx = Math.min(count, 32768);
  return [gx, gx ? Math.ceil(count / gx) : 0];
}

/** WGSL: the linear workgroup index of a folded grid (see foldGroups). */
export const WORKGROUP_INDEX =
  'fn workgroupIndex(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }';

// --- the copy every op needs (also resolves aliasing above) -------------------------------------

const COPY_SCALAR: KernelDef = {
  name: 'copy',
  params: ['n'],
  code: `${WORKGROUP_INDEX}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = workgroupIndex(wid, nwg) * 256u + lid;
  if (i < p.n) { st_dst(i, ld_src(i)); }
}`,
};

const COPY_VEC4: KernelDef = { ...COPY_SCALAR, name: 'copy4', vec4: true };

/**
 * The first n elements of t as a single-buffer view, with a clear error when t is shorter or split.
 * Ops trim their operands to what they touch, so aliasing checks see the real ranges.
 */
export function prefix(t: GpuTensor, n: number, where: string, what: string): GpuTensor {
  if (t.split)
    throw new Error(
      `${where}: ${what} is split across buffers (larger than one storage binding); this op takes single-buffer tensors`,
    );
  if (!(Number.isInteger(n) && n >= 0)) throw new Error(`${where}: size must be a non-negative integer, got ${n}`);
  if (t.length < n) throw new Error(`${where}: ${what} has ${t.length} elements, the op needs ${n}`);
  return t.length === n ? t : { buffer: t.buffer, offset: t.offset, length: n, dtype: t.dtype };
}

/** Throws unless t is f32 (outputs and activations; weights may also be f16). */
export function needF32(t: GpuTensor, where: string, what: string): void {
  if (t.dtype !== 'f32') throw new Error(`${where}: ${what} must be f32, got ${t.dtype}`);
}

/** True when every view starts on a 16-byte boundary and is f32 (vec4 kernels apply). */
export function vec4Aligned(ts: GpuTensor[]): boolean {
  return kernelVariants.vec4 && ts.every((t) => t.dtype === 'f32' && t.offset % 4 === 0);
}

/** dst[0, n) = src[0, n) as f32 (src f32 or f16). Distinct buffers or not. */
export function copyInto(ctx: GpuContext, dst: GpuTensor, src: GpuTensor, n = src.length): void {
  if (n === 0) return;
  if (dst.buffer === src.buffer && overlaps({ ...dst, length: n }, { ...src, length: n })) {
    // Through a scratch tensor, so the source is read whole before any of it is overwritten.
    const tmp = allocTensor(ctx, n, src.dtype === 'i32' ? 'i32' : 'f32', false, true);
    copyInto(ctx, tmp, src, n);
    copyInto(ctx, dst, tmp, n);
    releaseTensor(ctx, tmp);
    return;
  }
  elementwise(
    ctx,
    COPY_SCALAR,
    COPY_VEC4,
    n,
    [
      { name: 'dst', t: dst, access: 'write' },
      { name: 'src', t: src, access: 'read' },
    ],
    [],
  );
}

/**
 * Runs an elementwise kernel over n elements: the vec4 variant over the largest multiple of 4 when
 * every view is 16-byte aligned f32, the scalar one over the rest. Kernels take `n` as their first
 * parameter and `base` (the element index of their first element) as their last when they need it:
 * `withBase` appends it.
 */
export function elementwise(
  ctx: GpuContext,
  scalar: KernelDef,
  vec4: KernelDef,
  n: number,
  operands: Operand[],
  params: ParamWord[],
  withBase = false,
): void {
  if (n === 0) return;
  // Aliasing is resolved over the whole range first: the tail must not read what the vec4 part wrote.
  const { ops, scratch } = unaliased(ctx, scalar.name, operands);
  runSplit(ctx, scalar, vec4, n, ops, params, withBase);
  for (const t of scratch) releaseTensor(ctx, t);
}

function runSplit(
  ctx: GpuContext,
  scalar: KernelDef,
  vec4: KernelDef,
  n: number,
  operands: Operand[],
  params: ParamWord[],
  withBase: boolean,
): void {
  const main = vec4Aligned(operands.map((o) => o.t)) ? n - (n % 4) : 0;
  if (main > 0) {
    run(ctx, vec4, operands, [main / 4, ...params, ...(withBase ? [0] : [])], foldGroups(Math.ceil(main / 4 / 256)));
  }
  if (main < n) {
    const rest = n - main;
    const views = operands.map((o) => ({
      ...o,
      t: main ? { buffer: o.t.buffer, offset: o.t.offset + main, length: rest, dtype: o.t.dtype } : o.t,
    }));
    run(ctx, scalar, views, [rest, ...params, ...(withBase ? [main] : [])], foldGroups(Math.ceil(rest / 256)));
  }
}

// Dropout on the GPU with the counter-based source: the WGSL twin of ops/dropout-hash.ts, in u32
// arithmetic (wrapping multiply and add, logical shifts), so element i of stream s under seed k is
// dropped on the GPU exactly when it is dropped on the cpu. The `sequential` source is the cpu
// learner's generator stream and exists only there.
import { allocTensor, readI32, releaseTensor, type GpuContext } from './context.js';
import type { GpuTensor } from './tensor.js';
import type { DropoutSource } from '../types.js';
import { dropoutThreshold } from '../dropout-hash.js';
import { elementwise, foldGroups, needF32, prefix, run, WORKGROUP_INDEX, type KernelDef } from './operands.js';

/** fmix32 (murmur3's finaliser) and the dropout hash, for T = u32 or vec4<u32>. */
function hashWgsl(T: string): string {
  return `
fn fmix32(x: ${T}) -> ${T} {
  var h = x;
  h ^= h >> ${T}(16u);
  h *= ${T}(0x85ebca6bu);
  h ^= h >> ${T}(13u);
  h *= ${T}(0xc2b2ae35u);
  h ^= h >> ${T}(16u);
  return h;
}
fn dropoutHash(seed: u32, stream: u32, i: ${T}) -> ${T} { return fmix32(fmix32(i ^ ${T}(seed)) + ${T}(stream * 0x9e3779b9u)); }`;
}

const MAIN = `@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = workgroupIndex(wid, nwg) * 256u + lid;
  if (i >= p.n) { return; }`;

const DROPOUT: KernelDef = {
  name: 'dropout',
  params: ['n', 'seed', 'stream', 'threshold', 'mult:f32', 'base'],
  code: `${WORKGROUP_INDEX}${hashWgsl('u32')}
${MAIN}
  let k = select(p.mult, 0.0, dropoutHash(p.seed, p.stream, p.base + i) < p.threshold);
  st_keep(i, k);
  st_xl(i, ld_x(i) * k);
}`,
};

const DROPOUT4: KernelDef = {
  name: 'dropout4',
  vec4: true,
  params: DROPOUT.params,
  code: `${WORKGROUP_INDEX}${hashWgsl('vec4<u32>')}
${MAIN}
  let e = vec4<u32>(p.base + 4u * i) + vec4<u32>(0u, 1u, 2u, 3u);
  let k = select(vec4<f32>(p.mult), vec4<f32>(0.0), dropoutHash(p.seed, p.stream, e) < vec4<u32>(p.threshold));
  st_keep(i, k);
  st_xl(i, ld_x(i) * k);
}`,
};

/** xl = x ⊙ keep, keep[i] ∈ {0, 1/(1−p)} from the counter hash of (seed, stream, i). */
export function dropout(
  ctx: GpuContext,
  xl: GpuTensor,
  keep: GpuTensor,
  x: GpuTensor,
  n: number,
  p: number,
  source: DropoutSource,
): void {
  const where = 'dropout';
  if (source.kind !== 'counter') {
    throw new Error(
      `webgpu dropout: the '${source.kind}' source is the cpu learner's generator stream and runs only on the cpu; use { kind: 'counter', seed, stream } on the GPU`,
    );
  }
  const threshold = dropoutThreshold(p);
  if (n === 0) return;
  needF32(xl, where, 'xl');
  needF32(keep, where, 'keep');
  needF32(x, where, 'x');
  elementwise(
    ctx,
    DROPOUT,
    DROPOUT4,
    n,
    [
      { name: 'xl', t: prefix(xl, n, where, 'xl'), access: 'write' },
      { name: 'keep', t: prefix(keep, n, where, 'keep'), access: 'write' },
      { name: 'x', t: prefix(x, n, where, 'x'), access: 'read' },
    ],
    [source.seed >>> 0, source.stream >>> 0, threshold >>> 0, { f32: 1 / (1 - p) }],
    true,
  );
}

const HASHES: KernelDef = {
  name: 'dropoutHashes',
  params: ['n', 'seed', 'stream', 'base'],
  code: `${WORKGROUP_INDEX}${hashWgsl('u32')}
${MAIN}
  st_h(i, bitcast<i32>(dropoutHash(p.seed, p.stream, p.base + i)));
}`,
};

/** The raw 32-bit hashes of elements [base, base+n) of (seed, stream), computed on the GPU (tests). */
export async function dropoutHashesGpu(
  ctx: GpuContext,
  seed: number,
  stream: number,
  n: number,
  base = 0,
): Promise<Uint32Array> {
  const h = allocTensor(ctx, n, 'i32', false, true);
  run(
    ctx,
    HASHES,
    [{ name: 'h', t: h, access: 'write' }],
    [n, seed >>> 0, stream >>> 0, base >>> 0],
    foldGroups(Math.ceil(n / 256)),
  );
  const out = new Uint32Array((await readI32(ctx, h)).slice().buffer);
  releaseTensor(ctx, h);
  return out;
}

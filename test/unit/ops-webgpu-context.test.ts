// The GPU context: device acquisition, uploads and reads in every dtype, f16 packing with range
// checks, the fill kernel, buffer pooling and scopes, the bind-group cache, and errors that name the
// failing kernel.
import t from 'tap';
import {
  allocTensor,
  beginScope,
  dispatch,
  endScope,
  fillTensor,
  type KernelSpec,
  memoryStats,
  readF32,
  readI32,
  releaseTensor,
  trimPool,
  uploadTensor,
  writeTensor,
} from '../../src/ops/webgpu/context.js';
import { f16BitsToF32, f32ToF16Bits, packF16, unpackF16, viewOf } from '../../src/ops/webgpu/tensor.js';
import { testGpu } from '../helpers/gpu-helpers.js';

t.test('f16 packing matches IEEE half rounding', async (t) => {
  const cases: [number, number][] = [
    [0, 0],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [1 / 3, 0x3555],
    [6.103515625e-5, 0x0400],
    [6.1e-5, 0x03ff],
    [5.96e-8, 0x0001],
    [1e-9, 0],
  ];
  for (const [x, bits] of cases) t.equal(f32ToF16Bits(x), bits, `f16(${x})`);
  t.equal(f16BitsToF32(0x3555), 0.333251953125);
  const words = packF16([1, -2, 0.5], 'w');
  t.same([...unpackF16(words, 3)], [1, -2, 0.5]);
  t.throws(
    () => packF16([1, 70000], 'model.layers.0.mlp.up_proj.weight'),
    /up_proj\.weight: element 1 = 70000 is outside the f16 range/,
  );
});

t.test('a WebGPU adapter is present (SwiftShader in CI)', async (t) => {
  const ctx = await testGpu();
  t.ok(ctx.info.adapter.length > 0, `adapter: ${ctx.info.adapter}`);
  t.ok(
    ctx.info.limits.maxStorageBufferBindingSize >= 128 * 1024 * 1024,
    `max binding ${ctx.info.limits.maxStorageBufferBindingSize}`,
  );
  t.comment(`features: ${ctx.info.features.join(', ')}`);
});

t.test('upload, fill and read back in f32, f16 and i32, through views', async (t) => {
  const ctx = await testGpu();
  const a = uploadTensor(ctx, Float32Array.of(1.5, -2, 3.25, 4, 5));
  t.same([...(await readF32(ctx, a))], [1.5, -2, 3.25, 4, 5]);
  t.same([...(await readF32(ctx, viewOf(a, 1, 3)))], [-2, 3.25, 4]);
  const h = uploadTensor(ctx, Float32Array.of(0.1, 0.2, 0.3, 1e4, -7), 'f16', 'h');
  const back = await readF32(ctx, viewOf(h, 1, 3));
  t.ok(Math.abs(back[0]! - 0.2) < 1e-3 && back[2] === 1e4, `f16 view read ${[...back]}`);
  const i = uploadTensor(ctx, Int32Array.of(-1, 7, 2 ** 30));
  t.same([...(await readI32(ctx, i))], [-1, 7, 2 ** 30]);
  fillTensor(ctx, viewOf(a, 2, 2), 9);
  t.same([...(await readF32(ctx, a))], [1.5, -2, 9, 9, 5]);
  const z = allocTensor(ctx, 1000, 'f32', true);
  const zr = await readF32(ctx, z);
  t.equal(
    zr.reduce((s, x) => s + Math.abs(x), 0),
    0,
    'alloc(zero) gives zeros',
  );
  t.throws(
    () => uploadTensor(ctx, Float32Array.of(1e6), 'f16', 'lm_head.weight'),
    /lm_head\.weight: element 0 = 1000000 is outside the f16 range/,
  );
});

t.test('scopes release their tensors to the pool, which hands them out again', async (t) => {
  const ctx = await testGpu();
  const before = memoryStats(ctx);
  beginScope(ctx);
  const x = allocTensor(ctx, 4096);
  const keep = allocTensor(ctx, 4096);
  endScope(ctx, [keep]);
  const mid = memoryStats(ctx);
  t.equal(mid.inUseBytes - before.inUseBytes, keep.buffer.size, 'only the kept tensor stays in use');
  const again = allocTensor(ctx, 4000);
  t.equal(again.buffer, x.buffer, 'the released buffer is reused (same size class)');
});

t.test('a scope repeated with the same allocations gets the same buffers, in the same order', async (t) => {
  const ctx = await testGpu();
  const sizes = [4096, 4096, 100, 4096, 100];
  const round = (): GPUBuffer[] => {
    beginScope(ctx);
    const bufs = sizes.map((n) => allocTensor(ctx, n).buffer);
    endScope(ctx);
    return bufs;
  };
  const first = round();
  t.same(round(), first, 'second round');
  t.same(round(), first, 'third round');
});

// z = x + y + p.add, over n elements.
const ADD: KernelSpec = {
  key: 'test.add',
  bindings: ['read', 'read', 'write'],
  code: /* wgsl */ `
struct Params { n: u32, add: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> z: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < p.n) { z[g.x] = x[g.x] + y[g.x] + p.add; } }`,
};

t.test('bind groups are cached per pipeline and buffers; parameters still change per dispatch', async (t) => {
  const ctx = await testGpu();
  const x = uploadTensor(ctx, Float32Array.of(1, 2, 3)),
    y = uploadTensor(ctx, Float32Array.of(10, 20, 30));
  const outs = [0, 1, 2].map(() => allocTensor(ctx, 3));
  const groups0 = ctx.state.bindGroups.size;
  for (let round = 0; round < 3; round++)
    for (const [i, z] of outs.entries()) dispatch(ctx, ADD, [x, y, z], [3, { f32: 100 * round + i }], [1]);
  t.equal(ctx.state.bindGroups.size - groups0, 3, 'one bind group per distinct set of buffers');
  for (const [i, z] of outs.entries())
    t.same([...(await readF32(ctx, z))], [211 + i, 222 + i, 233 + i], `output ${i}: the last round's parameter`);
  dispatch(ctx, ADD, [y, x, outs[0]!], [3, { f32: 0 }], [1]);
  t.equal(ctx.state.bindGroups.size - groups0, 4, 'the same buffers bound in another order are another group');
  t.same([...(await readF32(ctx, outs[0]!))], [11, 22, 33]);
  // A destroyed buffer's groups are never hit again: its replacement is a new buffer with a new id.
  const old = outs[1]!;
  releaseTensor(ctx, old);
  trimPool(ctx);
  t.equal(ctx.state.bindGroups.size, 0, 'trimPool drops the cache with the buffers it destroys');
  const fresh = allocTensor(ctx, 3);
  t.not(fresh.buffer, old.buffer);
  dispatch(ctx, ADD, [x, y, fresh], [3, { f32: 5 }], [1]);
  t.same([...(await readF32(ctx, fresh))], [16, 27, 38]);
  t.throws(
    () =>
      dispatch(
        ctx,
        ADD,
        [x, y, fresh],
        Array.from({ length: 65 }, () => 0),
        [1],
      ),
    /test\.add: 65 parameter words \(at most 64\)/,
  );
  t.throws(() => dispatch(ctx, ADD, [x, fresh, fresh], [3, 0], [1]), /binding 2 reads a buffer another binding writes/);
});

t.test('a host write submits the encoded work first only when that work binds the written buffer', async (t) => {
  const ctx = await testGpu();
  const x = uploadTensor(ctx, Float32Array.of(1, 2, 3)),
    y = uploadTensor(ctx, Float32Array.of(10, 20, 30)),
    z = allocTensor(ctx, 3),
    other = allocTensor(ctx, 3);
  await readF32(ctx, x); // nothing pending
  dispatch(ctx, ADD, [x, y, z], [3, { f32: 0 }], [1]);
  t.ok(ctx.state.encoder, 'the dispatch is encoded, not submitted');
  writeTensor(ctx, other, Float32Array.of(7, 8, 9));
  t.ok(ctx.state.encoder, 'writing a buffer the encoded work does not bind leaves it encoded (no submit)');
  writeTensor(ctx, x, Float32Array.of(100, 200, 300));
  t.equal(ctx.state.encoder, null, 'writing a buffer it reads submits it first');
  t.same([...(await readF32(ctx, z))], [11, 22, 33], 'the dispatch read x as it was when encoded');
  dispatch(ctx, ADD, [x, y, z], [3, { f32: 0 }], [1]);
  writeTensor(ctx, z, Float32Array.of(-1, -1, -1));
  t.same([...(await readF32(ctx, z))], [-1, -1, -1], 'a write after a dispatch that writes the buffer lands after it');
  t.same([...(await readF32(ctx, other))], [7, 8, 9]);
});

t.test('kernel errors surface at the next read, naming the kernel', async (t) => {
  const ctx = await testGpu();
  const a = uploadTensor(ctx, Float32Array.of(1, 2));
  ctx.device.createShaderModule({ code: 'this is not wgsl' });
  await t.rejects(readF32(ctx, a), /webgpu: .*(error|Error)/);
  t.same([...(await readF32(ctx, a))], [1, 2], 'the context keeps working after reporting');
});

// Recorded dispatch runs (context-record.ts): a replay gives what encoding the same work again gives
// for new input data; what a recording allocated is kept out of the pool while it lives (and its
// memory returns when it is dropped); a recording is refused when a buffer other than its inputs was
// written while recording, or when a buffer it binds goes back to the pool; misuse is refused.
import t from 'tap';
import {
  allocTensor,
  beginScope,
  dispatch,
  dropRecording,
  endScope,
  type GpuContext,
  type KernelSpec,
  memoryStats,
  readF32,
  releaseTensor,
  replayRecording,
  startRecording,
  stopRecording,
  uploadTensor,
  writeTensor,
} from '../../src/ops/webgpu/context.js';
import type { GpuTensor } from '../../src/ops/webgpu/tensor.js';
import { testGpu } from '../helpers/gpu-helpers.js';

/** y[i] = a[i] · b[i] + p.add (the parameter word is recorded with the dispatch). */
const MUL_ADD: KernelSpec = {
  key: 'test-record-mul-add',
  bindings: ['read', 'read', 'write'],
  code: /* wgsl */ `
struct Params { n: u32, add: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x < p.n) { y[gid.x] = a[gid.x] * b[gid.x] + p.add; }
}`,
};

const N = 100;
const mulAdd = (ctx: GpuContext, y: GpuTensor, a: GpuTensor, b: GpuTensor, add: number): void =>
  dispatch(ctx, MUL_ADD, [a, b, y], [N, { f32: add }], [Math.ceil(N / 64)]);
const ramp = (k: number): Float32Array => Float32Array.from({ length: N }, (_, i) => i * k);

/**
 * The recorded work, as a decode step has it: x (the input) · w (an outside weight) + 1 into a scoped
 * temporary; a scratch tensor released mid-run and taken again; · w + 2 into `out` (outside).
 */
function step(ctx: GpuContext, w: GpuTensor, out: GpuTensor, xData: Float32Array): GpuTensor {
  const x = uploadTensor(ctx, xData);
  const tmp = allocTensor(ctx, N);
  mulAdd(ctx, tmp, x, w, 1);
  const scratch = allocTensor(ctx, N, 'f32', false, true);
  mulAdd(ctx, scratch, tmp, w, 0);
  releaseTensor(ctx, scratch);
  const again = allocTensor(ctx, N, 'f32', false, true); // the recording's own free list hands scratch back
  mulAdd(ctx, again, tmp, w, 0);
  mulAdd(ctx, out, again, w, 2);
  releaseTensor(ctx, again);
  return x;
}

const expected = (xData: Float32Array, w: Float32Array): number[] =>
  Array.from(xData, (x, i) => (x * w[i]! + 1) * w[i]! * w[i]! + 2);

t.test('a replay gives the recorded work on new inputs; held buffers stay out of the pool', async (t) => {
  const ctx = await testGpu();
  const wData = Float32Array.from({ length: N }, (_, i) => 1 + (i % 3) / 4);
  const w = uploadTensor(ctx, wData),
    out = allocTensor(ctx, N);
  const inUse0 = memoryStats(ctx).inUseBytes;
  beginScope(ctx);
  startRecording(ctx);
  const x = step(ctx, w, out, ramp(1));
  const rec = stopRecording(ctx, [x]);
  endScope(ctx);
  t.equal(rec.invalid, null, 'the recording may be replayed');
  t.equal(rec.groups.length, 4, 'four dispatches recorded');
  t.same([...(await readF32(ctx, out))], expected(ramp(1), wData), 'the recorded run itself computed the work');
  t.equal(rec.held.size, 3, 'x, the temporary and the scratch (taken twice) are held');

  // Other work between replays takes buffers of the same size from the pool: none of the held ones.
  const heldNow = new Set(rec.held);
  for (const k of [2, -3, 0.5]) {
    beginScope(ctx);
    const others = Array.from({ length: 6 }, () => allocTensor(ctx, N, 'f32', true));
    t.notOk(
      others.some((o) => heldNow.has(o.buffer)),
      `replay ×${k}: the pool hands out none of the held buffers`,
    );
    endScope(ctx);
    const before = memoryStats(ctx).dispatches;
    writeTensor(ctx, x, ramp(k));
    replayRecording(ctx, rec);
    t.equal(memoryStats(ctx).dispatches - before, 4, `replay ×${k}: four dispatches counted`);
    t.same([...(await readF32(ctx, out))], expected(ramp(k), wData), `replay ×${k}: the work on the new input`);
  }
  dropRecording(ctx, rec);
  t.equal(memoryStats(ctx).inUseBytes, inUse0, 'dropped: every held buffer is back in the pool');
  t.throws(() => replayRecording(ctx, rec), /may not be replayed \(dropped\)/, 'a dropped recording is refused');
  releaseTensor(ctx, w);
  releaseTensor(ctx, out);
});

t.test('recordings are refused when replaying them could read stale or reused memory', async (t) => {
  const ctx = await testGpu();
  const w = uploadTensor(ctx, ramp(1)),
    out = allocTensor(ctx, N);
  // A host write to a buffer that is not an input (a replay would not repeat it).
  startRecording(ctx);
  const x = uploadTensor(ctx, ramp(2));
  writeTensor(ctx, w, ramp(3));
  mulAdd(ctx, out, x, w, 0);
  const written = stopRecording(ctx, [x]);
  t.match(written.invalid, /written while recording that is not an input/);
  t.throws(() => replayRecording(ctx, written), /may not be replayed \(a buffer was written/);
  dropRecording(ctx, written);
  releaseTensor(ctx, x);

  // A buffer it binds but did not allocate goes back to the pool (someone else may be handed it).
  startRecording(ctx);
  const x2 = uploadTensor(ctx, ramp(2));
  mulAdd(ctx, out, x2, w, 0);
  const watching = stopRecording(ctx, [x2]);
  t.equal(watching.invalid, null, 'valid while its outside buffers are held by their owners');
  releaseTensor(ctx, w);
  t.match(watching.invalid, /a buffer it binds went back to the pool/);
  t.throws(() => replayRecording(ctx, watching), /went back to the pool/);
  dropRecording(ctx, watching);
  releaseTensor(ctx, x2);
  releaseTensor(ctx, out);

  startRecording(ctx);
  t.throws(() => startRecording(ctx), /already being made/, 'one recording at a time');
  const empty = stopRecording(ctx, []);
  const before = memoryStats(ctx).dispatches;
  replayRecording(ctx, empty);
  t.equal(memoryStats(ctx).dispatches, before, 'an empty recording replays nothing');
  t.throws(() => stopRecording(ctx, []), /nothing is being recorded/);
  dropRecording(ctx, empty);
});

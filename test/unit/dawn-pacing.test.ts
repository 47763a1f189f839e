// Pacing of Dawn's event polling (src/ops/webgpu/dawn-pacing.ts) on the SwiftShader device: while a
// GPU job of about a second is awaited, the thread's event loop is mostly idle under the CPU adapter's
// pacing, and busy throughout when the wait is left to spin (the binding's own behaviour, forced
// here so the measure is shown to tell them apart); read-backs stay correct; other setImmediate
// callers are passed through untouched; bad options are refused.
import t from 'tap';
import {
  allocTensor,
  dispatch,
  finish,
  readF32,
  type GpuContext,
  type KernelSpec,
} from '../../src/ops/webgpu/context.js';
import {
  CPU_ADAPTER_PACING,
  GPU_PACING,
  dawnPacing,
  dawnPollCounts,
  paceDawnPolling,
} from '../../src/ops/webgpu/dawn-pacing.js';
import { testGpu } from '../helpers/gpu-helpers.js';

/** Each of 64·256 threads runs `iters` dependent steps, then writes its index (+1 had they gone NaN: the work is used). */
const BUSY: KernelSpec = {
  key: 'test-busy',
  bindings: ['write'],
  code: /* wgsl */ `
struct Params { iters: u32, a: u32, b: u32, c: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> z: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  var acc = f32(g.x);
  for (var i = 0u; i < p.iters; i++) { acc = acc * 0.999 + sin(acc); }
  z[g.x] = g.x + select(0u, 1u, acc != acc);
}`,
};

/** Event-loop utilization of this thread while a GPU job of `iters` steps is awaited, and the wait. */
async function awaitedJob(ctx: GpuContext, iters: number): Promise<{ elu: number; ms: number }> {
  const z = allocTensor(ctx, 64 * 256, 'i32');
  for (let k = 0; k < 4; k++) dispatch(ctx, BUSY, [z], [iters, 0, 0, 0], [256]);
  const e0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  await finish(ctx);
  const ms = performance.now() - t0;
  return { elu: performance.eventLoopUtilization(e0).utilization, ms };
}

t.test('a CPU adapter gets paced polling: the awaiting thread idles, a spinning one does not', async (t) => {
  const ctx = await testGpu();
  t.match(ctx.info.adapter, /swiftshader|llvmpipe|lavapipe/i, 'CI runs this on a CPU adapter');
  t.same(dawnPacing(), CPU_ADAPTER_PACING, 'the device picked the CPU adapter pacing');
  await awaitedJob(ctx, 10); // pipeline built
  // Scale the job to about a second on this machine.
  let iters = 500,
    job = await awaitedJob(ctx, iters);
  while (job.ms < 600 && iters < 1 << 20) job = await awaitedJob(ctx, (iters *= 2));
  const before = dawnPollCounts();
  const paced = await awaitedJob(ctx, iters);
  const after = dawnPollCounts();
  t.ok(after.paced > before.paced, `the wait was paced (${after.paced - before.paced} delayed polls)`);
  t.ok(paced.elu < 0.5, `paced: event loop busy ${(100 * paced.elu).toFixed(1)}% of a ${paced.ms.toFixed(0)} ms wait`);
  paceDawnPolling({ spinMs: 1e9, pollMs: 1 });
  try {
    const spun = await awaitedJob(ctx, iters);
    t.ok(
      spun.elu > 0.8,
      `spinning: event loop busy ${(100 * spun.elu).toFixed(1)}% of a ${spun.ms.toFixed(0)} ms wait`,
    );
    t.comment(`wait: paced ${paced.ms.toFixed(0)} ms, spinning ${spun.ms.toFixed(0)} ms`);
  } finally {
    paceDawnPolling(CPU_ADAPTER_PACING);
  }
});

t.test("a wait's full-speed window starts when the thread goes idle, not when the wait was requested", async (t) => {
  const ctx = await testGpu();
  paceDawnPolling(GPU_PACING);
  try {
    const z = allocTensor(ctx, 64 * 256, 'i32');
    for (let k = 0; k < 4; k++) dispatch(ctx, BUSY, [z], [4000, 0, 0, 0], [256]);
    const before = dawnPollCounts();
    const done = finish(ctx); // the wait is requested now...
    const t0 = performance.now();
    while (performance.now() - t0 < 3 * GPU_PACING.spinMs); // ...while the thread works on (encoding)
    await done;
    const after = dawnPollCounts();
    t.ok(
      after.immediate - before.immediate > 20,
      `${after.immediate - before.immediate} full-speed polls after the thread went idle (${after.paced - before.paced} paced)`,
    );
  } finally {
    paceDawnPolling(CPU_ADAPTER_PACING);
  }
});

t.test('read-backs after paced waits are exact', async (t) => {
  const ctx = await testGpu();
  const z = allocTensor(ctx, 64 * 256, 'i32');
  dispatch(ctx, BUSY, [z], [2000, 0, 0, 0], [256]);
  const got = await readF32(ctx, z);
  t.ok(
    got.every((v, i) => v === i),
    'every thread wrote its index',
  );
});

t.test('setImmediate callers other than Dawn are passed through', async (t) => {
  await testGpu();
  const before = dawnPollCounts();
  const args = await new Promise<unknown[]>((resolve) => setImmediate((...a: unknown[]) => resolve(a), 1, 'two'));
  t.same(args, [1, 'two'], 'arguments arrive');
  const order: string[] = [];
  await new Promise<void>((resolve) => {
    setImmediate(() => order.push('first'));
    setImmediate(function named() {
      order.push('second');
      resolve();
    });
  });
  t.same(order, ['first', 'second'], 'in order');
  t.same(dawnPollCounts(), before, 'none counted as Dawn ticks');
});

t.test('bad options are refused', async (t) => {
  t.throws(() => paceDawnPolling({ spinMs: -1, pollMs: 1 }), /spinMs must be ≥ 0 and pollMs > 0/);
  t.throws(() => paceDawnPolling({ spinMs: 0, pollMs: 0 }), /spinMs must be ≥ 0 and pollMs > 0/);
  t.throws(() => paceDawnPolling({ spinMs: Number.NaN, pollMs: 1 }), /got NaN, 1/);
});

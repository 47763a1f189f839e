// Flash attention on WebGPU (SwiftShader in CI) against the cpu ops run in float64: forward (o, lse)
// and backward (dq, dk, dv accumulated onto random initial values) on packed sequences of mixed
// lengths (incl. length 1), GQA groups 1, 2 and 7, head dims that are and are not tile multiples,
// T not a multiple of the tile, views at odd offsets (scalar loads) and aligned ones (vec4 loads),
// both row-reduction paths (subgroup shuffles and workgroup memory), dK/dV direct and split into
// per-head partial sums, a 300-row sequence over many tiles, and memory that grows as O(T).
import t, { type Test } from 'tap';
import { attentionBackward as cpuBackward, attentionForward as cpuForward } from '../../src/ops/cpu/tensor-ops.js';
import {
  allocTensor,
  memoryStats,
  readF32,
  releaseTensor,
  resetPeaks,
  uploadTensor,
  type GpuContext,
} from '../../src/ops/webgpu/context.js';
import { viewOf, type GpuTensor } from '../../src/ops/webgpu/tensor.js';
import {
  attentionBackward,
  attentionForward,
  defaultTile,
  type AttentionOptions,
} from '../../src/ops/webgpu/attention.js';
import { webgpuOps } from '../../src/ops/webgpu/index.js';
import type { HeadShape } from '../../src/ops/types.js';
import { randomArray, relError, Rng, testGpu } from '../helpers/gpu-helpers.js';

/** A tensor holding `data` at element offset `at` of a larger buffer (at = 0: a fresh, aligned one). */
function place(ctx: GpuContext, data: Float32Array, at: number): GpuTensor {
  if (at === 0) return uploadTensor(ctx, data);
  const buf = new Float32Array(data.length + at + 3).fill(Number.NaN);
  buf.set(data, at);
  return viewOf(uploadTensor(ctx, buf), at, data.length);
}

interface Case {
  lens: number[];
  shape: HeadShape;
  opts?: AttentionOptions;
  offset?: number;
  seed?: number;
  rowBase?: number;
}
interface Errors {
  o: number;
  lse: number;
  dq: number;
  dk: number;
  dv: number;
}

/** Runs forward and backward on the GPU and the cpu (float64), returns the relative errors. */
async function compare(ctx: GpuContext, c: Case): Promise<Errors> {
  const { nHeads, nKvHeads, headDim } = c.shape;
  const rng = new Rng(c.seed ?? 1);
  const base = c.rowBase ?? 0;
  const rowStart = Int32Array.from([
    base,
    ...c.lens.map((_, i) => base + c.lens.slice(0, i + 1).reduce((a, b) => a + b, 0)),
  ]);
  const rows = rowStart[rowStart.length - 1]!;
  const Q = nHeads * headDim,
    KV = nKvHeads * headDim;
  const q = randomArray(rng, rows * Q),
    k = randomArray(rng, rows * KV),
    v = randomArray(rng, rows * KV);
  const dO = randomArray(rng, rows * Q);
  const dq0 = randomArray(rng, rows * Q),
    dk0 = randomArray(rng, rows * KV),
    dv0 = randomArray(rng, rows * KV);

  const f64 = (x: Float32Array): Float64Array => Float64Array.from(x);
  const ro = new Float64Array(rows * Q),
    rl = new Float64Array(rows * nHeads);
  cpuForward(ro, rl, f64(q), f64(k), f64(v), rowStart, c.shape);
  const rdq = f64(dq0),
    rdk = f64(dk0),
    rdv = f64(dv0);
  cpuBackward(rdq, rdk, rdv, f64(dO), f64(q), f64(k), f64(v), ro, rl, rowStart, c.shape);

  const at = c.offset ?? 0;
  const put = (x: Float32Array, i: number): GpuTensor => place(ctx, x, at ? at + i : 0);
  const gq = put(q, 0),
    gk = put(k, 1),
    gv = put(v, 2),
    gdO = put(dO, 3);
  const go = put(new Float32Array(rows * Q), 4),
    gl = put(new Float32Array(rows * nHeads), 5);
  const gdq = put(dq0, 6),
    gdk = put(dk0, 7),
    gdv = put(dv0, 8);
  attentionForward(ctx, go, gl, gq, gk, gv, rowStart, c.shape, c.opts);
  attentionBackward(ctx, gdq, gdk, gdv, gdO, gq, gk, gv, go, gl, rowStart, c.shape, c.opts);
  const rowsFrom = (x: ArrayLike<number>, w: number): number[] => Array.from(x).slice(base * w);
  return {
    o: relError(rowsFrom(await readF32(ctx, go), Q), rowsFrom(ro, Q)),
    lse: relError(rowsFrom(await readF32(ctx, gl), nHeads), rowsFrom(rl, nHeads)),
    dq: relError(await readF32(ctx, gdq), rdq),
    dk: relError(await readF32(ctx, gdk), rdk),
    dv: relError(await readF32(ctx, gdv), rdv),
  };
}

const TOL = 1e-5;
const fmt = (e: Errors): string =>
  Object.entries(e)
    .map(([k, v]) => `${k} ${v.toExponential(1)}`)
    .join(', ');

function expectClose(t: Test, e: Errors, what: string): void {
  const worst = Math.max(e.o, e.lse, e.dq, e.dk, e.dv);
  t.ok(worst <= TOL, `${what}: ${fmt(e)}`);
}

// A small tile (8 query rows × 16 key columns, 16 threads) so short sequences span many tiles.
const SMALL = { C: 4, R: 4, TM: 2, TN: 4, BK: 8, BJ: 8 };
// 64 threads, 16 × 32 tiles: SwiftShader runs a workgroup's invocations as coroutines, so a barrier
// in a 256-thread workgroup costs ~0.2 ms there; longer sequences use this tile to keep tests quick.
const MID = { C: 8, R: 8, TM: 2, TN: 4, BK: 16, BJ: 32 };

t.test('forward and backward equal the cpu ops: GQA groups 1, 2, 7, mixed lengths, both reduction paths', async (t) => {
  const ctx = await testGpu();
  t.comment(`device subgroups: ${ctx.subgroups} (sizes ${ctx.info.subgroupMinSize}..${ctx.info.subgroupMaxSize})`);
  const shapes: HeadShape[] = [
    { nHeads: 2, nKvHeads: 2, headDim: 16 }, // group 1
    { nHeads: 4, nKvHeads: 2, headDim: 32 }, // group 2 (the tiny model's heads)
    { nHeads: 7, nKvHeads: 1, headDim: 12 }, // group 7, head dim not a multiple of BK nor of 4·C
  ];
  const lens = [13, 1, 30, 8];
  for (const shape of shapes) {
    for (const subgroups of [false, true]) {
      const e = await compare(ctx, { lens, shape, opts: { tile: SMALL, subgroups } });
      expectClose(
        t,
        e,
        `${shape.nHeads}/${shape.nKvHeads} heads hd ${shape.headDim}, lens ${lens}, small tile, ${subgroups ? 'subgroup' : 'workgroup-memory'} reductions`,
      );
    }
  }
});

t.test(
  'default tiles (64 × 64) with T not a tile multiple; dK/dV direct and split; views at odd offsets',
  async (t) => {
    const ctx = await testGpu();
    const shape = { nHeads: 4, nKvHeads: 2, headDim: 32 };
    t.comment(`default tile at hd 32: ${JSON.stringify(defaultTile(ctx, 32))}`);
    for (const dkvSplits of [1, 2]) {
      for (const offset of [0, 3]) {
        const e = await compare(ctx, { lens: [70, 1, 5], shape, opts: { dkvSplits }, offset, seed: 7 });
        expectClose(
          t,
          e,
          `lens 70,1,5, default tile, dkvSplits ${dkvSplits}, ${offset ? `views at odd offsets (scalar loads)` : 'aligned (vec4 loads)'}`,
        );
      }
    }
    const e = await compare(ctx, {
      lens: [9, 20],
      shape: { nHeads: 14, nKvHeads: 2, headDim: 64 },
      opts: { tile: SMALL, dkvSplits: 7 },
      offset: 5,
      seed: 3,
      rowBase: 4,
    });
    expectClose(
      t,
      e,
      'Qwen2.5-0.5B heads (14/2, hd 64), group 7 split 7 ways, rowStart starting at row 4, odd offsets',
    );
  },
);

t.test('a 300-row sequence spans many tiles (hd 64 and 128)', async (t) => {
  const ctx = await testGpu();
  const e = await compare(ctx, {
    lens: [300],
    shape: { nHeads: 4, nKvHeads: 2, headDim: 64 },
    opts: { tile: MID },
    seed: 11,
  });
  expectClose(t, e, '300 rows, 4/2 heads hd 64, 16 × 32 tiles (19 query tiles, up to 10 key tiles each)');
  const e2 = await compare(ctx, {
    lens: [300, 45],
    shape: { nHeads: 2, nKvHeads: 1, headDim: 128 },
    seed: 12,
    offset: 1,
  });
  expectClose(t, e2, '300 + 45 rows, 2/1 heads hd 128, default tile, odd offsets');
});

t.test('tile grids folded into z beyond the per-dimension workgroup limit', async (t) => {
  const ctx = await testGpu();
  const limits = ctx.info.limits,
    saved = limits.maxComputeWorkgroupsPerDimension;
  limits.maxComputeWorkgroupsPerDimension = 4; // 13 query tiles → 4 × 4 along y, z
  try {
    const e = await compare(ctx, {
      lens: [40, 1, 50],
      shape: { nHeads: 2, nKvHeads: 1, headDim: 16 },
      opts: { tile: SMALL, dkvSplits: 2 },
      seed: 5,
    });
    expectClose(t, e, 'lens 40,1,50 with at most 4 workgroups per grid dimension');
  } finally {
    limits.maxComputeWorkgroupsPerDimension = saved;
  }
});

t.test('head dims 4 .. 256', async (t) => {
  const ctx = await testGpu();
  // The 64-thread tile stages the head dim in chunks of 16, so these dims also end in a partial chunk
  // (default tiles pick a chunk that divides the head dim) and in a partial set of vec4 columns.
  for (const headDim of [4, 20, 36, 100]) {
    const e = await compare(ctx, {
      lens: [19, 1, 6],
      shape: { nHeads: 2, nKvHeads: 1, headDim },
      opts: { tile: MID },
      seed: headDim,
    });
    expectClose(t, e, `hd ${headDim}, 16 × 32 tile (partial head-dim chunk)`);
  }
  const e = await compare(ctx, { lens: [19, 1, 6], shape: { nHeads: 2, nKvHeads: 1, headDim: 256 }, seed: 256 });
  expectClose(t, e, `hd 256, default tile ${JSON.stringify(defaultTile(ctx, 256))}`);
});

t.test('through the Ops interface; empty inputs; bad shapes are named', async (t) => {
  const ctx = await testGpu();
  const ops = webgpuOps(ctx);
  const shape = { nHeads: 2, nKvHeads: 1, headDim: 8 };
  const rowStart = Int32Array.of(0, 3);
  const hq = Float32Array.from({ length: 48 }, (_, i) => Math.sin(i)),
    hk = Float32Array.from({ length: 24 }, (_, i) => Math.cos(i));
  const hv = Float32Array.from({ length: 24 }, (_, i) => i / 10);
  const q = uploadTensor(ctx, hq),
    k = uploadTensor(ctx, hk),
    v = uploadTensor(ctx, hv);
  const o = ops.alloc(48, q),
    lse = ops.alloc(6, q);
  ops.attentionForward(o, lse, q, k, v, rowStart, shape);
  const ro = new Float32Array(48),
    rl = new Float32Array(6);
  cpuForward(ro, rl, hq, hk, hv, rowStart, shape);
  t.ok(
    relError(await ops.read(o), ro) < TOL && relError(await ops.read(lse), rl) < TOL,
    'webgpuOps.attentionForward matches',
  );

  const before = memoryStats(ctx).dispatches;
  attentionForward(ctx, o, lse, q, k, v, Int32Array.of(0), shape);
  attentionForward(ctx, o, lse, q, k, v, Int32Array.of(2, 2, 2), shape);
  attentionBackward(ctx, o, allocTensor(ctx, 24), allocTensor(ctx, 24), q, q, k, v, o, lse, Int32Array.of(1, 1), shape);
  t.equal(memoryStats(ctx).dispatches, before, 'no rows: nothing dispatched');

  t.throws(
    () => attentionForward(ctx, o, lse, q, k, v, rowStart, { nHeads: 3, nKvHeads: 2, headDim: 8 }),
    /nHeads \(3\) must be a multiple of nKvHeads \(2\)/,
  );
  t.throws(
    () => attentionForward(ctx, o, lse, q, k, v, rowStart, { nHeads: 2, nKvHeads: 1, headDim: 6 }),
    /headDim 6 must be a multiple of 4/,
  );
  t.throws(
    () => attentionForward(ctx, o, lse, q, k, v, Int32Array.of(0, 4), shape),
    /q has 48 elements, needs 4 rows × 16 = 64/,
  );
  t.throws(
    () => attentionForward(ctx, o, lse, q, k, v, Int32Array.of(0, 2, 1), shape),
    /rowStart must be non-decreasing/,
  );
  t.throws(
    () => attentionForward(ctx, o, lse, q, k, v, rowStart, shape, { tile: { C: 3 } }),
    /field C must be a power of two/,
  );
  t.throws(
    () => attentionForward(ctx, o, lse, q, k, v, rowStart, shape, { tile: { R: 64, C: 16 } }),
    /threads, more than the device's/,
  );
  t.throws(
    () => attentionForward(ctx, o, lse, viewOf(q, 1, 40), k, v, Int32Array.of(0, 2), shape, { vec4: true }),
    /vec4 asked for but a view offset is not a multiple of 4/,
  );
  t.throws(
    () =>
      attentionBackward(ctx, o, allocTensor(ctx, 24), allocTensor(ctx, 24), q, q, k, v, o, lse, rowStart, shape, {
        dkvSplits: 3,
      }),
    /dkvSplits 3 must divide the GQA group/,
  );
  const gq = uploadTensor(ctx, new Float32Array(48), 'f16');
  t.throws(() => attentionForward(ctx, o, lse, gq, k, v, rowStart, shape), /q must be f32, got f16/);
});

/** Peak in-use bytes of one forward + backward over a single sequence of T rows (tensors excluded). */
async function scratchPeak(
  ctx: GpuContext,
  T: number,
  shape: HeadShape,
  opts: AttentionOptions,
): Promise<{ scratch: number; largest: number }> {
  const Q = shape.nHeads * shape.headDim,
    KV = shape.nKvHeads * shape.headDim;
  const rng = new Rng(T);
  const ts = [randomArray(rng, T * Q), randomArray(rng, T * KV), randomArray(rng, T * KV), randomArray(rng, T * Q)].map(
    (x) => uploadTensor(ctx, x),
  );
  const [q, k, v, dO] = ts as [GpuTensor, GpuTensor, GpuTensor, GpuTensor];
  const o = allocTensor(ctx, T * Q),
    lse = allocTensor(ctx, T * shape.nHeads);
  const dq = allocTensor(ctx, T * Q, 'f32', true),
    dk = allocTensor(ctx, T * KV, 'f32', true),
    dv = allocTensor(ctx, T * KV, 'f32', true);
  const rowStart = Int32Array.of(0, T);
  const origCreate = ctx.device.createBuffer.bind(ctx.device);
  let largest = 0;
  ctx.device.createBuffer = (d: GPUBufferDescriptor): GPUBuffer => {
    largest = Math.max(largest, d.size);
    return origCreate(d);
  };
  const base = memoryStats(ctx).inUseBytes;
  resetPeaks(ctx);
  try {
    attentionForward(ctx, o, lse, q, k, v, rowStart, shape, opts);
    attentionBackward(ctx, dq, dk, dv, dO, q, k, v, o, lse, rowStart, shape, opts);
    await readF32(ctx, viewOf(dk, 0, 4));
  } finally {
    ctx.device.createBuffer = origCreate;
  }
  const scratch = memoryStats(ctx).inUsePeakBytes - base;
  for (const x of [q, k, v, dO, o, lse, dq, dk, dv]) releaseTensor(ctx, x);
  return { scratch, largest };
}

t.test('memory grows as O(T): no T × T buffer, scratch linear in T', async (t) => {
  const ctx = await testGpu();
  const shape = { nHeads: 4, nKvHeads: 2, headDim: 32 };
  const peaks: number[] = [];
  for (const T of [256, 512, 1024]) {
    const { scratch, largest } = await scratchPeak(ctx, T, shape, { dkvSplits: 2, tile: MID });
    peaks.push(scratch);
    t.comment(
      `T ${T}: scratch peak ${scratch} B, largest buffer created during the calls ${largest} B, T²·4 = ${T * T * 4} B`,
    );
    t.ok(largest < T * T * 4, `T ${T}: no buffer of T² floats (largest new buffer ${largest} B)`);
    // stats (T·nHeads·2 floats) + dK/dV partials (2 · splits · T · KV floats) + the tile schedules
    t.ok(
      scratch <= (T * shape.nHeads * 2 + 2 * 2 * T * 64) * 4 * 1.3 + 4096,
      `T ${T}: scratch ${scratch} B is the O(T) stats and partial sums`,
    );
  }
  t.ok(
    peaks[2]! < 2.2 * peaks[1]! && peaks[1]! < 2.2 * peaks[0]!,
    `scratch doubles (not quadruples) with T: ${peaks.join(' → ')} B`,
  );
});

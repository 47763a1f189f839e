// The WebGPU LM head (+ log-softmax + gather, entropy, raw logits) against the cpu ops
// (lmHeadForward/lmHeadBackward in src/ops/cpu/tensor-ops.ts): rows in several chunks with a
// remainder (a tiny forced chunk budget), a vocabulary that is not a multiple of the row kernels'
// 256 threads nor of the tiles, temperature ≠ 1, f16 and split (vocabulary row blocks) weights, split
// logits output, accumulation into dhs and dW, and out-of-vocabulary targets.
import t, { type Test } from 'tap';
import {
  allocTensor,
  memoryStats,
  readF32,
  resetPeaks,
  sizeClass,
  type GpuContext,
} from '../../src/ops/webgpu/context.js';
import { configureLmHead, lmHeadBackward, lmHeadForward } from '../../src/ops/webgpu/matmul.js';
import { lmHeadChunkRows } from '../../src/ops/webgpu/lm-head.js';
import { lmHeadBackward as cpuBackward, lmHeadForward as cpuForward } from '../../src/ops/cpu/tensor-ops.js';
import { viewOf, type GpuTensor } from '../../src/ops/webgpu/tensor.js';
import { Rng, randomArray, relError, testGpu } from '../helpers/gpu-helpers.js';
import { f16Round, placed, splitMatrix } from '../helpers/webgpu-matmul-helpers.js';

interface Case {
  rows: number;
  dim: number;
  vocab: number;
  invTemp: number;
  w: 'f32' | 'f16' | 'split';
  chunkRows: number;
}

const worst: Record<string, number> = {};
function check(
  t: Test,
  what: string,
  tag: string,
  got: Float32Array,
  ref: Float32Array | Float64Array,
  tol: number,
): void {
  const e = relError(got, ref);
  worst[what] = Math.max(worst[what] ?? 0, e);
  t.ok(e < tol, `${what} ${tag}: rel error ${e.toExponential(2)}`);
}

function weights(ctx: GpuContext, c: Case, w: Float32Array): GpuTensor {
  if (c.w === 'split') return splitMatrix(ctx, w, c.dim, Math.ceil(c.vocab / 3));
  return placed(ctx, w, 3, c.w);
}

async function withChunks<T>(ctx: GpuContext, c: Case, run: () => Promise<T>): Promise<T> {
  const prev = configureLmHead({ chunkBytes: c.chunkRows * c.vocab * 4 });
  try {
    if (lmHeadChunkRows(ctx, c.vocab) !== c.chunkRows) throw new Error('chunk rows not as forced');
    return await run();
  } finally {
    configureLmHead(prev);
  }
}

async function forwardCase(t: Test, c: Case, rng: Rng, withLogits: 'no' | 'yes' | 'split'): Promise<void> {
  const ctx = await testGpu();
  const { rows, dim, vocab, invTemp } = c;
  const hs = randomArray(rng, rows * dim, 2);
  let w = randomArray(rng, vocab * dim, 0.5);
  if (c.w === 'f16') w = f16Round(w);
  const targets = Int32Array.from({ length: rows }, () => Math.floor(rng.next() * vocab));
  targets[0] = vocab - 1;
  const logp = new Float32Array(rows),
    lse = new Float32Array(rows),
    ent = new Float32Array(rows),
    logits = new Float32Array(rows * vocab);
  cpuForward(logp, lse, ent, hs, w, targets, rows, dim, vocab, invTemp, logits);
  await withChunks(ctx, c, async () => {
    // Without logits, the three per-row outputs are views of one buffer (bound writable three times).
    const one = placed(ctx, new Float32Array(3 * rows + 2), 1);
    const LP = withLogits === 'no' ? viewOf(one, 1, rows) : placed(ctx, new Float32Array(rows), 1);
    const LSE = withLogits === 'no' ? viewOf(one, rows + 1, rows) : placed(ctx, new Float32Array(rows), 2);
    const ENT = withLogits === 'no' ? viewOf(one, 2 * rows + 2, rows) : placed(ctx, new Float32Array(rows), 3);
    const LOG =
      withLogits === 'no'
        ? null
        : withLogits === 'split'
          ? splitMatrix(ctx, new Float32Array(rows * vocab), vocab, 2)
          : placed(ctx, new Float32Array(rows * vocab), 5);
    lmHeadForward(ctx, LP, LSE, ENT, placed(ctx, hs, 7), weights(ctx, c, w), targets, rows, dim, vocab, invTemp, LOG);
    const tag = `${JSON.stringify(c)} logits=${withLogits}`;
    check(t, 'logp', tag, await readF32(ctx, LP), logp, 1e-5);
    check(t, 'lse', tag, await readF32(ctx, LSE), lse, 1e-5);
    check(t, 'entropy', tag, await readF32(ctx, ENT), ent, 1e-5);
    if (LOG) check(t, 'logits', tag, await readF32(ctx, LOG), logits, 2e-6);
  });
}

async function backwardCase(t: Test, c: Case, rng: Rng, withDW: boolean): Promise<void> {
  const ctx = await testGpu();
  const { rows, dim, vocab, invTemp } = c;
  const hs = randomArray(rng, rows * dim, 2);
  let w = randomArray(rng, vocab * dim, 0.5);
  if (c.w === 'f16') w = f16Round(w);
  const targets = Int32Array.from({ length: rows }, () => Math.floor(rng.next() * vocab));
  const logp = new Float32Array(rows),
    lse = new Float32Array(rows);
  cpuForward(logp, lse, null, hs, w, targets, rows, dim, vocab, invTemp, null);
  const dlogp = randomArray(rng, rows);
  const dhs0 = randomArray(rng, rows * dim),
    dW0 = randomArray(rng, vocab * dim);
  const dhs = Float32Array.from(dhs0),
    dW = withDW ? Float32Array.from(dW0) : null;
  cpuBackward(dhs, dW, dlogp, hs, w, lse, targets, rows, dim, vocab, invTemp);
  await withChunks(ctx, c, async () => {
    const DHS = placed(ctx, dhs0, 1);
    const DW = withDW
      ? c.w === 'split'
        ? splitMatrix(ctx, dW0, dim, Math.ceil(vocab / 3))
        : placed(ctx, dW0, 2)
      : null;
    lmHeadBackward(
      ctx,
      DHS,
      DW,
      placed(ctx, dlogp, 3),
      placed(ctx, hs, 4),
      weights(ctx, c, w),
      placed(ctx, lse, 5),
      targets,
      rows,
      dim,
      vocab,
      invTemp,
    );
    const tag = `${JSON.stringify(c)} dW=${withDW}`;
    check(t, 'dhs', tag, await readF32(ctx, DHS), dhs, 1e-5);
    if (DW) check(t, 'dW', tag, await readF32(ctx, DW), dW!, 1e-5);
  });
}

// 11 rows in chunks of 4 (4, 4, 3); vocab 300 = 256 + 44 (row kernel) and not a tile multiple.
const BASE: Case = { rows: 11, dim: 24, vocab: 300, invTemp: 1 / 0.7, w: 'f32', chunkRows: 4 };

t.test(
  'forward equals the cpu op: chunks with a remainder, temperature, entropy, logits, f16 and split weights',
  async (t) => {
    const rng = new Rng(21);
    await forwardCase(t, BASE, rng, 'yes');
    await forwardCase(t, { ...BASE, invTemp: 1 }, rng, 'no');
    await forwardCase(t, { ...BASE, w: 'f16' }, rng, 'no');
    await forwardCase(t, { ...BASE, w: 'split' }, rng, 'split');
    await forwardCase(t, { ...BASE, chunkRows: 11 }, rng, 'no');
    await forwardCase(t, { ...BASE, rows: 3, vocab: 1000, chunkRows: 1 }, rng, 'yes');
  },
);

t.test(
  "both row-statistics kernels (a workgroup per row; an invocation per row, the CPU adapters' default)",
  async (t) => {
    const rng = new Rng(23);
    for (const rowKernel of ['workgroup', 'invocation'] as const) {
      const prev = configureLmHead({ rowKernel });
      try {
        await forwardCase(t, BASE, rng, 'yes');
        await forwardCase(t, { ...BASE, w: 'split', rows: 70, chunkRows: 66 }, rng, 'no');
      } finally {
        configureLmHead(prev);
      }
    }
    t.throws(
      () => configureLmHead({ rowKernel: 'fast' as never }),
      /lmHead rowKernel must be auto, workgroup or invocation, got fast/,
    );
  },
);

t.test('backward equals the cpu op: dhs and dW accumulate, chunks recomputed, f16 and split weights', async (t) => {
  const rng = new Rng(22);
  await backwardCase(t, BASE, rng, true);
  await backwardCase(t, BASE, rng, false);
  await backwardCase(t, { ...BASE, w: 'f16', invTemp: 1 }, rng, true);
  await backwardCase(t, { ...BASE, w: 'split' }, rng, true);
  await backwardCase(t, { ...BASE, rows: 5, vocab: 1200, chunkRows: 2 }, rng, true);
});

t.test('targets outside the vocabulary and short outputs are refused', async (t) => {
  const ctx = await testGpu();
  const hs = allocTensor(ctx, 2 * 4),
    w = allocTensor(ctx, 5 * 4),
    out = allocTensor(ctx, 2);
  t.throws(
    () => lmHeadForward(ctx, out, out, null, hs, w, Int32Array.of(1, 5), 2, 4, 5, 1, null),
    /target id 5 outside vocabulary \[0, 5\)/,
  );
  t.throws(
    () => lmHeadBackward(ctx, hs, null, out, hs, w, out, Int32Array.of(-1, 0), 2, 4, 5, 1),
    /target id -1 outside vocabulary/,
  );
  t.throws(
    () => lmHeadForward(ctx, allocTensor(ctx, 1), out, null, hs, w, Int32Array.of(1, 2), 2, 4, 5, 1, null),
    /logp has 1 elements, needs rows = 2/,
  );
  lmHeadForward(ctx, out, out, null, hs, w, new Int32Array(0), 0, 4, 5, 1, null);
  t.pass('zero rows is a no-op');
});

t.test('GPU memory held beyond the inputs is one chunk of logits (plus pool rounding)', async (t) => {
  const ctx = await testGpu();
  const rng = new Rng(23);
  const rows = 40,
    dim = 16,
    vocab = 1000,
    chunkRows = 4;
  const hs = placed(ctx, randomArray(rng, rows * dim), 0),
    w = placed(ctx, randomArray(rng, vocab * dim), 0);
  const targets = Int32Array.from({ length: rows }, (_, i) => (i * 37) % vocab);
  const lp = allocTensor(ctx, rows),
    lse = allocTensor(ctx, rows),
    dhs = allocTensor(ctx, rows * dim, 'f32', true);
  const chunk = chunkRows * vocab * 4;
  const prev = configureLmHead({ chunkBytes: chunk });
  try {
    for (const pass of ['forward', 'backward'] as const) {
      await readF32(ctx, lp);
      const before = memoryStats(ctx);
      resetPeaks(ctx);
      if (pass === 'forward') lmHeadForward(ctx, lp, lse, null, hs, w, targets, rows, dim, vocab, 1, null);
      else lmHeadBackward(ctx, dhs, null, lse, hs, w, lse, targets, rows, dim, vocab, 1);
      const extra = memoryStats(ctx).inUsePeakBytes - before.inUseBytes;
      t.ok(
        extra <= sizeClass(chunk) + 4096,
        `${pass}: ${extra} bytes held at the peak for ${rows} rows × ${vocab} logits (chunk ${chunk}; all rows would be ${rows * vocab * 4})`,
      );
    }
  } finally {
    configureLmHead(prev);
  }
});

t.test('the default budget: 256 MiB of logits per chunk (441 rows of the 1.5B vocabulary)', async (t) => {
  const ctx = await testGpu();
  t.equal(lmHeadChunkRows(ctx, 151936), 441);
});

t.teardown(() => {
  for (const [k, e] of Object.entries(worst)) console.log(`# worst rel error ${k}: ${e.toExponential(2)}`);
});

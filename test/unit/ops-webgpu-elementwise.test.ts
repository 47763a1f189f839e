// The WebGPU elementwise and row kernels against the cpu ops: copy, addInPlace, gatherRows,
// scatterAddRows, RMSNorm, RoPE, SwiGLU and counter-based dropout, on random shapes that are not
// multiples of the workgroup size, views at odd offsets, f16 weights (against the cpu op on the
// f16-rounded weights), split tensors, repeated indices and empty sizes; every kernel variant that
// SwiftShader runs (scalar / vec4, workgroup / subgroup reductions) is forced in turn.
import t from 'tap';
import { readF32, uploadTensor, type GpuContext } from '../../src/ops/webgpu/context.js';
import { packF16, unpackF16, viewOf, type GpuTensor } from '../../src/ops/webgpu/tensor.js';
import { kernelVariants } from '../../src/ops/webgpu/operands.js';
import { reduction } from '../../src/ops/webgpu/reduce-wgsl.js';
import {
  addInPlace,
  copyTensor,
  dropout,
  gatherRows,
  rmsnormBackward,
  rmsnormForward,
  ropeApply,
  scatterAddRows,
  swigluBackward,
  swigluForward,
  swigluPackedForward,
} from '../../src/ops/webgpu/elementwise.js';
import { dropoutHashesGpu } from '../../src/ops/webgpu/dropout.js';
import { checkElementwise, formatElementwiseChecks } from '../../src/ops/webgpu/check-elementwise.js';
import { cpuOps } from '../../src/ops/cpu/index.js';
import { dropoutHash } from '../../src/ops/dropout-hash.js';
import { randomArray, relError, Rng, testGpu } from '../helpers/gpu-helpers.js';

const rng = new Rng(1234);
/** Largest error seen per check, printed at the end (the report quotes these). */
const worst = new Map<string, { err: number; where: string }>();
function note(name: string, err: number, where = ''): number {
  if (!(err <= (worst.get(name)?.err ?? -1))) worst.set(name, { err, where });
  return err;
}

/** data as a view at element offset `pad` of a larger tensor whose other elements are junk. */
function place(ctx: GpuContext, data: Float32Array, pad: number, dtype: 'f32' | 'f16' = 'f32'): GpuTensor {
  const all = randomArray(rng, pad + data.length + 3, 100);
  all.set(data, pad);
  return viewOf(uploadTensor(ctx, all, dtype, 'test'), pad, data.length);
}

/** Values as f16 storage holds them. */
const f16Round = (a: Float32Array): Float32Array => unpackF16(packF16(a, 'test'), a.length);

/** A [rows, width] matrix split into row blocks of rowsPerPart, each in its own buffer. */
function splitMatrix(
  ctx: GpuContext,
  data: Float32Array,
  width: number,
  rowsPerPart: number,
  dtype: 'f32' | 'f16',
): GpuTensor {
  const rows = data.length / width;
  const parts: GpuTensor[] = [];
  for (let r = 0; r < rows; r += rowsPerPart)
    parts.push(uploadTensor(ctx, data.subarray(r * width, Math.min(rows, r + rowsPerPart) * width), dtype, 'part'));
  return {
    buffer: parts[0]!.buffer,
    offset: 0,
    length: data.length,
    dtype,
    split: { rowWidth: width, rowsPerPart, parts },
  };
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

const SIZES = [0, 1, 3, 4, 255, 257, 1000, 4099];
const OFFSETS = [0, 4, 3];

function forEachVariant(fn: (label: string) => Promise<void>): Promise<void> {
  return (async () => {
    for (const vec4 of [true, false]) {
      kernelVariants.vec4 = vec4;
      try {
        await fn(vec4 ? 'vec4' : 'scalar');
      } finally {
        kernelVariants.vec4 = true;
      }
    }
  })();
}

t.test('copy: f32 and f16 sources, odd offsets, overlapping views of one buffer', async (t) => {
  const ctx = await testGpu();
  await forEachVariant(async (variant) => {
    for (const n of SIZES)
      for (const off of OFFSETS)
        for (const dtype of ['f32', 'f16'] as const) {
          const src = randomArray(rng, n, 3);
          const dst = place(ctx, new Float32Array(n), off + 1);
          copyTensor(ctx, dst, place(ctx, src, off, dtype), n);
          const want = dtype === 'f16' ? f16Round(src) : src;
          t.ok(sameBits(await readF32(ctx, dst), want), `${variant} n=${n} off=${off} ${dtype}`);
        }
  });
  for (const [from, to] of [
    [0, 5],
    [5, 0],
    [0, 300],
    [2, 2],
  ]) {
    const host = randomArray(rng, 1200, 1);
    const buf = uploadTensor(ctx, host);
    copyTensor(ctx, viewOf(buf, to, 800), viewOf(buf, from, 800), 800);
    const want = host.slice();
    want.set(host.subarray(from, from + 800), to);
    t.ok(sameBits(await readF32(ctx, buf), want), `overlapping copy ${from} → ${to} reads the source as it was`);
  }
  t.throws(
    () => copyTensor(ctx, uploadTensor(ctx, new Float32Array(4)), uploadTensor(ctx, new Float32Array(2)), 3),
    /copy: src has 2 elements, the op needs 3/,
  );
});

t.test('addInPlace: exact f32 sums, aliasing views of one buffer', async (t) => {
  const ctx = await testGpu();
  await forEachVariant(async (variant) => {
    for (const n of SIZES)
      for (const off of OFFSETS) {
        const y = randomArray(rng, n),
          x = randomArray(rng, n);
        const yt = place(ctx, y, off);
        addInPlace(ctx, yt, place(ctx, x, off === 3 ? 1 : off), n);
        const want = y.slice();
        cpuOps.addInPlace(want, x, n);
        t.ok(sameBits(await readF32(ctx, yt), want), `${variant} n=${n} off=${off}`);
      }
  });
  const host = randomArray(rng, 1000);
  const buf = uploadTensor(ctx, host);
  addInPlace(ctx, viewOf(buf, 0, 400), viewOf(buf, 500, 400), 400); // disjoint views of one buffer
  addInPlace(ctx, viewOf(buf, 600, 300), viewOf(buf, 600, 300), 300); // y += y
  const want = host.slice();
  cpuOps.addInPlace(want.subarray(0, 400), want.subarray(500, 900), 400);
  cpuOps.addInPlace(want.subarray(600, 900), want.subarray(600, 900), 300);
  t.ok(sameBits(await readF32(ctx, buf), want), 'views of one buffer, disjoint and identical');
  // Partly overlapping views: x is read as it was before the op, in both directions. With x after
  // y that is also the cpu loop's result; with x before y the cpu loop would read its own writes.
  for (const [yAt, xAt] of [
    [0, 4],
    [4, 0],
    [1, 0],
  ]) {
    const h = randomArray(rng, 420);
    const b2 = uploadTensor(ctx, h);
    addInPlace(ctx, viewOf(b2, yAt, 403), viewOf(b2, xAt, 403), 403);
    const w2 = h.slice();
    for (let i = 0; i < 403; i++) w2[yAt + i] = h[yAt + i]! + h[xAt + i]!;
    if (xAt > yAt) {
      const c = h.slice();
      cpuOps.addInPlace(c.subarray(yAt), c.subarray(xAt), 403);
      t.ok(sameBits(c, w2), 'the cpu agrees when x follows y');
    }
    t.ok(sameBits(await readF32(ctx, b2), w2), `partly overlapping y at ${yAt}, x at ${xAt}`);
  }
});

t.test('swiglu forward and backward', async (t) => {
  const ctx = await testGpu();
  await forEachVariant(async (variant) => {
    for (const n of SIZES)
      for (const off of OFFSETS) {
        const g = randomArray(rng, n, 6),
          u = randomArray(rng, n, 2),
          da = randomArray(rng, n);
        if (n > 3) {
          g[0] = -100;
          g[1] = 100;
          g[2] = 0;
        }
        const a = place(ctx, new Float32Array(n), off),
          gt = place(ctx, g, off),
          ut = place(ctx, u, off + 4);
        swigluForward(ctx, a, gt, ut, n);
        const wantA = new Float32Array(n);
        cpuOps.swigluForward(wantA, g, u, n);
        t.ok(
          note('swigluForward', relError(await readF32(ctx, a), wantA), `n=${n}`) < 1e-6,
          `${variant} forward n=${n} off=${off}`,
        );
        const dg = place(ctx, randomArray(rng, n), off),
          du = place(ctx, randomArray(rng, n), off === 3 ? 1 : off + 8);
        swigluBackward(ctx, dg, du, place(ctx, da, off), gt, ut, n);
        const wantDg = new Float32Array(n),
          wantDu = new Float32Array(n);
        cpuOps.swigluBackward(wantDg, wantDu, da, g, u, n);
        t.ok(
          note('swigluBackward dg', relError(await readF32(ctx, dg), wantDg), `n=${n}`) < 1e-6,
          `${variant} dg n=${n}`,
        );
        t.ok(
          note('swigluBackward du', relError(await readF32(ctx, du), wantDu), `n=${n}`) < 1e-6,
          `${variant} du n=${n}`,
        );
      }
  });
});

t.test('dropout: the WGSL hash is the cpu hash, bit for bit', async (t) => {
  const ctx = await testGpu();
  const seeds = [0, 1, 42, 0x7fffffff, 0xffffffff, -5, 2 ** 32 + 17, 123456789];
  const streams = [0, 1, 6, 195, 1000003];
  let mismatches = 0,
    compared = 0;
  for (const seed of seeds)
    for (const stream of streams) {
      const base = seed === 42 ? 2 ** 31 - 100 : 0;
      const n = 3001;
      const gpu = await dropoutHashesGpu(ctx, seed, stream, n, base);
      for (let i = 0; i < n; i++) {
        compared++;
        if (gpu[i] !== dropoutHash(seed, stream, base + i)) mismatches++;
      }
    }
  t.equal(mismatches, 0, `${compared} hashes compared over ${seeds.length} seeds × ${streams.length} streams`);
});

t.test('dropout: keep masks equal the cpu exactly; xl = x ⊙ keep', async (t) => {
  const ctx = await testGpu();
  let elements = 0;
  await forEachVariant(async (variant) => {
    for (const [n, p, seed, stream] of [
      [4099, 0.1, 7, 3],
      [1000, 0.5, 99, 0],
      [257, 0.05, 2 ** 31 + 3, 200],
      [8192, 0.3, 1, 13],
      [3, 0.9, 5, 1],
      [0, 0.1, 1, 1],
      [64, 0, 3, 3],
    ] as const) {
      for (const off of [0, 5]) {
        const x = randomArray(rng, n, 2);
        const xl = place(ctx, new Float32Array(n), off),
          keep = place(ctx, new Float32Array(n), off === 0 ? 8 : 2);
        dropout(ctx, xl, keep, place(ctx, x, off), n, p, { kind: 'counter', seed, stream });
        const wantXl = new Float32Array(n),
          wantKeep = new Float32Array(n);
        cpuOps.dropout(wantXl, wantKeep, x, n, p, { kind: 'counter', seed, stream });
        t.ok(
          sameBits(await readF32(ctx, keep), wantKeep),
          `${variant} keep n=${n} p=${p} seed=${seed} stream=${stream} off=${off}`,
        );
        t.ok(note('dropout xl', relError(await readF32(ctx, xl), wantXl), `n=${n} p=${p}`) <= 2e-7, `${variant} xl`);
        elements += n;
      }
    }
  });
  t.comment(`${elements} dropout elements compared`);
  const r = new Rng(1);
  t.throws(
    () =>
      dropout(
        ctx,
        uploadTensor(ctx, new Float32Array(4)),
        uploadTensor(ctx, new Float32Array(4)),
        uploadTensor(ctx, new Float32Array(4)),
        4,
        0.1,
        { kind: 'sequential', rng: r },
      ),
    /'sequential' source .* runs only on the cpu/,
  );
  t.throws(
    () =>
      dropout(
        ctx,
        uploadTensor(ctx, new Float32Array(4)),
        uploadTensor(ctx, new Float32Array(4)),
        uploadTensor(ctx, new Float32Array(4)),
        4,
        1,
        { kind: 'counter', seed: 1, stream: 1 },
      ),
    /p must be in \[0, 1\)/,
  );
});

t.test('gatherRows: f32 and f16 sources, split sources, repeated indices, odd offsets', async (t) => {
  const ctx = await testGpu();
  for (const [srcRows, width, count] of [
    [10, 7, 25],
    [300, 33, 64],
    [5, 1, 9],
    [40, 260, 17],
    [6, 4, 0],
  ] as const) {
    const src = randomArray(rng, srcRows * width, 2);
    const index = Int32Array.from({ length: count }, () => rng.int(srcRows));
    for (const dtype of ['f32', 'f16'] as const) {
      const want = new Float32Array(count * width);
      cpuOps.gatherRows(want, dtype === 'f16' ? f16Round(src) : src, index, width);
      const sources: [string, GpuTensor][] = [
        ['view', place(ctx, src, 3, dtype)],
        ['split', splitMatrix(ctx, src, width, Math.max(1, Math.ceil(srcRows / 3)), dtype)],
      ];
      for (const [kind, s] of sources) {
        const dst = place(ctx, new Float32Array(count * width), 5);
        gatherRows(ctx, dst, s, index, width);
        t.ok(sameBits(await readF32(ctx, dst), want), `${kind} ${dtype} [${srcRows}, ${width}] × ${count} rows`);
      }
    }
  }
  t.throws(
    () =>
      gatherRows(
        ctx,
        uploadTensor(ctx, new Float32Array(8)),
        uploadTensor(ctx, new Float32Array(8)),
        Int32Array.of(0, 4),
        4,
      ),
    /gatherRows: index values must be in \[0, 2\), got 4/,
  );
});

t.test('scatterAddRows: repeated indices add in the cpu order (bit-exact), split destinations', async (t) => {
  const ctx = await testGpu();
  for (const [dstRows, width, count] of [
    [10, 7, 40],
    [300, 33, 64],
    [3, 1, 50],
    [50, 300, 120],
    [6, 4, 0],
    [1, 5, 7],
  ] as const) {
    const dst = randomArray(rng, dstRows * width),
      src = randomArray(rng, count * width, 3);
    const index = Int32Array.from({ length: count }, () => rng.int(Math.min(dstRows, 1 + (count >> 2))));
    const want = dst.slice();
    cpuOps.scatterAddRows(want, src, index, width);
    const dt = place(ctx, dst, 1);
    scatterAddRows(ctx, dt, place(ctx, src, 2), index, width);
    t.ok(sameBits(await readF32(ctx, dt), want), `view [${dstRows}, ${width}] ← ${count} rows`);
    const sp = splitMatrix(ctx, dst, width, Math.max(1, Math.ceil(dstRows / 4)), 'f32');
    scatterAddRows(ctx, sp, place(ctx, src, 0), index, width);
    t.ok(sameBits(await readF32(ctx, sp), want), `split in ${sp.split!.parts.length} parts`);
  }
  t.throws(
    () =>
      scatterAddRows(
        ctx,
        uploadTensor(ctx, new Float32Array(8)),
        uploadTensor(ctx, new Float32Array(8)),
        Int32Array.of(-1, 0),
        4,
      ),
    /scatterAddRows: index values must be in \[0, 2\), got -1/,
  );
});

/** Per element |dx0| + |rstd·w·dy| + |x·c|: the magnitudes the rmsnorm backward adds and subtracts. */
function dxTermScale(
  dx0: Float32Array,
  dy: Float32Array,
  x: Float32Array,
  w: Float32Array,
  rstd: Float32Array,
  rows: number,
  dim: number,
): Float64Array {
  const out = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const inv = rstd[r]!,
      o = r * dim;
    let dot = 0;
    for (let i = 0; i < dim; i++) dot += w[i]! * dy[o + i]! * x[o + i]!;
    const c = (dot * inv ** 3) / dim;
    for (let i = 0; i < dim; i++)
      out[o + i] = Math.abs(dx0[o + i]!) + Math.abs(inv * w[i]! * dy[o + i]!) + Math.abs(x[o + i]! * c);
  }
  return out;
}

function scaledError(a: Float32Array, b: Float32Array, scale: Float64Array): number {
  let e = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!) / Math.max(scale[i]!, 1e-30);
    if (!(d <= e)) e = d;
  }
  return e;
}

/** Runs fn under each reduction variant the device can run (SwiftShader: subgroup and workgroup). */
async function forEachReduction(ctx: GpuContext, fn: (label: string) => Promise<void>): Promise<void> {
  for (const sg of reduction(ctx) === 'subgroup' ? [true, false] : [false]) {
    kernelVariants.subgroups = sg;
    try {
      await fn(reduction(ctx));
    } finally {
      kernelVariants.subgroups = true;
    }
  }
}

t.test('rmsnorm forward and backward (f32 and f16 weights, dw over many row blocks)', async (t) => {
  const ctx = await testGpu();
  if (/swiftshader/i.test(ctx.info.adapter))
    t.equal(reduction(ctx), 'subgroup', 'SwiftShader runs the subgroup variant (and the workgroup one when forced)');
  else t.comment(`reduction variants run here: ${reduction(ctx) === 'subgroup' ? 'subgroup, workgroup' : 'workgroup'}`);
  await forEachReduction(ctx, async (variant) => {
    for (const [rows, dim] of [
      [1, 1],
      [3, 7],
      [5, 256],
      [17, 300],
      [130, 96],
      [2, 1536],
      [0, 8],
    ] as const) {
      for (const wType of ['f32', 'f16'] as const) {
        const n = rows * dim;
        const x = randomArray(rng, n, 2),
          w = randomArray(rng, dim, 1.5),
          dy = randomArray(rng, n);
        const dx0 = randomArray(rng, n),
          dw0 = randomArray(rng, dim);
        const wc = wType === 'f16' ? f16Round(w) : w;
        const y = new Float32Array(n),
          rstd = new Float32Array(rows);
        cpuOps.rmsnormForward(y, rstd, x, wc, rows, dim, 1e-6);
        const dx = dx0.slice(),
          dw = dw0.slice();
        cpuOps.rmsnormBackward(dx, dw, dy, x, wc, rstd, rows, dim);
        const yt = place(ctx, new Float32Array(n), 1),
          rt = place(ctx, new Float32Array(rows), 2),
          xt = place(ctx, x, 3),
          wt = place(ctx, w, 5, wType);
        rmsnormForward(ctx, yt, rt, xt, wt, rows, dim, 1e-6);
        const label = `${variant} ${wType} [${rows}, ${dim}]`;
        t.ok(note('rmsnormForward y', relError(await readF32(ctx, yt), y), label) < 2e-6, `${label} y`);
        t.ok(note('rmsnormForward rstd', relError(await readF32(ctx, rt), rstd), label) < 2e-6, `${label} rstd`);
        const dxt = place(ctx, dx0, 7),
          dwt = place(ctx, dw0, 1);
        rmsnormBackward(ctx, dxt, dwt, place(ctx, dy, 2), xt, wt, rt, rows, dim);
        // dx is a difference of two terms that cancel when dim is small (dim 1: dx ∝ eps/(x²+eps)),
        // so its error is measured against the size of the terms, not of the result.
        const scale = dxTermScale(dx0, dy, x, wc, rstd, rows, dim);
        const dxGpu = await readF32(ctx, dxt);
        note('rmsnormBackward dx (relative to max |dx|)', relError(dxGpu, dx), label);
        t.ok(
          note('rmsnormBackward dx (relative to the terms)', scaledError(dxGpu, dx, scale), label) < 1e-6,
          `${label} dx`,
        );
        t.ok(note('rmsnormBackward dw', relError(await readF32(ctx, dwt), dw), label) < 1e-5, `${label} dw`);
        const dxOnly = place(ctx, dx0, 0);
        rmsnormBackward(ctx, dxOnly, null, place(ctx, dy, 0), xt, wt, rt, rows, dim);
        t.ok(scaledError(await readF32(ctx, dxOnly), dx, scale) < 1e-6, `${label} dx without dw`);
      }
    }
  });
});

t.test('rope: both directions against the cpu, inverse round trip, position checks', async (t) => {
  const ctx = await testGpu();
  for (const [rows, nHeads, headDim] of [
    [5, 3, 8],
    [37, 2, 64],
    [1, 1, 2],
    [9, 12, 10],
    [0, 2, 4],
  ] as const) {
    const table = cpuOps.ropeTable(10000, headDim, 64);
    const positions = Int32Array.from({ length: rows + 2 }, () => rng.int(table.maxPos));
    const n = rows * nHeads * headDim;
    const x = randomArray(rng, n, 3);
    for (const dir of [1, -1] as const) {
      const want = x.slice();
      cpuOps.ropeApply(want, positions, rows, nHeads, headDim, table, dir);
      const xt = place(ctx, x, 3);
      ropeApply(ctx, xt, positions, rows, nHeads, headDim, table, dir);
      t.ok(
        note('ropeApply', relError(await readF32(ctx, xt), want), `[${rows}, ${nHeads}×${headDim}]`) < 1e-6,
        `[${rows}, ${nHeads}×${headDim}] direction ${dir}`,
      );
      ropeApply(ctx, xt, positions, rows, nHeads, headDim, table, dir === 1 ? -1 : 1);
      t.ok(
        note('rope round trip', relError(await readF32(ctx, xt), x), `[${rows}, ${nHeads}×${headDim}]`) < 1e-5,
        'inverse undoes it',
      );
    }
  }
  const table = cpuOps.ropeTable(10000, 4, 16);
  t.throws(
    () => ropeApply(ctx, uploadTensor(ctx, new Float32Array(8)), Int32Array.of(0, table.maxPos), 2, 1, 4, table, 1),
    /rope: position \d+ beyond table/,
  );
});

t.test('swiglu over packed gate | up rows (gate and up as one projection)', async (t) => {
  const ctx = await testGpu();
  await forEachVariant(async (variant) => {
    for (const [rows, width] of [
      [1, 1],
      [5, 3],
      [3, 4],
      [7, 8],
      [2, 13],
      [33, 64],
    ] as const)
      for (const off of [0, 3, 4]) {
        const gu = randomArray(rng, rows * 2 * width, 6);
        gu[0] = -100;
        // The cpu op on packed rows equals the plain op on the gate and up halves.
        const g = new Float32Array(rows * width),
          u = new Float32Array(rows * width);
        for (let r = 0; r < rows; r++) {
          g.set(gu.subarray(2 * r * width, (2 * r + 1) * width), r * width);
          u.set(gu.subarray((2 * r + 1) * width, (2 * r + 2) * width), r * width);
        }
        const want = new Float32Array(rows * width),
          plain = new Float32Array(rows * width);
        cpuOps.swigluPackedForward(want, gu, rows, width);
        cpuOps.swigluForward(plain, g, u, rows * width);
        t.same([...want], [...plain], `cpu: packed rows equal the plain op (${rows}×${width})`);
        const a = place(ctx, new Float32Array(rows * width), off);
        swigluPackedForward(ctx, a, place(ctx, gu, off === 3 ? 4 : off), rows, width);
        const e = note('swigluPackedForward', relError(await readF32(ctx, a), want), `${rows}×${width}`);
        t.ok(e < 1e-6, `${variant} ${rows}×${width} off=${off}: rel error ${e.toExponential(2)}`);
      }
  });
  t.throws(
    () => swigluPackedForward(ctx, place(ctx, new Float32Array(8), 0), place(ctx, new Float32Array(15), 0), 2, 4),
    /gu/,
    'gu shorter than rows × 2·width',
  );
});

t.test('the device self-check (checkElementwise) passes here too', async (t) => {
  const ctx = await testGpu();
  const rows = await checkElementwise(ctx, 96, 200, 9);
  t.comment(formatElementwiseChecks(rows));
  t.ok(rows.length >= 20, `${rows.length} checks`);
  for (const r of rows) t.ok(r.ok, `${r.op} ${r.variant}: ${r.error.toExponential(2)} ≤ ${r.tolerance}`);
});

t.test('every kernel variant ran (pipelines built)', async (t) => {
  const ctx = await testGpu();
  const keys = [...ctx.state.pipelines.keys()].map((k) => k.split('|')[0]!);
  const want = [
    'copy',
    'copy4',
    'add',
    'add4',
    'swiglu.fwd',
    'swiglu.fwd4',
    'swiglu.bwd',
    'swiglu.bwd4',
    'swiglu.packed',
    'swiglu.packed4',
    'dropout',
    'dropout4',
    'dropoutHashes',
    'gatherRows',
    'scatterAddRows',
    'rope',
    'rmsnorm.dw',
    'rmsnorm.dw.acc',
    'rmsnorm.dw.reduce',
    'rmsnorm.fwd.workgroup',
    'rmsnorm.bwd.workgroup',
    ...(/swiftshader/i.test(ctx.info.adapter) ? ['rmsnorm.fwd.subgroup', 'rmsnorm.bwd.subgroup'] : []),
  ];
  for (const k of want) t.ok(keys.includes(k), k);
});

t.test('errors measured', async (t) => {
  for (const [k, v] of worst) t.comment(`${k}: max relative error ${v.err.toExponential(2)} (${v.where})`);
  t.pass(`${worst.size} checks`);
});

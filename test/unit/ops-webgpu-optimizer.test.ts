// The WebGPU optimizer kernels: AdamW against the cpu op (torch semantics, gradScale applied to the
// gradient in place) over several steps, with param/grad/m/v as views at odd offsets of one flat
// buffer and as aligned separate tensors (vec4 path + scalar tail); the sum of squares behind the
// global grad norm against a float64 sum, including values whose squares overflow f32, several
// tensors and split tensors in one read-back, and the non-finite check (NaN / ±Infinity).
import t from 'tap';
import { readF32, uploadTensor, type GpuContext } from '../../src/ops/webgpu/context.js';
import { copyTensor } from '../../src/ops/webgpu/elementwise.js';
import { viewOf, type GpuTensor } from '../../src/ops/webgpu/tensor.js';
import { kernelVariants } from '../../src/ops/webgpu/operands.js';
import { reduction } from '../../src/ops/webgpu/reduce-wgsl.js';
import { adamwStep, sumOfSquaresChunk, sumOfSquares, sumOfSquaresReport } from '../../src/ops/webgpu/optimizer.js';
import { cpuOps } from '../../src/ops/cpu/index.js';
import { randomArray, relError, Rng, testGpu } from '../helpers/gpu-helpers.js';

const rng = new Rng(99);
const LR = 1e-3,
  B1 = 0.9,
  B2 = 0.999,
  EPS = 1e-8;
const worst = new Map<string, { err: number; where: string }>();
function note(name: string, err: number, where: string): number {
  if (!(err <= (worst.get(name)?.err ?? -1))) worst.set(name, { err, where });
  return err;
}

const sumSq64 = (a: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return s;
};

interface AdamCase {
  n: number;
  steps: number;
  gradScale: number;
  wd: number;
}

t.test('adamwStep equals the cpu op over several steps (one flat buffer, odd offsets)', async (t) => {
  const ctx = await testGpu();
  const cases: AdamCase[] = [
    { n: 1, steps: 3, gradScale: 1, wd: 0 },
    { n: 1001, steps: 5, gradScale: 1, wd: 0.01 },
    { n: 4099, steps: 4, gradScale: 0.37, wd: 0.1 },
    { n: 300, steps: 2, gradScale: 2.5, wd: 0 },
  ];
  for (const c of cases) {
    for (const layout of ['one buffer, odd offsets', 'separate, aligned'] as const) {
      const param = randomArray(rng, c.n, 0.5),
        m = new Float32Array(c.n),
        v = new Float32Array(c.n);
      const views = gpuViews(ctx, layout, [param, new Float32Array(c.n), m, v]);
      const [pt, gt, mt, vt] = views;
      for (let step = 1; step <= c.steps; step++) {
        const grad = randomArray(rng, c.n, 0.01 * step);
        if (c.n > 10) grad[3] = 0;
        writeInto(ctx, views[1]!, grad);
        const g = grad.slice(),
          before = { param: param.slice(), m: m.slice(), v: v.slice() };
        cpuOps.adamwStep(param, g, m, v, LR, B1, B2, EPS, c.wd, step, c.gradScale);
        adamwStep(ctx, pt!, gt!, mt!, vt!, LR, B1, B2, EPS, c.wd, step, c.gradScale);
        const where = `${layout} n=${c.n} step ${step} gradScale ${c.gradScale} wd ${c.wd}`;
        const terms = adamTerms(before, g, m, v, c.wd, step);
        for (const [name, tensor, want] of [
          ['param', pt, param],
          ['m', mt, m],
          ['v', vt, v],
        ] as const) {
          const got = await readF32(ctx, tensor!);
          note(`adamw ${name} (relative to max |${name}|)`, relError(got, want), where);
          t.ok(
            note(`adamw ${name} (relative to the terms)`, scaledError(got, want, terms[name]), where) < 1e-6,
            `${where}: ${name}`,
          );
        }
        t.ok(relError(await readF32(ctx, gt!), g) < 1e-7, `${where}: grad (scaled in place as on the cpu)`);
        // Every step starts from the cpu's state, so each step's error is measured on its own.
        for (const [tensor, host] of [
          [pt, param],
          [mt, m],
          [vt, v],
        ] as const)
          writeInto(ctx, tensor!, host);
      }
    }
  }
  const s = uploadTensor(ctx, new Float32Array(4));
  t.throws(
    () => adamwStep(ctx, s, s, s, uploadTensor(ctx, new Float32Array(3)), 1e-3, 0.9, 0.999, 1e-8, 0, 1, 1),
    /length mismatch \(param 4, grad 4, m 4, v 3\)/,
  );
  t.throws(() => adamwStep(ctx, s, s, s, s, 1e-3, 0.9, 0.999, 1e-8, 0, 0, 1), /step must be an integer ≥ 1/);
  const empty = uploadTensor(ctx, new Float32Array(0));
  adamwStep(ctx, empty, empty, empty, empty, 1e-3, 0.9, 0.999, 1e-8, 0, 1, 1);
  t.pass('n = 0 is a no-op');
});

/**
 * Per element, the magnitudes each AdamW update adds up (m = β1·m + (1−β1)·g can cancel, and so
 * can param·decay − step): errors are measured against these, not against a result near zero.
 */
function adamTerms(
  before: { param: Float32Array; m: Float32Array; v: Float32Array },
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  wd: number,
  step: number,
): Record<'param' | 'm' | 'v', Float64Array> {
  const n = g.length,
    out = { param: new Float64Array(n), m: new Float64Array(n), v: new Float64Array(n) };
  const stepSize = LR / (1 - B1 ** step),
    bc2 = Math.sqrt(1 - B2 ** step);
  for (let i = 0; i < n; i++) {
    out.m[i] = Math.abs(B1 * before.m[i]!) + Math.abs((1 - B1) * g[i]!);
    out.v[i] = B2 * before.v[i]! + (1 - B2) * g[i]! * g[i]!;
    out.param[i] =
      Math.abs(before.param[i]! * (1 - LR * wd)) + Math.abs((stepSize * m[i]!) / (Math.sqrt(v[i]!) / bc2 + EPS));
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

/** The arrays as GPU views: in one flat buffer at odd offsets, or as separate aligned tensors. */
function gpuViews(ctx: GpuContext, layout: string, arrays: Float32Array[]): GpuTensor[] {
  if (layout.startsWith('separate')) return arrays.map((a) => uploadTensor(ctx, a));
  const gap = 3;
  const total = arrays.reduce((s, a) => s + a.length + gap, gap);
  const flat = randomArray(rng, total, 50);
  let at = gap;
  const offs = arrays.map((a) => {
    flat.set(a, at);
    const o = at;
    at += a.length + gap;
    return o;
  });
  const buf = uploadTensor(ctx, flat);
  return arrays.map((a, i) => viewOf(buf, offs[i]!, a.length));
}

/** Overwrites a view's elements (through an upload and the copy kernel). */
function writeInto(ctx: GpuContext, tensor: GpuTensor, host: Float32Array): void {
  copyTensor(ctx, tensor, uploadTensor(ctx, host), host.length);
}

/** Runs fn under each reduction variant SwiftShader has (subgroups, workgroup tree). */
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

t.test('sumOfSquares equals a float64 sum (sizes around the chunk, odd offsets, both reductions)', async (t) => {
  const ctx = await testGpu();
  if (/swiftshader/i.test(ctx.info.adapter))
    t.equal(reduction(ctx), 'subgroup', 'SwiftShader runs the subgroup variant (and the workgroup one when forced)');
  else t.comment(`reduction variants run here: ${reduction(ctx) === 'subgroup' ? 'subgroup, workgroup' : 'workgroup'}`);
  await forEachReduction(ctx, async (variant) => {
    const chunk = sumOfSquaresChunk(ctx);
    for (const n of [0, 1, chunk - 1, chunk, chunk + 1, 100003]) {
      for (const off of [0, 3]) {
        const x = randomArray(rng, n, 2);
        const [view] = gpuViews(ctx, off ? 'one buffer' : 'separate', [x]);
        const got = await sumOfSquares(ctx, view!);
        const want = sumSq64(x);
        const where = `${variant} n=${n} off=${off}`;
        t.ok(
          note('sumOfSquares', Math.abs(got - want) / Math.max(want, 1e-30), where) < 1e-6,
          `${where}: ${got} vs ${want}`,
        );
      }
    }
  });
});

t.test('sumOfSquares: huge and tiny finite values never overflow into a false Infinity', async (t) => {
  const ctx = await testGpu();
  await forEachReduction(ctx, async (variant) => {
    const chunk = sumOfSquaresChunk(ctx);
    const x = randomArray(rng, 3 * chunk + 5, 1);
    x[0] = 3e38;
    x[1] = -2e30;
    x[chunk + 7] = 1e-30;
    x[2 * chunk] = 1e25;
    for (let i = 2 * chunk + 1; i < 3 * chunk; i++) x[i] = 1e-20 * (i % 7);
    const got = await sumOfSquares(ctx, uploadTensor(ctx, x));
    const want = sumSq64(x);
    t.ok(Number.isFinite(got), `${variant}: finite: ${got}`);
    t.ok(
      note('sumOfSquares (huge values)', Math.abs(got - want) / want, `${variant}, max |x| 3e38`) < 1e-6,
      `${variant}: ${got} vs ${want}`,
    );
    const small = Float32Array.from({ length: 5000 }, (_, i) => 1e-25 * ((i % 13) - 6));
    const gs = await sumOfSquares(ctx, uploadTensor(ctx, small));
    t.ok(
      note('sumOfSquares (tiny values)', Math.abs(gs - sumSq64(small)) / sumSq64(small), `${variant}, max |x| 6e-25`) <
        1e-6,
      `${variant}: ${gs} vs ${sumSq64(small)}`,
    );
  });
});

t.test('sumOfSquares: several tensors and split tensors in one read-back', async (t) => {
  const ctx = await testGpu();
  const a = randomArray(rng, 5000, 1),
    b = randomArray(rng, 17, 3),
    c = randomArray(rng, 9000, 0.5);
  const parts = [uploadTensor(ctx, c.subarray(0, 3000)), uploadTensor(ctx, c.subarray(3000))];
  const split: GpuTensor = {
    buffer: parts[0]!.buffer,
    offset: 0,
    length: c.length,
    dtype: 'f32',
    split: { rowWidth: 1000, rowsPerPart: 3, parts },
  };
  const got = await sumOfSquares(ctx, [
    uploadTensor(ctx, a),
    uploadTensor(ctx, b),
    split,
    uploadTensor(ctx, new Float32Array(0)),
  ]);
  const want = sumSq64(a) + sumSq64(b) + sumSq64(c);
  t.ok(note('sumOfSquares (list + split)', Math.abs(got - want) / want, '3 tensors') < 1e-6, `${got} vs ${want}`);
});

t.test('sumOfSquares is the non-finite check: NaN if any NaN, else Infinity if any ±Infinity', async (t) => {
  const ctx = await testGpu();
  await forEachReduction(ctx, async (variant) => {
    const n = 3 * Math.max(sumOfSquaresChunk(ctx), 2000) + 11;
    const cases: [string, [number, number][], number, number, number][] = [
      ['one NaN', [[5000, NaN]], NaN, 1, 0],
      ['+Infinity', [[17, Infinity]], Infinity, 0, 1],
      ['-Infinity in the last partial chunk', [[n - 1, -Infinity]], Infinity, 0, 1],
      [
        'NaN and Infinity',
        [
          [3, Infinity],
          [4000, NaN],
          [4001, NaN],
        ],
        NaN,
        2,
        1,
      ],
      ['a NaN with a payload', [[100, NaN]], NaN, 1, 0],
    ];
    for (const [name, puts, want, nans, infs] of cases) {
      const x = randomArray(rng, n, 1);
      for (const [i, v] of puts) x[i] = v;
      if (name === 'a NaN with a payload') new Uint32Array(x.buffer)[100] = 0xffc01234;
      const r = await sumOfSquaresReport(ctx, uploadTensor(ctx, x));
      t.ok(Object.is(r.sumSq, want), `${variant} ${name}: ${r.sumSq}`);
      t.equal(r.nanCount, nans, `${variant} ${name}: NaN count`);
      t.equal(r.infCount, infs, `${variant} ${name}: infinity count`);
    }
  });
  const clean = await sumOfSquaresReport(ctx, uploadTensor(ctx, Float32Array.of(3, 4)));
  t.same(clean, { sumSq: 25, nanCount: 0, infCount: 0 }, 'a finite tensor reports no non-finite elements');
});

t.test('every kernel variant ran (pipelines built)', async (t) => {
  const ctx = await testGpu();
  const keys = [...ctx.state.pipelines.keys()].map((k) => k.split('|')[0]!);
  const want = [
    'adamw',
    'adamw4',
    'adamw.scaled',
    'adamw.scaled4',
    'sumsq.workgroup',
    ...(/swiftshader/i.test(ctx.info.adapter) ? ['sumsq.subgroup'] : []),
  ];
  for (const k of want) t.ok(keys.includes(k), k);
});

t.test('errors measured', async (t) => {
  for (const [k, v] of worst) t.comment(`${k}: max relative error ${v.err.toExponential(2)} (${v.where})`);
  t.pass(`${worst.size} checks`);
});

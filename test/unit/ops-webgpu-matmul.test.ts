// WebGPU matrix products against the cpu op (src/ops/matmul.ts): every variant SwiftShader can run
// (tiled, subgroup, the f16 kernel emulated in f32, the barrier-free direct one), every register
// tile, shapes that are not tile multiples (and empty ones), views at odd offsets, f16 weights,
// accumulate on and off, split-K, weights split across buffers, and the self-check. The fused
// epilogue: ops-webgpu-gemm-epilogue.test.ts.
import t, { type Test } from 'tap';
import { allocTensor, readF32, uploadTensor } from '../../src/ops/webgpu/context.js';
import {
  matmulNN,
  matmulNT,
  matmulTN,
  variantUnavailable,
  type MatmulOptions,
  type MatmulVariant,
} from '../../src/ops/webgpu/matmul.js';
import { pickVariant } from '../../src/ops/webgpu/gemm.js';
import { TILES, gemmKernel, type TileName } from '../../src/ops/webgpu/matmul-kernels.js';
import { directTileSize } from '../../src/ops/webgpu/matmul-direct.js';
import { sgmKernel } from '../../src/ops/webgpu/matmul-sgmatrix.js';
import { contextForDevice } from '../../src/ops/webgpu/context.js';
import { prepareMatmul, selfCheckMatmul } from '../../src/ops/webgpu/matmul-check.js';
import { matmulNNPlain, matmulNTPlain, matmulTNPlain, type FloatArray } from '../../src/ops/matmul.js';
import { Rng, randomArray, relError, testGpu } from '../helpers/gpu-helpers.js';
import {
  TOL,
  compileError,
  f16Round,
  nullBackendDevice,
  placed,
  splitMatrix,
} from '../helpers/webgpu-matmul-helpers.js';

type Plain = (c: FloatArray, a: FloatArray, b: FloatArray, m: number, k: number, n: number, acc?: boolean) => void;
const OPS = [
  ['NN', matmulNN, matmulNNPlain],
  ['NT', matmulNT, matmulNTPlain],
  ['TN', matmulTN, matmulTNPlain],
] as const;

const worst: Record<string, number> = {};
function note(key: string, e: number): void {
  worst[key] = Math.max(worst[key] ?? 0, e);
}

async function compare(
  t: Test,
  variant: MatmulVariant,
  shape: [number, number, number],
  bType: 'f32' | 'f16',
  accumulate: boolean,
  rng: Rng,
  extra: MatmulOptions = {},
): Promise<void> {
  const ctx = await testGpu();
  const [m, k, n] = shape;
  const a = randomArray(rng, m * k, 2),
    c0 = randomArray(rng, m * n);
  let b = randomArray(rng, k * n);
  if (bType === 'f16') b = f16Round(b);
  const A = placed(ctx, a, 3),
    B = placed(ctx, b, 5, bType);
  for (const [name, gpu, cpu] of OPS) {
    const C = placed(ctx, c0, 7);
    gpu(ctx, C, A, B, m, k, n, accumulate, { matmulVariant: variant, ...extra });
    const ref = Float32Array.from(c0);
    (cpu as Plain)(ref, a, b, m, k, n, accumulate);
    const around = await readF32(ctx, { ...C, offset: C.offset - 1, length: C.length + 2 });
    t.ok(around[0] === 1234.5 && around[C.length + 1] === 1234.5, `${variant} ${name}: nothing written outside C`);
    const got = around.subarray(1, C.length + 1);
    const e = relError(got, ref);
    note(`${variant} B=${bType}`, e);
    t.ok(
      e <= TOL[variant],
      `${variant} ${name} ${m}x${k}x${n} B=${bType} acc=${accumulate} ${JSON.stringify(extra)}: rel error ${e.toExponential(2)}`,
    );
  }
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 7],
  [17, 33, 65],
  [70, 19, 129],
  [130, 40, 9],
];

t.test(
  'NN/NT/TN equal the cpu op for every variant SwiftShader runs, f32 and f16 B, accumulate on/off, odd offsets',
  async (t) => {
    const ctx = await testGpu();
    const rng = new Rng(1);
    const variants = (['tiled', 'subgroup', 'f16-emulated', 'direct'] as MatmulVariant[]).filter(
      (v) => !variantUnavailable(ctx, v),
    );
    t.same(
      variants,
      ['tiled', 'subgroup', 'f16-emulated', 'direct'],
      'SwiftShader offers subgroups (the subgroup variant must be tested)',
    );
    for (const variant of variants) {
      for (const shape of SHAPES) {
        for (const bType of ['f32', 'f16'] as const) await compare(t, variant, shape, bType, shape[0] % 2 === 1, rng);
      }
    }
  },
);

t.test('every register tile, on sizes off its multiples', async (t) => {
  // (SwiftShader itself runs every shape on 'medium': each further tile is a pipeline to compile.)
  const rng = new Rng(2);
  for (const tile of ['large', 'narrow', 'wide'] as TileName[]) {
    const { bm, bn, bk } = TILES[tile];
    await compare(t, 'tiled', [bm + 3, 2 * bk + 5, bn - 1], 'f16', true, rng, { tile });
  }
  const { bm, bn, bk } = TILES.narrow;
  await compare(t, 'subgroup', [bm - 5, bk + 3, bn + 7], 'f32', false, rng, { tile: 'narrow' });
  // The direct family's tiles (its own sizes under the same names), both B types.
  for (const tile of Object.keys(TILES) as TileName[]) {
    const d = directTileSize(tile);
    await compare(t, 'direct', [d.bm + 3, 2 * d.bk + 5, d.bn - 1], 'f16', true, rng, { tile });
    await compare(t, 'direct', [2 * d.bm - 1, 7, d.bn + 1], 'f32', false, rng, { tile });
  }
});

t.test('split-K: K slices summed by the reduce kernel, every variant', async (t) => {
  const rng = new Rng(3);
  for (const variant of ['tiled', 'subgroup', 'f16-emulated', 'direct'] as MatmulVariant[]) {
    await compare(t, variant, [9, 301, 37], 'f16', true, rng, { splitK: 4 });
    await compare(t, variant, [40, 200, 3], 'f32', false, rng, { splitK: 3, tile: 'narrow' });
  }
});

t.test('empty sizes: M or N zero leave C alone, K zero gives C = 0 (or C unchanged when accumulating)', async (t) => {
  const ctx = await testGpu();
  const c0 = Float32Array.of(1, 2, 3, 4, 5, 6);
  const A = uploadTensor(ctx, new Float32Array(6).fill(9)),
    B = uploadTensor(ctx, new Float32Array(6).fill(9));
  for (const [name, gpu] of OPS) {
    const C = uploadTensor(ctx, c0);
    gpu(ctx, C, A, B, 0, 2, 3, false);
    gpu(ctx, C, A, B, 2, 1, 0, false);
    t.same([...(await readF32(ctx, C))], [...c0], `${name}: m=0 / n=0 do nothing`);
    gpu(ctx, C, A, B, 2, 0, 3, true);
    t.same([...(await readF32(ctx, C))], [...c0], `${name}: k=0 accumulating adds nothing`);
    gpu(ctx, C, A, B, 2, 0, 3, false);
    t.same([...(await readF32(ctx, C))], [0, 0, 0, 0, 0, 0], `${name}: k=0 overwriting gives zeros`);
  }
});

t.test(
  'split tensors: B split along N (forward), along K (dx = dy·W), C split along M (dW), A split along M',
  async (t) => {
    const ctx = await testGpu();
    const rng = new Rng(5);
    for (const matmulVariant of ['tiled', 'direct'] as const) {
      const o = { matmulVariant };
      const rows = 13,
        inF = 24,
        outF = 45;
      for (const bType of ['f32', 'f16'] as const) {
        const w = bType === 'f16' ? f16Round(randomArray(rng, outF * inF)) : randomArray(rng, outF * inF);
        const W = splitMatrix(ctx, w, inF, 16, bType); // parts of 16, 16, 13 rows
        t.equal(W.split!.parts.length, 3);
        const x = randomArray(rng, rows * inF),
          dy = randomArray(rng, rows * outF);
        // y = x·Wᵀ
        const y = allocTensor(ctx, rows * outF);
        matmulNT(ctx, y, placed(ctx, x, 1), W, rows, inF, outF, false, o);
        const yRef = new Float32Array(rows * outF);
        matmulNTPlain(yRef, x, w, rows, inF, outF, false);
        t.ok(relError(await readF32(ctx, y), yRef) < 2e-6, `${matmulVariant}: NT with B split along N (${bType})`);
        // dx += dy·W
        const dx0 = randomArray(rng, rows * inF),
          dx = placed(ctx, dx0, 2);
        matmulNN(ctx, dx, placed(ctx, dy, 3), W, rows, outF, inF, true, o);
        const dxRef = Float32Array.from(dx0);
        matmulNNPlain(dxRef, dy, w, rows, outF, inF, true);
        t.ok(relError(await readF32(ctx, dx), dxRef) < 2e-6, `${matmulVariant}: NN with B split along K (${bType})`);
      }
      // dW [outF, inF] += dyᵀ·x with dW split in row blocks; and A split along M.
      const x = randomArray(rng, rows * inF),
        dy = randomArray(rng, rows * outF),
        dW0 = randomArray(rng, outF * inF);
      const dW = splitMatrix(ctx, dW0, inF, 10);
      matmulTN(ctx, dW, placed(ctx, dy, 1), placed(ctx, x, 2), outF, rows, inF, true, o);
      const dWRef = Float32Array.from(dW0);
      matmulTNPlain(dWRef, dy, x, outF, rows, inF, true);
      t.ok(relError(await readF32(ctx, dW), dWRef) < 2e-6, `${matmulVariant}: TN with C split along M`);
      const aSplit = splitMatrix(ctx, dy, outF, 4); // [rows, outF] in blocks of 4 rows
      const w = randomArray(rng, outF * inF);
      const out = allocTensor(ctx, rows * inF);
      matmulNN(ctx, out, aSplit, placed(ctx, w, 1), rows, outF, inF, false, o);
      const outRef = new Float32Array(rows * inF);
      matmulNNPlain(outRef, dy, w, rows, outF, inF, false);
      t.ok(relError(await readF32(ctx, out), outRef) < 2e-6, `${matmulVariant}: NN with A split along M`);
      const aT = splitMatrix(ctx, dy, outF, 5); // TN: A [K=rows, M=outF] split along K
      const dW2 = allocTensor(ctx, outF * inF);
      matmulTN(ctx, dW2, aT, splitMatrix(ctx, x, inF, 3), outF, rows, inF, false, o);
      const dW2Ref = new Float32Array(outF * inF);
      matmulTNPlain(dW2Ref, dy, x, outF, rows, inF, false);
      t.ok(
        relError(await readF32(ctx, dW2), dW2Ref) < 2e-6,
        `${matmulVariant}: TN with A and B split along K (different blocks)`,
      );
    }
  },
);

t.test('bad operands are refused with the operand named', async (t) => {
  const ctx = await testGpu();
  const a = uploadTensor(ctx, new Float32Array(6)),
    c = allocTensor(ctx, 4);
  t.throws(() => matmulNN(ctx, c, a, a, 2, 3, 3, false), /matmulNN: b has 6 elements, needs k\*n = 3\*3 = 9/);
  t.throws(
    () => matmulNT(ctx, c, uploadTensor(ctx, new Float32Array(6), 'f16'), a, 2, 3, 2, false),
    /matmulNT: a must be f32/,
  );
  t.throws(() => matmulTN(ctx, c, a, a, 2, -1, 2, false), /dimensions must be non-negative integers/);
  if (variantUnavailable(ctx, 'f16'))
    t.throws(
      () => matmulNT(ctx, c, a, a, 2, 3, 2, false, { matmulVariant: 'f16' }),
      /matmul variant 'f16' is not available: the device has no `shader-f16` feature/,
    );
});

t.test(
  'self-check: the variants SwiftShader offers pass and are admitted; the rest are reported unavailable',
  async (t) => {
    const ctx = await testGpu();
    const prepared = await prepareMatmul(ctx, { quick: true });
    const emulated = await selfCheckMatmul(ctx, ['f16-emulated'], { quick: true });
    for (const c of [...prepared.checks, ...emulated])
      t.ok(
        c.ok,
        `${c.variant} ${c.op} B=${c.b} ${c.shape}: ${c.relError.toExponential(2)} ≤ ${c.tolerance}${c.error ? ` (${c.error})` : ''}`,
      );
    t.same(prepared.verified, ['tiled', 'subgroup', 'direct'], 'admitted to auto');
    t.equal(pickVariant(ctx, false), 'direct', 'a CPU adapter takes the barrier-free kernel for f32 weights');
    t.equal(pickVariant(ctx, true), 'direct', 'and for f16 weights (no f16 arithmetic, no subgroup matrices here)');
    t.comment(
      `unavailable here: ${(['f16', 'subgroup-matrix'] as const).map((v) => `${v} (${variantUnavailable(ctx, v)})`).join('; ')}`,
    );
  },
);

t.test(
  "the kernels SwiftShader cannot run (f16 arithmetic, subgroup matrices) pass validation on Dawn's null backend",
  async (t) => {
    // The null backend executes nothing: this proves the WGSL and the pipelines are valid, not the results
    // (those are the self-check's job on a GPU machine).
    const { device, adapter } = await nullBackendDevice();
    for (const tile of Object.keys(TILES) as TileName[]) {
      for (const lowRank of [false, true]) {
        const err = await compileError(device, gemmKernel('half', tile, lowRank).code);
        t.equal(err, null, `f16-arithmetic kernel, tile ${tile}${lowRank ? ', low-rank epilogue' : ''}`);
      }
    }
    const info = {
      adapter: 'null',
      features: [...device.features].map(String),
      subgroupMinSize: adapter.info.subgroupMinSize ?? 0,
      subgroupMaxSize: adapter.info.subgroupMaxSize ?? 0,
      limits: { ...ctxLimits(device) },
    };
    const ctx = contextForDevice(device, info);
    for (const cfg of [
      { M: 16, N: 16, K: 16 },
      { M: 8, N: 8, K: 8 },
    ]) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          for (const lowRank of [false, true]) {
            const spec = sgmKernel(ctx, cfg, { transA, transB, lowRank });
            t.equal(await compileError(device, spec.code), null, `${spec.key} (${spec.threads} threads)`);
          }
        }
      }
    }
  },
);

function ctxLimits(d: GPUDevice) {
  const l = d.limits;
  return {
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    minStorageBufferOffsetAlignment: l.minStorageBufferOffsetAlignment,
  };
}

t.teardown(() => {
  for (const [k, e] of Object.entries(worst)) console.log(`# worst rel error ${k}: ${e.toExponential(2)}`);
});

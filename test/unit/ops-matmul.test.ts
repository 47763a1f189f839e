// Correctness of the matmul entry point: WASM-SIMD kernel vs a float64 reference for odd shapes, all
// three variants, accumulate on/off; threaded results bit-identical to single-threaded; the kernel
// used from inside a worker thread while the main thread also uses it; helpers never hold a process.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Rng } from '../../src/util/rng.js';
import { repoRoot } from '../../src/util/paths.js';
import {
  configureMatmulKernel,
  configureMatmulThreads,
  matmulKernelStats,
  matmulNN,
  matmulNNPlain,
  matmulNT,
  matmulTN,
  shutdownMatmulThreads,
  warmUpMatmulThreads,
  wasmKernelStatus,
} from '../../src/ops/matmul.js';

type Variant = 'NN' | 'NT' | 'TN';
const fns = { NN: matmulNN, NT: matmulNT, TN: matmulTN };
const matmulJs = pathToFileURL(join(repoRoot(), 'dist', 'src', 'ops', 'matmul.js')).href;

function randArray(rng: Rng, len: number): Float32Array {
  const x = new Float32Array(len);
  for (let i = 0; i < len; i++) x[i] = rng.next() * 2 - 1;
  return x;
}

// element (i,p) of op(A) and (p,j) of op(B) for each variant
const aAt = (v: Variant, a: Float32Array, m: number, k: number, i: number, p: number) =>
  v === 'TN' ? a[p * m + i]! : a[i * k + p]!;
const bAt = (v: Variant, b: Float32Array, k: number, n: number, p: number, j: number) =>
  v === 'NT' ? b[j * k + p]! : b[p * n + j]!;

/**
 * Compare c against the exact (float64) result. Float32 dot products of K terms, in any summation
 * order, err by at most γ_{K+1}·(Σ|a·b| + |c0|) with γ_n = n·u/(1-n·u), u = 2^-24 (Higham, ch. 3):
 * the bound grows with K as the tolerance must, and a wrong index or a dropped term breaks it by
 * orders of magnitude.
 */
function checkAgainstReference(
  v: Variant,
  c: Float32Array,
  c0: Float32Array,
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  acc: boolean,
): string | null {
  const u = 2 ** -24;
  const gamma = ((k + 2) * u) / (1 - (k + 2) * u);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = acc ? c0[i * n + j]! : 0;
      let mag = Math.abs(s);
      for (let p = 0; p < k; p++) {
        const x = aAt(v, a, m, k, i, p) * bAt(v, b, k, n, p, j);
        s += x;
        mag += Math.abs(x);
      }
      const err = Math.abs(c[i * n + j]! - s);
      if (!(err <= gamma * mag + 1e-30))
        return `${v} m=${m} k=${k} n=${n} acc=${acc}: C[${i},${j}] = ${c[i * n + j]} vs ${s} (err ${err}, bound ${gamma * mag})`;
    }
  }
  return null;
}

t.test('the WASM-SIMD kernel is built and loads', async (t) => {
  const st = wasmKernelStatus();
  t.ok(st.ok, st.ok ? 'kernel loaded' : st.reason);
});

t.test('kernel matches float64 reference for odd shapes, all variants, accumulate on/off', async (t) => {
  configureMatmulThreads({ threads: 1 });
  configureMatmulKernel({ minFlops: 0 }); // push even 1x1x1 through the kernel
  const rng = new Rng(1234);
  const dims = [1, 3, 4, 8, 17, 33, 255, 257];
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [3, 17, 1],
    [1, 255, 3],
    [17, 3, 255],
    [255, 17, 9],
    [33, 257, 17],
    [8, 4, 8],
    [5, 600, 13],
    [130, 40, 70],
  ];
  for (let r = 0; r < 12; r++)
    shapes.push([dims[rng.int(dims.length)]!, dims[rng.int(dims.length)]!, dims[rng.int(dims.length)]!]);
  const before = matmulKernelStats().kernelProducts;
  let checked = 0;
  for (const [m, k, n] of shapes) {
    for (const v of ['NN', 'NT', 'TN'] as Variant[]) {
      for (const acc of [false, true]) {
        const a = randArray(rng, m * k),
          b = randArray(rng, k * n),
          c0 = randArray(rng, m * n);
        const c = c0.slice();
        fns[v](c, a, b, m, k, n, acc);
        const bad = checkAgainstReference(v, c, c0, a, b, m, k, n, acc);
        if (bad) t.fail(bad);
        checked++;
      }
    }
  }
  t.equal(matmulKernelStats().kernelProducts - before, checked, 'every product ran on the kernel');
  configureMatmulKernel({ minFlops: 16384 });
});

t.test('k = 0 and empty products', async (t) => {
  configureMatmulKernel({ minFlops: 0 });
  for (const v of ['NN', 'NT', 'TN'] as Variant[]) {
    const c = new Float32Array([1, 2, 3, 4, 5, 6]);
    fns[v](c, new Float32Array(0), new Float32Array(0), 2, 0, 3, true);
    t.same([...c], [1, 2, 3, 4, 5, 6], `${v}: k=0 accumulate leaves C`);
    fns[v](c, new Float32Array(0), new Float32Array(0), 2, 0, 3, false);
    t.same([...c], [0, 0, 0, 0, 0, 0], `${v}: k=0 overwrite zeroes C`);
    fns[v](new Float32Array(0), new Float32Array(5), new Float32Array(0), 0, 5, 0);
  }
  configureMatmulKernel({ minFlops: 16384 });
});

t.test('Float64 inputs take the plain loops exactly', async (t) => {
  const rng = new Rng(7);
  const m = 40,
    k = 50,
    n = 30;
  const a = Float64Array.from(randArray(rng, m * k)),
    b = Float64Array.from(randArray(rng, k * n));
  const c1 = new Float64Array(m * n),
    c2 = new Float64Array(m * n);
  const before = matmulKernelStats().kernelProducts;
  matmulNN(c1, a, b, m, k, n);
  matmulNNPlain(c2, a, b, m, k, n);
  t.same(c1, c2);
  t.equal(matmulKernelStats().kernelProducts, before, 'kernel not used for Float64');
});

t.test('bad sizes are named in the error', async (t) => {
  t.throws(
    () => matmulNT(new Float32Array(6), new Float32Array(5), new Float32Array(6), 2, 3, 2),
    /matmulNT: a has 5 elements, needs m\*k/,
  );
  t.throws(
    () => matmulNN(new Float32Array(3), new Float32Array(6), new Float32Array(6), 2, 3, 2),
    /matmulNN: c has 3 elements/,
  );
  t.throws(
    () => matmulTN(new Float32Array(4), new Float32Array(6), new Float32Array(6), 2, 3.5, 2),
    /dimensions must be non-negative integers/,
  );
  t.throws(() => configureMatmulThreads({ threads: 0 }), /threads must be an integer >= 1/);
});

t.test('two threads give bit-identical results to one', async (t) => {
  const rng = new Rng(99);
  const shapes: [number, number, number][] = [
    [1024, 256, 256],
    [257, 300, 33],
    [64, 17, 255],
    [35, 1024, 9],
  ];
  const inputs = shapes.map(([m, k, n]) => ({
    m,
    k,
    n,
    a: randArray(rng, m * k),
    b: randArray(rng, k * n),
    c0: randArray(rng, m * n),
  }));
  const run = () =>
    inputs.flatMap(({ m, k, n, a, b, c0 }) =>
      (['NN', 'NT', 'TN'] as Variant[]).flatMap((v) =>
        [false, true].map((acc) => {
          const c = c0.slice();
          fns[v](c, a, b, m, k, n, acc);
          return c;
        }),
      ),
    );
  configureMatmulThreads({ threads: 1 });
  const single = run();
  configureMatmulThreads({ threads: 2, parallelMinFlops: 0 });
  t.equal(await warmUpMatmulThreads(), 2, 'one helper ready');
  const before = matmulKernelStats();
  const multi = run();
  const after = matmulKernelStats();
  t.equal(after.parallelProducts - before.parallelProducts, single.length, 'every product was shared with the helper');
  t.ok(
    after.helperChunks > before.helperChunks,
    `the helper computed ${after.helperChunks - before.helperChunks} chunks`,
  );
  for (let i = 0; i < single.length; i++) {
    if (Buffer.compare(Buffer.from(single[i]!.buffer), Buffer.from(multi[i]!.buffer)) !== 0)
      t.fail(`product ${i} differs between 1 and 2 threads`);
  }
  t.pass(`${single.length} products compared`);
  // with a correct reference too (threads change nothing, so one check covers both)
  const { m, k, n, a, b } = inputs[1]!;
  const c = new Float32Array(m * n);
  matmulNT(c, a, b, m, k, n);
  t.equal(checkAgainstReference('NT', c, c, a, b, m, k, n, false), null);
  await shutdownMatmulThreads();
  configureMatmulThreads({ threads: 1, parallelMinFlops: 4e6 });
});

// Runs in a worker thread: its own arena and helper, products checked against the plain loops.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const mm = await import(workerData.matmulJs);
  mm.configureMatmulThreads({ threads: 2, parallelMinFlops: 0 });
  await mm.warmUpMatmulThreads();
  const { a, b, m, k, n, rounds } = workerData;
  let maxDiff = 0, last;
  for (let r = 0; r < rounds; r++) {
    const c = new Float32Array(m * n), ref = new Float32Array(m * n);
    mm.matmulNT(c, a, b, m, k, n);
    if (r === 0) { mm.matmulNTPlain(ref, a, b, m, k, n); for (let i = 0; i < m * n; i++) maxDiff = Math.max(maxDiff, Math.abs(c[i] - ref[i])); }
    last = c;
  }
  const stats = mm.matmulKernelStats();
  await mm.shutdownMatmulThreads();
  parentPort.postMessage({ c: last, maxDiff, stats });
})().catch((e) => { throw e; });
`;

t.test('called from a worker thread while the main thread multiplies too', async (t) => {
  const rng = new Rng(5);
  const m = 300,
    k = 200,
    n = 150;
  const a = randArray(rng, m * k),
    b = randArray(rng, n * k);
  const worker = new Worker(workerSource, { eval: true, workerData: { matmulJs, a, b, m, k, n, rounds: 30 } });
  const result = new Promise<{
    c: Float32Array;
    maxDiff: number;
    stats: { kernelProducts: number; parallelProducts: number; helperChunks: number };
  }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  // meanwhile the main thread uses its own arena and helper
  configureMatmulThreads({ threads: 2, parallelMinFlops: 0 });
  await warmUpMatmulThreads();
  const mine = new Float32Array(m * n);
  for (let r = 0; r < 30; r++) matmulNT(mine, a, b, m, k, n);
  const got = await result;
  t.equal(got.stats.kernelProducts, 30, 'worker ran its products on the kernel');
  t.equal(got.stats.parallelProducts, 30, 'shared with its own helper thread');
  t.ok(got.stats.helperChunks > 0, `which computed ${got.stats.helperChunks} chunks`);
  t.ok(got.maxDiff < 1e-4, `worker result close to plain loops (max diff ${got.maxDiff})`);
  t.same(Buffer.from(got.c.buffer), Buffer.from(mine.buffer), 'worker and main thread results are bit-identical');
  await worker.terminate();
  await shutdownMatmulThreads();
  configureMatmulThreads({ threads: 1, parallelMinFlops: 4e6 });
});

t.test('helper threads do not keep a process alive', async (t) => {
  const script = `
    const mm = await import(${JSON.stringify(matmulJs)});
    mm.configureMatmulThreads({ threads: 2, parallelMinFlops: 0 });
    await mm.warmUpMatmulThreads();
    const c = new Float32Array(64 * 64);
    mm.matmulNN(c, new Float32Array(64 * 64).fill(1), new Float32Array(64 * 64).fill(2), 64, 64, 64);
    if (mm.matmulKernelStats().parallelProducts !== 1 || c[0] !== 128) throw new Error('bad product');
    console.log('done');`;
  const t0 = Date.now();
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    timeout: 20_000,
    encoding: 'utf8',
  });
  t.equal(out.trim(), 'done');
  t.ok(Date.now() - t0 < 15_000, 'exited promptly without shutdownMatmulThreads');
});

// The webgpu engine's cache kernels against the cpu: paged KV writes (f32 and f16 pools, one source
// row to several destinations, views at odd offsets) and decode attention over scattered pages
// (GQA, lengths that are not multiples of the page or key block, one split and several), compared
// with the cpu attention of the same query over the sequence's contiguous keys; q also read at a row
// stride wider than its heads (the q columns of the fused q,k,v rows).
import t from 'tap';
import { attentionForward } from '../../src/ops/cpu/attention.js';
import { allocTensor, readF32, uploadTensor } from '../../src/ops/webgpu/context.js';
import { createPagedKvCache, pagedKvWrite, type KvDType } from '../../src/ops/webgpu/paged-kv.js';
import { decodeAttention } from '../../src/ops/webgpu/decode-attention.js';
import { f16BitsToF32, f32ToF16Bits, viewOf } from '../../src/ops/webgpu/tensor.js';
import { randomArray, relError, Rng, testGpu } from '../helpers/gpu-helpers.js';

const roundF16 = (a: Float32Array): Float32Array => a.map((x) => f16BitsToF32(f32ToF16Bits(x)));

interface Case {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  pageSize: number;
  lens: number[];
  dtype: KvDType;
  splits?: number;
  /** q's row stride (q as the first columns of wider rows, like the fused q,k,v projection's). */
  ldq?: number;
}

async function runCase(c: Case, seed: number): Promise<{ err: number; writeErr: number }> {
  const ctx = await testGpu();
  const rng = new Rng(seed);
  const { nHeads, nKvHeads, headDim: hd, pageSize, lens } = c;
  const KVW = nKvHeads * hd,
    QW = nHeads * hd;
  const n = lens.length;
  const maxPages = Math.max(...lens.map((l) => Math.ceil(l / pageSize)));
  const numPages = lens.reduce((s, l) => s + Math.ceil(l / pageSize), 0) + 3;
  // Pages handed out in a shuffled order, so a sequence's pages are not contiguous.
  const free = Array.from({ length: numPages }, (_, i) => i);
  for (let i = free.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [free[i], free[j]] = [free[j]!, free[i]!];
  }
  const table = new Int32Array(n * maxPages).fill(-1);
  lens.forEach((l, s) => {
    for (let pg = 0; pg < Math.ceil(l / pageSize); pg++) table[s * maxPages + pg] = free.pop()!;
  });
  const cache = createPagedKvCache(ctx, { layers: 1, numPages, pageSize, kvWidth: KVW, dtype: c.dtype });
  // Keys and values of every token, written through one call with views at an odd offset.
  const total = lens.reduce((a, b) => a + b, 0);
  const kAll = randomArray(rng, total * KVW),
    vAll = randomArray(rng, total * KVW);
  const pad = 3;
  const kT = viewOf(uploadTensor(ctx, Float32Array.from([...new Float32Array(pad), ...kAll])), pad, total * KVW);
  const vT = viewOf(uploadTensor(ctx, Float32Array.from([...new Float32Array(pad), ...vAll])), pad, total * KVW);
  const map = new Int32Array(2 * total);
  let r = 0;
  lens.forEach((l, s) => {
    for (let j = 0; j < l; j++, r++) {
      map[r] = r;
      map[total + r] = table[s * maxPages + Math.floor(j / pageSize)]! * pageSize + (j % pageSize);
    }
  });
  pagedKvWrite(ctx, cache, 0, kT, vT, uploadTensor(ctx, map), total);
  // The pool rows read back equal the source rows (f16-rounded for an f16 pool).
  const pool = await readF32(ctx, cache.layers[0]!.k);
  const kRef = c.dtype === 'f16' ? roundF16(kAll) : kAll;
  const vRef = c.dtype === 'f16' ? roundF16(vAll) : vAll;
  let writeErr = 0;
  for (let i = 0; i < total; i++) {
    const dst = map[total + i]!;
    for (let e = 0; e < KVW; e++) writeErr = Math.max(writeErr, Math.abs(pool[dst * KVW + e]! - kRef[i * KVW + e]!));
  }
  // Decode attention of one query per sequence at its last position.
  const q = randomArray(rng, n * QW);
  const ldq = c.ldq ?? QW;
  // Rows of ldq values: q's, then values attention must not read.
  const wide = randomArray(rng, n * ldq, 100);
  for (let s = 0; s < n; s++) wide.set(q.subarray(s * QW, (s + 1) * QW), s * ldq);
  const qT = viewOf(uploadTensor(ctx, Float32Array.from([0, 0, ...wide])), 2, n * ldq);
  const oBuf = allocTensor(ctx, n * QW + 6, 'f32', true);
  const oT = viewOf(oBuf, 6, n * QW);
  const seqs = new Int32Array(2 * n);
  lens.forEach((l, s) => {
    seqs[2 * s] = s;
    seqs[2 * s + 1] = l;
  });
  decodeAttention(
    ctx,
    oT,
    qT,
    cache,
    0,
    uploadTensor(ctx, table),
    uploadTensor(ctx, seqs),
    n,
    { nHeads, nKvHeads, headDim: hd, maxPagesPerSeq: maxPages },
    { maxLen: Math.max(...lens), ldq, ...(c.splits ? { splits: c.splits } : {}) },
  );
  const got = await readF32(ctx, oT);
  const want = new Float32Array(n * QW);
  let first = 0;
  lens.forEach((l, s) => {
    const kk = kRef.subarray(first * KVW, (first + l) * KVW),
      vv = vRef.subarray(first * KVW, (first + l) * KVW);
    attentionForward(
      want.subarray(s * QW, (s + 1) * QW),
      new Float32Array(nHeads),
      q.subarray(s * QW, (s + 1) * QW),
      kk,
      vv,
      { rows: 1, firstPos: l - 1, nHeads, nKvHeads, headDim: hd },
      new Float64Array(l),
    );
    first += l;
  });
  return { err: relError(got, want), writeErr };
}

t.test('paged KV write and decode attention equal the cpu attention (f32 cache)', async (t) => {
  const cases: Case[] = [
    { nHeads: 4, nKvHeads: 2, headDim: 16, pageSize: 4, lens: [1, 7, 37, 64], dtype: 'f32' },
    { nHeads: 6, nKvHeads: 2, headDim: 64, pageSize: 16, lens: [130, 3, 65], dtype: 'f32' },
    { nHeads: 6, nKvHeads: 2, headDim: 64, pageSize: 16, lens: [130, 3, 65], dtype: 'f32', splits: 3 },
    { nHeads: 7, nKvHeads: 1, headDim: 32, pageSize: 8, lens: [200, 1], dtype: 'f32', splits: 4 },
    { nHeads: 4, nKvHeads: 2, headDim: 16, pageSize: 4, lens: [9, 3, 20], dtype: 'f32', ldq: 128 },
    { nHeads: 6, nKvHeads: 2, headDim: 64, pageSize: 16, lens: [130, 3, 65], dtype: 'f32', splits: 3, ldq: 640 },
  ];
  for (const [i, c] of cases.entries()) {
    const { err, writeErr } = await runCase(c, 100 + i);
    t.equal(writeErr, 0, `case ${i}: pool rows equal the source rows exactly`);
    t.ok(
      err < 1e-5,
      `case ${i} (${c.nHeads}/${c.nKvHeads} heads × ${c.headDim}, lens ${c.lens}, splits ${c.splits ?? 'auto'}, ldq ${c.ldq ?? 'dense'}): rel error ${err.toExponential(2)}`,
    );
  }
});

t.test('f16 cache: values rounded to f16 on write, attention equals the cpu on the rounded keys', async (t) => {
  const cases: Case[] = [
    { nHeads: 4, nKvHeads: 2, headDim: 32, pageSize: 16, lens: [5, 33, 90], dtype: 'f16' },
    { nHeads: 12, nKvHeads: 2, headDim: 128, pageSize: 16, lens: [70, 17], dtype: 'f16', splits: 2 },
  ];
  for (const [i, c] of cases.entries()) {
    const { err, writeErr } = await runCase(c, 200 + i);
    t.equal(writeErr, 0, `case ${i}: pool rows equal the f16-rounded source rows exactly`);
    t.ok(
      err < 1e-5,
      `case ${i} (${c.nHeads}/${c.nKvHeads} heads × ${c.headDim}, lens ${c.lens}): rel error ${err.toExponential(2)}`,
    );
  }
});

t.test('bad shapes are errors naming the problem', async (t) => {
  const ctx = await testGpu();
  t.throws(
    () => createPagedKvCache(ctx, { layers: 1, numPages: 2, pageSize: 4, kvWidth: 5, dtype: 'f16' }),
    /even kvWidth/,
  );
  const cache = createPagedKvCache(ctx, { layers: 1, numPages: 2, pageSize: 4, kvWidth: 8, dtype: 'f32' });
  const q = allocTensor(ctx, 16),
    o = allocTensor(ctx, 16),
    idx = uploadTensor(ctx, new Int32Array(4));
  t.throws(
    () => decodeAttention(ctx, o, q, cache, 0, idx, idx, 1, { nHeads: 3, nKvHeads: 2, headDim: 4, maxPagesPerSeq: 2 }),
    /not a multiple/,
  );
  t.throws(
    () => decodeAttention(ctx, o, q, cache, 1, idx, idx, 1, { nHeads: 4, nKvHeads: 2, headDim: 4, maxPagesPerSeq: 2 }),
    /layer 1/,
  );
});

// The decode step's fused RoPE + KV-cache write against the cpu RoPE and a direct pool copy: q rotated
// in place, rotated k and plain v in the destination pool rows (f32 pools exactly; f16 pools rounded
// once), for GQA shapes, a head whose halves are odd (an f16 word straddling them), views at odd
// offsets, rows written to scattered pool rows, positions across the table, and rows packed as the
// fused q,k,v projection writes them (q | k | v per row).
import t from 'tap';
import { ropeApply, ropeTable } from '../../src/ops/cpu/rope.js';
import { allocTensor, readF32, uploadTensor } from '../../src/ops/webgpu/context.js';
import { createPagedKvCache, type KvDType } from '../../src/ops/webgpu/paged-kv.js';
import { ropeKvWrite } from '../../src/ops/webgpu/rope-kv-write.js';
import { f16BitsToF32, f32ToF16Bits, viewOf } from '../../src/ops/webgpu/tensor.js';
import { randomArray, Rng, testGpu } from '../helpers/gpu-helpers.js';
import type { GpuContext } from '../../src/ops/webgpu/context.js';

const roundF16 = (a: Float32Array): Float32Array => a.map((x) => f16BitsToF32(f32ToF16Bits(x)));

/** data uploaded behind `pad` leading values: a view at an odd offset. */
function padded(ctx: GpuContext, data: Float32Array, pad: number) {
  return viewOf(uploadTensor(ctx, Float32Array.from([...new Float32Array(pad), ...data])), pad, data.length);
}

interface Case {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  rows: number;
  dtype: KvDType;
  packed?: boolean;
}

async function maxErrors(c: Case, seed: number): Promise<{ q: number; k: number; v: number }> {
  const ctx = await testGpu();
  const rng = new Rng(seed);
  const { nHeads, nKvHeads, headDim, rows } = c;
  const QW = nHeads * headDim,
    KVW = nKvHeads * headDim;
  const table = ropeTable(1e4, headDim, 300);
  const positions = Int32Array.from({ length: rows }, () => rng.int(300));
  const numRows = 4 * rows + 5;
  const dest = Int32Array.from({ length: rows }, (_, i) => (i * 7 + 3) % numRows);
  const q = randomArray(rng, rows * QW),
    k = randomArray(rng, rows * KVW),
    v = randomArray(rng, rows * KVW);
  const cache = createPagedKvCache(ctx, { layers: 2, numPages: numRows, pageSize: 1, kvWidth: KVW, dtype: c.dtype });
  const destT = viewOf(uploadTensor(ctx, Int32Array.from([9, ...dest])), 1, rows);
  const shape = { nHeads, nKvHeads, headDim };
  const W = QW + 2 * KVW;
  const rowsOf = (all: Float32Array): Float32Array => {
    const out = new Float32Array(rows * QW);
    for (let r = 0; r < rows; r++) out.set(all.subarray(r * W, r * W + QW), r * QW);
    return out;
  };
  let readQ: () => Promise<Float32Array>;
  if (c.packed) {
    const all = new Float32Array(rows * W);
    for (let r = 0; r < rows; r++) {
      all.set(q.subarray(r * QW, (r + 1) * QW), r * W);
      all.set(k.subarray(r * KVW, (r + 1) * KVW), r * W + QW);
      all.set(v.subarray(r * KVW, (r + 1) * KVW), r * W + QW + KVW);
    }
    const qkv = padded(ctx, all, 3);
    ropeKvWrite(ctx, cache, 1, { qkv }, destT, positions, rows, shape, table);
    readQ = async () => rowsOf(await readF32(ctx, qkv));
  } else {
    const qT = padded(ctx, q, 3);
    ropeKvWrite(
      ctx,
      cache,
      1,
      { q: qT, k: padded(ctx, k, 1), v: padded(ctx, v, 5) },
      destT,
      positions,
      rows,
      shape,
      table,
    );
    readQ = () => readF32(ctx, qT);
  }
  const [qGot, kPool, vPool] = [
    await readQ(),
    await readF32(ctx, cache.layers[1]!.k),
    await readF32(ctx, cache.layers[1]!.v),
  ];
  const qWant = q.slice(),
    kWant = k.slice();
  ropeApply(qWant, positions, rows, nHeads, headDim, table, 1);
  ropeApply(kWant, positions, rows, nKvHeads, headDim, table, 1);
  const kRef = c.dtype === 'f16' ? roundF16(kWant) : kWant,
    vRef = c.dtype === 'f16' ? roundF16(v) : v;
  let eq = 0,
    ek = 0,
    ev = 0;
  for (let i = 0; i < rows * QW; i++) eq = Math.max(eq, Math.abs(qGot[i]! - qWant[i]!));
  for (let r = 0; r < rows; r++)
    for (let e = 0; e < KVW; e++) {
      const at = dest[r]! * KVW + e;
      ek = Math.max(ek, Math.abs(kPool[at]! - kRef[r * KVW + e]!));
      ev = Math.max(ev, Math.abs(vPool[at]! - vRef[r * KVW + e]!));
    }
  return { q: eq, k: ek, v: ev };
}

t.test('fused RoPE + KV write equals the cpu RoPE and a pool copy', async (t) => {
  const cases: Case[] = [
    { nHeads: 4, nKvHeads: 2, headDim: 16, rows: 5, dtype: 'f32' },
    { nHeads: 12, nKvHeads: 2, headDim: 128, rows: 48, dtype: 'f16' },
    { nHeads: 3, nKvHeads: 1, headDim: 6, rows: 7, dtype: 'f16' },
    { nHeads: 2, nKvHeads: 2, headDim: 10, rows: 3, dtype: 'f32' },
    { nHeads: 12, nKvHeads: 2, headDim: 128, rows: 48, dtype: 'f16', packed: true },
    { nHeads: 3, nKvHeads: 1, headDim: 6, rows: 7, dtype: 'f32', packed: true },
  ];
  for (const [i, c] of cases.entries()) {
    const e = await maxErrors(c, 300 + i);
    const what = `case ${i} (${c.nHeads}/${c.nKvHeads} heads × ${c.headDim}, ${c.rows} rows, ${c.dtype} pool${c.packed ? ', packed' : ''})`;
    // Same f32 arithmetic as the cpu's (float64 table rounded to f32 once), so within a few ulps.
    t.ok(e.q < 1e-5, `${what}: q rotated in place (max diff ${e.q.toExponential(2)})`);
    // f16: a value a few f32 ulps off may round to the neighbouring f16 (one f16 ulp at |x| < 4).
    t.ok(e.k < (c.dtype === 'f16' ? 4e-3 : 1e-5), `${what}: rotated k in the pool (max diff ${e.k.toExponential(2)})`);
    t.equal(e.v, 0, `${what}: v in the pool exactly`);
  }
});

t.test('bad operands are errors naming the problem', async (t) => {
  const ctx = await testGpu();
  const table = ropeTable(1e4, 4, 8);
  const cache = createPagedKvCache(ctx, { layers: 1, numPages: 4, pageSize: 1, kvWidth: 8, dtype: 'f32' });
  const q = allocTensor(ctx, 32),
    k = allocTensor(ctx, 16),
    v = allocTensor(ctx, 16),
    dest = uploadTensor(ctx, Int32Array.of(0, 1));
  const shape = { nHeads: 4, nKvHeads: 2, headDim: 4 };
  const pos = Int32Array.of(0, 1);
  t.throws(() => ropeKvWrite(ctx, cache, 1, { q, k, v }, dest, pos, 2, shape, table), /layer 1/);
  t.throws(
    () => ropeKvWrite(ctx, cache, 0, { q, k, v }, dest, Int32Array.of(0, 1 << 20), 2, shape, table),
    /beyond table/,
  );
  t.throws(() => ropeKvWrite(ctx, cache, 0, { q, k, v }, dest, pos, 2, { ...shape, nKvHeads: 1 }, table), /cache rows/);
  t.throws(
    () => ropeKvWrite(ctx, cache, 0, { q: viewOf(q, 0, 8), k, v }, dest, pos, 2, shape, table),
    /q has 8 values/,
  );
  t.throws(
    () => ropeKvWrite(ctx, cache, 0, { q, k: viewOf(q, 0, 16), v }, dest, pos, 2, shape, table),
    /share a buffer/,
  );
  t.throws(() => ropeKvWrite(ctx, cache, 0, { q, k, v }, viewOf(dest, 0, 1), pos, 2, shape, table), /dst must be/);
  t.throws(
    () => ropeKvWrite(ctx, cache, 0, { q, k: cache.layers[0]!.k, v }, dest, pos, 2, shape, table),
    /aliases the cache/,
  );
  t.throws(
    () => ropeKvWrite(ctx, cache, 0, { qkv: q }, dest, pos, 2, shape, table),
    /qkv has 32 values, 2 rows need 64/,
  );
});

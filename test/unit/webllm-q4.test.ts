// q4f16_1 (MLC's 4-bit group quantization): the CPU reference's layout and rounding rules, and the
// GPU kernel against it bit for bit on SwiftShader, at the shapes of the 1.5B model (one layer).
import t from 'tap';
import { mergeInto, planAdapter, type LoraPair } from '../../src/engines/webllm/lora-merge.js';
import type { MlcModelConfig } from '../../src/engines/webllm/mlc-artifacts.js';
import { createQ4Sync, writeQ4Verified, type Q4Destination } from '../../src/engines/webllm/q4-sync.js';
import {
  dequantizeQ4,
  q4Code,
  q4Groups,
  q4ScaleBits,
  q4WordsPerRow,
  quantizeQ4,
} from '../../src/engines/webllm/q4f16.js';
import { makeTestAdapter } from '../../src/engines/webllm/test-adapter.js';
import { allocTensor, readI32, uploadTensor, type GpuContext } from '../../src/ops/webgpu/context.js';
import { groupQuantizeQ4 } from '../../src/ops/webgpu/group-quantize.js';
import { viewOf, type GpuTensor } from '../../src/ops/webgpu/tensor.js';
import { f16ToF32, f32ToF16 } from '../../src/util/half.js';
import { Rng } from '../../src/util/rng.js';
import { randomArray, testGpu } from '../helpers/gpu-helpers.js';

t.test('CPU reference: layout, rounding ties, padding, error bound', async (t) => {
  // One row of 32: values k·s for k = −7..7 plus exact midpoints; scale 1 (max 7).
  const w = new Float32Array(40);
  for (let k = -7; k <= 7; k++) w[k + 7] = k;
  w[15] = 0.5;
  w[16] = 1.5;
  w[17] = -0.5;
  w[18] = -2.5;
  w[19] = 6.5;
  w[20] = 7;
  w[32] = 3;
  w[33] = -1.5; // second group, padded (cols 34)
  const m = quantizeQ4(w.subarray(0, 34), { rows: 1, cols: 34 });
  t.equal(m.words.length, q4WordsPerRow(34));
  t.equal(m.words.length, 8);
  t.equal(m.scales.length, q4Groups(34));
  t.equal(f16ToF32(m.scales[0]!), 1, 'scale = max|w| / 7');
  const codes = Array.from({ length: 34 }, (_, j) => (m.words[j >>> 3]! >>> (4 * (j & 7))) & 0xf);
  t.same(
    codes.slice(0, 15),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14],
    'code = k + 7, first element in the low nibble',
  );
  // ties go to the even code: 0.5 → 7.5 → 8; 1.5 → 8.5 → 8; −0.5 → 6.5 → 6; −2.5 → 4.5 → 4; 6.5 → 13.5 → 14
  t.same(codes.slice(15, 21), [8, 8, 6, 4, 14, 14]);
  t.equal(f16ToF32(m.scales[1]!), f16ToF32(f32ToF16(3 / 7)));
  t.equal(m.words[7], 0, 'padding past cols is code 0');
  t.equal((m.words[4]! >>> 8) >>> 0, 0, 'padding nibbles of the last real word are 0');
  // every word of an all-zero group is 7s (scale 0)
  const z = quantizeQ4(new Float32Array(32), { rows: 1, cols: 32 });
  t.same(Array.from(z.words), [0x77777777, 0x77777777, 0x77777777, 0x77777777]);
  t.equal(z.scales[0], 0);
  // scale rounding: exact midpoints between f16 neighbours, ties to even
  const c = 1 + 1 / 1024; // f16 bits 0x3c01 (odd)
  t.equal(q4ScaleBits(7 * (1 + 0.5 / 1024)), 0x3c00, 'tie between 0x3c00 and 0x3c01 → even');
  t.equal(q4ScaleBits(7 * (c + 0.5 / 1024)), 0x3c02, 'tie between 0x3c01 and 0x3c02 → even');
  t.equal(q4ScaleBits(Math.fround(7 * (c + 0.5 / 1024)) * (1 - 2 ** -23)), 0x3c01, 'just below the midpoint');
  t.equal(q4ScaleBits(7 * 2 ** -24), 1, 'smallest subnormal');
  t.throws(() => q4ScaleBits(7 * 65520), /does not fit an f16 scale/);
  t.equal(q4Code(0.49999997, 1), 7);
  t.equal(q4Code(-7.4, 1), 0);
  t.equal(q4Code(7.4, 1), 14);
  t.throws(
    () => quantizeQ4(new Float32Array([NaN, ...new Array(31).fill(0)]), { rows: 1, cols: 32 }),
    /non-finite weight at row 0, column 0/,
  );
  // random matrix: |dequantized − w| ≤ scale / 2, scale ≥ max|w|/7 within an f16 rounding
  const rng = new Rng(3);
  const rows = 5,
    cols = 96;
  const r = randomArray(rng, rows * cols, 0.05);
  const q = quantizeQ4(r, { rows, cols });
  const d = dequantizeQ4(q, { rows, cols });
  let worst = 0;
  for (let i = 0; i < r.length; i++) {
    const s = f16ToF32(q.scales[Math.floor(i / cols) * 3 + Math.floor((i % cols) / 32)]!);
    worst = Math.max(worst, Math.abs(d[i]! - r[i]!) / (s / 2));
  }
  t.ok(worst <= 1, `max |dequantized − w| / (scale/2) = ${worst.toFixed(4)} ≤ 1`);
  // re-quantizing a dequantized matrix gives the same words and scales back (idempotent)
  const q2 = quantizeQ4(d, { rows, cols });
  t.same(Array.from(q2.words), Array.from(q.words));
  t.same(Array.from(q2.scales), Array.from(q.scales));
});

async function readWords(ctx: GpuContext, t: GpuTensor): Promise<Uint32Array> {
  return new Uint32Array((await readI32(ctx, t)).buffer.slice(0));
}

/** q_scale halves of an f16 tensor as raw bits (read as whole words). */
async function readHalves(ctx: GpuContext, t: GpuTensor, n: number): Promise<Uint16Array> {
  const w = await readI32(ctx, { buffer: t.buffer, offset: t.offset / 2, length: Math.ceil(n / 2), dtype: 'i32' });
  return new Uint16Array(w.buffer, w.byteOffset, n).slice();
}

function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): string {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return `index ${i}: ${a[i]} vs ${b[i]}`;
  return 'none';
}

t.test('GPU kernel = CPU reference bit for bit (odd shapes, views, f16 base, delta, ties, tiny groups)', async (t) => {
  const ctx = await testGpu();
  const rng = new Rng(11);
  for (const [rows, cols, baseDtype, withDelta] of [
    [3, 32, 'f32', false],
    [5, 72, 'f32', true],
    [7, 200, 'f16', true],
    [33, 96, 'f16', false],
    [2, 8, 'f32', true],
  ] as const)
    for (const variant of ['workgroup', 'thread'] as const) {
      const n = rows * cols;
      const base = randomArray(rng, n, 0.03);
      // Exact ties and special groups: a row of exact multiples of a power-of-two scale, an all-zero
      // group, a group whose scale is an f16 subnormal.
      for (let j = 0; j < Math.min(cols, 32); j++) base[j] = ((j % 15) - 7 + (j % 2 ? 0.5 : 0)) * 2 ** -6;
      if (rows > 1) base.fill(0, cols, cols + Math.min(cols, 32));
      if (rows > 2) for (let j = 0; j < Math.min(cols, 32); j++) base[2 * cols + j] = (j - 16) * 2 ** -30;
      const delta = withDelta ? randomArray(rng, n, 0.002) : null;
      const pad = 3; // view offsets that are not multiples of anything
      const bigBase = new Float32Array(n + 2 * pad);
      bigBase.set(base, pad + 1);
      const baseT = viewOf(uploadTensor(ctx, bigBase, baseDtype), pad + 1, n);
      const bigDelta = delta ? new Float32Array(n + pad) : null;
      if (delta) bigDelta!.set(delta, pad);
      const deltaT = delta ? viewOf(uploadTensor(ctx, bigDelta!), pad, n) : undefined;
      const W = q4WordsPerRow(cols),
        G = q4Groups(cols);
      const words = viewOf(allocTensor(ctx, rows * W + 5, 'i32', true), 5, rows * W);
      const scales = viewOf(allocTensor(ctx, rows * G + 4, 'f16'), 4, rows * G);
      const error = allocTensor(ctx, 1, 'i32', true);
      groupQuantizeQ4(ctx, {
        rows,
        cols,
        base: baseT,
        ...(deltaT ? { delta: deltaT } : {}),
        words,
        scales,
        error,
        variant,
      });
      const input = Float32Array.from(base, (v, i) => {
        const b = baseDtype === 'f16' ? f16ToF32(f32ToF16(v)) : v;
        return delta ? b + delta[i]! : b;
      });
      const ref = quantizeQ4(input, { rows, cols });
      const gw = await readWords(ctx, words);
      const gs = await readHalves(ctx, scales, rows * G);
      t.equal(
        firstDiff(gw, ref.words),
        'none',
        `${variant} [${rows}, ${cols}] ${baseDtype}${withDelta ? ' + delta' : ''}: words equal the CPU reference`,
      );
      t.equal(firstDiff(gs, ref.scales), 'none', `[${rows}, ${cols}]: scales equal`);
      t.equal((await readI32(ctx, error))[0], 0, 'no error flagged');
    }
  // A non-finite weight and an out-of-range group set the error word.
  for (const bad of [NaN, Infinity, 7 * 65504 * 1.01])
    for (const variant of ['workgroup', 'thread'] as const) {
      const base = new Float32Array(64);
      base[40] = bad;
      const error = allocTensor(ctx, 1, 'i32', true);
      groupQuantizeQ4(ctx, {
        rows: 1,
        cols: 64,
        base: uploadTensor(ctx, base),
        words: allocTensor(ctx, 8, 'i32'),
        scales: allocTensor(ctx, 2, 'f16'),
        error,
        variant,
      });
      t.equal((await readI32(ctx, error))[0], 1, `${variant}: ${bad} is flagged`);
    }
});

// The 1.5B model's shapes (DeepSeek-R1-Distill-Qwen-1.5B / Qwen2-1.5B): one layer's fused attention
// (input 1536) and down_proj (the widest input, 8960). o_proj and gate_up_proj only add rows of a
// width c_attn already covers; bench:q4-sync syncs all four of every layer.
const QWEN_1_5B: MlcModelConfig = {
  hidden_size: 1536,
  intermediate_size: 8960,
  num_hidden_layers: 1,
  num_attention_heads: 12,
  num_key_value_heads: 2,
  vocab_size: 151936,
};
const MLC_TENSORS: [string, number, number][] = [
  ['model.layers.0.self_attn.c_attn.weight', (12 + 2 * 2) * 128, 1536],
  ['model.layers.0.mlp.down_proj.weight', 1536, 8960],
];

t.test(
  'q4f16_1 sync at the 1.5B shapes (one layer): merge + quantize on the GPU, verified, versions and rollback',
  async (t) => {
    const ctx = await testGpu();
    const rng = new Rng(5);
    const hostBase = new Map<string, Float32Array>();
    const dest = new Map<string, Q4Destination>();
    for (const [name, rows, cols] of MLC_TENSORS) {
      // W0 as a q4 library holds it: a random matrix quantized and dequantized (so the base model's
      // sync must reproduce the stored words exactly).
      const w = randomArray(rng, rows * cols, 0.04);
      hostBase.set(name, dequantizeQ4(quantizeQ4(w, { rows, cols }), { rows, cols }));
      dest.set(name, {
        rows,
        cols,
        words: allocTensor(ctx, rows * q4WordsPerRow(cols), 'i32', true),
        scales: allocTensor(ctx, rows * q4Groups(cols), 'f16'),
      });
    }
    const sync = createQ4Sync(
      ctx,
      (n) => dest.get(n)!,
      (n) => hostBase.get(n)!,
      { verifyRows: 4 },
    );
    const names = MLC_TENSORS.map(([n]) => n);
    const all7 = [
      'self_attn.q_proj',
      'self_attn.k_proj',
      'self_attn.v_proj',
      'self_attn.o_proj',
      'mlp.gate_proj',
      'mlp.up_proj',
      'mlp.down_proj',
    ].map((module) => ({ layer: 0, module }));
    const times = () => ({ quantizeMs: 0, verifyMs: 0, bytes: 0, rowsVerified: 0 });

    // Base model: the stored words come back bit for bit.
    t.same(await writeQ4Verified(sync, names, new Map(), null, times()), [], 'base sync verifies');
    for (const [name, rows, cols] of MLC_TENSORS) {
      const ref = quantizeQ4(hostBase.get(name)!, { rows, cols });
      t.equal(
        firstDiff(await readWords(ctx, dest.get(name)!.words), ref.words),
        'none',
        `${name}: base words reproduced exactly`,
      );
    }

    // An adapter (Tina's r 32 / alpha 128 on all seven projections), against a full CPU merge.
    const snap = makeTestAdapter(QWEN_1_5B, 1, 7, { r: 32, alpha: 128, modules: all7, bScale: 0.01 });
    const plan = planAdapter(snap, QWEN_1_5B);
    const tm = times();
    t.same(await writeQ4Verified(sync, names, plan, snap, tm), [], 'adapter sync verifies');
    t.ok(tm.rowsVerified >= 4 * names.length, `${tm.rowsVerified} rows checked bit for bit`);
    for (const [name, rows, cols] of MLC_TENSORS) {
      const merged = mergeInto(new Float32Array(rows * cols), hostBase.get(name)!, plan.get(name) as LoraPair[], snap);
      const d = dest.get(name)!;
      const q = {
        words: await readWords(ctx, d.words),
        scales: await readHalves(ctx, d.scales, rows * q4Groups(cols)),
      };
      const deq = dequantizeQ4(q, { rows, cols });
      const ref = quantizeQ4(merged, { rows, cols });
      let worst = 0,
        codeDiff = 0;
      for (let i = 0; i < merged.length; i++) {
        const s = f16ToF32(q.scales[Math.floor(i / cols) * q4Groups(cols) + ((i % cols) >> 5)]!);
        worst = Math.max(worst, Math.abs(deq[i]! - merged[i]!) / (s / 2));
      }
      for (let i = 0; i < ref.words.length; i++) {
        if (ref.words[i] !== q.words[i]) codeDiff++;
      }
      t.ok(worst <= 1 + 1e-4, `${name}: |dequantized − CPU-merged| ≤ scale/2 (worst ${worst.toFixed(5)} × scale/2)`);
      // The GPU and CPU sum B·A in different orders: a code can differ only where the merged value sits
      // within f32 rounding of a decision boundary.
      t.ok(
        codeDiff <= ref.words.length * 1e-4,
        `${name}: ${codeDiff} of ${ref.words.length} words differ from the CPU merge's quantization (f32 summation order)`,
      );
    }

    // A corrupted write is caught (row 0 is always verified), and the caller can restore.
    sync.corruptNextWrite = names[1]!;
    const bad = await writeQ4Verified(sync, names, plan, { ...snap, version: 2 }, times());
    t.same(
      bad.map((b) => b.name),
      [names[1]],
      'the corrupted tensor fails verification',
    );
    t.match(bad[0]!.reason, /row 0: q_weight word 0/);
    // A diverged adapter (non-finite) is flagged by the kernel for every tensor.
    const nan = { ...snap, version: 3, params: snap.params.slice() };
    nan.params[snap.layout.tensors[1]!.offset] = NaN;
    const flagged = await writeQ4Verified(sync, names, plan, nan, times());
    t.same(
      flagged.map((b) => b.name),
      [names[0]],
      'non-finite merged weights are rejected (q_proj is in c_attn)',
    );
    t.match(flagged[0]!.reason, /non-finite/);
    t.same(await writeQ4Verified(sync, names, new Map(), null, times()), [], 'and the base restores cleanly');
  },
);

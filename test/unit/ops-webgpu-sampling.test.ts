// The GPU sampler against the float64 reference (test/helpers/sampling-reference.ts: the kept-set rule of
// src/rl/token-distribution.ts, inverse CDF in id order): greedy, full-vocabulary sampling, top-k,
// top-p and both, on rows with many exact ties at the thresholds, and one row of a 151,936-token
// vocabulary. Same token, behaviour and raw log-probs within 2e-5, the token written to its slot,
// and bit-identical results when run again.
import t from 'tap';
import { allocTensor, readF32, readI32, uploadTensor } from '../../src/ops/webgpu/context.js';
import { sampleTokens, type SamplingConfig } from '../../src/ops/webgpu/sampling.js';
import { viewOf } from '../../src/ops/webgpu/tensor.js';
import { referenceSample } from '../helpers/sampling-reference.js';
import { Rng, testGpu } from '../helpers/gpu-helpers.js';

interface Run {
  tokens: Int32Array;
  lp: Float32Array;
  raw: Float32Array;
  next: Int32Array;
}

async function sampleOnGpu(
  rows: Float32Array[],
  V: number,
  us: number[],
  cfg: SamplingConfig,
  rowOf: number[],
  slots: number[],
): Promise<Run> {
  const ctx = await testGpu();
  const n = us.length;
  const logits = new Float32Array(5 + rows.length * V);
  rows.forEach((r, i) => {
    logits.set(r, 5 + i * V);
  });
  const meta = new Int32Array(1 + 3 * n);
  const f = new Float32Array(1);
  for (let i = 0; i < n; i++) {
    f[0] = us[i]!;
    meta.set([rowOf[i]!, slots[i]!, new Int32Array(f.buffer)[0]!], 1 + 3 * i);
  }
  const outBuf = allocTensor(ctx, 3 * n + 4, 'i32', true);
  const out = viewOf(outBuf, 4, 3 * n);
  const next = allocTensor(ctx, 16, 'i32');
  const nextView = viewOf(next, 2, 12);
  sampleTokens(
    ctx,
    {
      logits: viewOf(uploadTensor(ctx, logits), 5, rows.length * V),
      meta: viewOf(uploadTensor(ctx, meta), 1, 3 * n),
      probs: allocTensor(ctx, n * V + 7),
      out,
      next: nextView,
    },
    n,
    V,
    cfg,
  );
  const o = await readI32(ctx, out);
  const bits = new Float32Array(o.buffer.slice(0));
  return {
    tokens: Int32Array.from({ length: n }, (_, i) => o[3 * i]!),
    lp: Float32Array.from({ length: n }, (_, i) => bits[3 * i + 1]!),
    raw: Float32Array.from({ length: n }, (_, i) => bits[3 * i + 2]!),
    next: await readI32(ctx, nextView),
  };
}

function tiedLogits(rng: Rng, V: number): Float32Array {
  // Multiples of 0.25 in [-3, 3]: every value occurs many times, so thresholds fall inside ties.
  return Float32Array.from({ length: V }, () => Math.round((rng.next() * 6 - 3) * 4) / 4);
}

function smoothLogits(rng: Rng, V: number, scale: number): Float32Array {
  return Float32Array.from({ length: V }, () => scale * rng.normal());
}

const CONFIGS: [string, SamplingConfig][] = [
  ['greedy', { temperature: 0, topK: 0, topP: 1 }],
  ['full T=0.7', { temperature: 0.7, topK: 0, topP: 1 }],
  ['top-k 5', { temperature: 1, topK: 5, topP: 1 }],
  ['top-k 40', { temperature: 1.3, topK: 40, topP: 1 }],
  ['top-p 0.9', { temperature: 0.8, topK: 0, topP: 0.9 }],
  ['top-p 0.3', { temperature: 1, topK: 0, topP: 0.3 }],
  ['top-k 50 + top-p 0.8', { temperature: 0.6, topK: 50, topP: 0.8 }],
];

t.test('GPU sampling equals the reference (tokens, behaviour and raw log-probs)', async (t) => {
  const rng = new Rng(3);
  const V = 1000;
  const rows = [tiedLogits(rng, V), smoothLogits(rng, V, 2), tiedLogits(rng, V), smoothLogits(rng, V, 0.3)];
  // Two sequences share row 0 (the G samples of one prompt after prefill); slots are out of order.
  const rowOf = [0, 0, 1, 2, 3];
  const slots = [7, 3, 0, 9, 4];
  for (const [name, cfg] of CONFIGS) {
    const us = rowOf.map(() => rng.next());
    const got = await sampleOnGpu(rows, V, us, cfg, rowOf, slots);
    for (let i = 0; i < us.length; i++) {
      const ref = referenceSample(rows[rowOf[i]!]!, cfg.temperature, cfg.topK, cfg.topP, us[i]!);
      t.equal(
        got.tokens[i],
        ref.token,
        `${name}, seq ${i}: token ${got.tokens[i]} (reference ${ref.token}, kept ${ref.kept.size})`,
      );
      t.ok(
        Math.abs(got.lp[i]! - ref.logprob) < 2e-5,
        `${name}, seq ${i}: behaviour log-prob ${got.lp[i]} vs ${ref.logprob}`,
      );
      t.ok(
        Math.abs(got.raw[i]! - ref.rawLogprob) < 2e-5,
        `${name}, seq ${i}: raw log-prob ${got.raw[i]} vs ${ref.rawLogprob}`,
      );
      t.equal(got.next[slots[i]!], got.tokens[i], `${name}, seq ${i}: token written to slot ${slots[i]}`);
    }
    const again = await sampleOnGpu(rows, V, us, cfg, rowOf, slots);
    t.same(
      [Array.from(again.tokens), Array.from(again.lp), Array.from(again.raw)],
      [Array.from(got.tokens), Array.from(got.lp), Array.from(got.raw)],
      `${name}: bit-identical when run again`,
    );
  }
});

t.test('the kept set is exactly the rule at the edges: u near 0 and near 1 stay inside it', async (t) => {
  const rng = new Rng(5);
  const V = 257;
  const row = tiedLogits(rng, V);
  for (const [name, cfg] of CONFIGS.slice(2)) {
    const us = [0, 1e-9, 0.5, 0.999999, 0.99999999];
    const got = await sampleOnGpu(
      [row],
      V,
      us,
      cfg,
      us.map(() => 0),
      us.map((_, i) => i),
    );
    const kept = referenceSample(row, cfg.temperature, cfg.topK, cfg.topP, 0.5).kept;
    const smallest = Math.min(...kept),
      largest = Math.max(...kept);
    t.equal(got.tokens[0], smallest, `${name}: u = 0 draws the smallest kept id`);
    t.equal(got.tokens[4], largest, `${name}: u → 1 draws the largest kept id`);
    for (let i = 0; i < us.length; i++) t.ok(kept.has(got.tokens[i]!), `${name}: u ${us[i]} draws a kept token`);
  }
});

t.test('a 151,936-token vocabulary row', async (t) => {
  const rng = new Rng(11);
  const V = 151936;
  const row = smoothLogits(rng, V, 3);
  for (const [name, cfg] of [
    CONFIGS[0]!,
    CONFIGS[1]!,
    CONFIGS[6]!,
    ['top-p 0.95', { temperature: 1, topK: 0, topP: 0.95 }] as [string, SamplingConfig],
  ]) {
    const u = rng.next();
    const got = await sampleOnGpu([row], V, [u], cfg, [0], [0]);
    const ref = referenceSample(row, cfg.temperature, cfg.topK, cfg.topP, u);
    t.equal(got.tokens[0], ref.token, `${name}: token`);
    t.ok(Math.abs(got.lp[0]! - ref.logprob) < 2e-5, `${name}: behaviour log-prob ${got.lp[0]} vs ${ref.logprob}`);
    t.ok(Math.abs(got.raw[0]! - ref.rawLogprob) < 2e-5, `${name}: raw log-prob ${got.raw[0]} vs ${ref.rawLogprob}`);
  }
});

t.test('bad arguments are errors', async (t) => {
  const ctx = await testGpu();
  const x = allocTensor(ctx, 8),
    i = allocTensor(ctx, 8, 'i32');
  t.throws(
    () =>
      sampleTokens(ctx, { logits: x, meta: i, probs: x, out: i, next: i }, 3, 4, { temperature: 1, topK: 0, topP: 1 }),
    /probs/,
  );
  void readF32;
});

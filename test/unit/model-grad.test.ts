// Gradient checks of the whole model: float64 central finite differences through a 2-layer Qwen2
// with GQA, RoPE, causal mask, SwiGLU, LoRA on all seven projections (with dropout) and a
// GRPO-like loss on completion log-probs; then the f32 path against the f64 path.
import t from 'tap';
import { createRandomModel, toFloat64, weightEntries, zerosLike } from '../../src/model/weights.js';
import { initLoraAdapter, defaultLoraSettings, loraScale, type LoraAdapter } from '../../src/model/lora.js';
import { backwardTrain, forwardTrain } from '../../src/model/train.js';
import { Rng } from '../../src/util/rng.js';
import { grpoLikeLoss, randomBatch, tinyConfig } from '../helpers/model-helpers.js';

const c = tinyConfig();
const batch = randomBatch(c, 7, [9, 6, 11], [4, 2, 5], 12);
const adv = [0.8, -1.1, 0.4];
const T = batch.seqLen;
const old = new Float64Array(3 * T),
  ref = new Float64Array(3 * T);
{
  const r = new Rng(3);
  for (let i = 0; i < old.length; i++) {
    old[i] = -3 + 0.3 * r.normal();
    ref[i] = -3 + 0.3 * r.normal();
  }
}

function setup(dropout: number): {
  m64: ReturnType<typeof toFloat64>;
  ad64: LoraAdapter<Float64Array>;
  ad32: LoraAdapter<Float32Array>;
  scale: number;
} {
  const m32 = createRandomModel(c, 11, { std: 0.3, perturbNorms: 0.2 });
  const settings = defaultLoraSettings({ r: 2, alpha: 5, dropout });
  const ad32 = initLoraAdapter(c, settings, new Rng(5));
  // Non-zero B so that every A gradient is non-trivial.
  const r = new Rng(9);
  for (const s of ad32.layout.tensors)
    if (s.name.endsWith('lora_B'))
      for (let i = 0; i < s.shape[0]! * s.shape[1]!; i++) ad32.params[s.offset + i] = 0.3 * r.normal();
  return {
    m64: toFloat64(m32),
    ad64: { ...ad32, params: Float64Array.from(ad32.params) },
    ad32,
    scale: loraScale(settings),
  };
}

function lossOf(
  m64: ReturnType<typeof toFloat64>,
  ad: LoraAdapter<Float64Array>,
  scale: number,
  dropSeed: number | null,
): number {
  const { logp } = forwardTrain(m64, ad, scale, batch, {
    temperature: 0.7,
    dropoutRng: dropSeed === null ? undefined : new Rng(dropSeed),
  });
  return grpoLikeLoss(logp, batch, adv, old, ref, 0.04).loss;
}

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-8);
}

for (const dropout of [0, 0.25]) {
  t.test(`LoRA gradients match float64 finite differences (dropout ${dropout})`, async (t) => {
    const { m64, ad64, scale } = setup(dropout);
    const dropSeed = dropout > 0 ? 17 : null;
    const res = forwardTrain(m64, ad64, scale, batch, {
      temperature: 0.7,
      saveForBackward: true,
      dropoutRng: dropSeed === null ? undefined : new Rng(dropSeed),
    });
    const { dlogp } = grpoLikeLoss(res.logp, batch, adv, old, ref, 0.04);
    const g = new Float64Array(ad64.params.length);
    backwardTrain(res.saved!, dlogp, { lora: g });
    let worst = 0,
      worstName = '',
      nonzero = 0;
    const h = 1e-5;
    for (const spec of ad64.layout.tensors) {
      const n = spec.shape[0]! * spec.shape[1]!;
      for (let i = 0; i < n; i++) {
        const k = spec.offset + i,
          keep = ad64.params[k]!;
        ad64.params[k] = keep + h;
        const lp = lossOf(m64, ad64, scale, dropSeed);
        ad64.params[k] = keep - h;
        const lm = lossOf(m64, ad64, scale, dropSeed);
        ad64.params[k] = keep;
        const fd = (lp - lm) / (2 * h);
        if (Math.abs(fd) > 1e-6) nonzero++;
        const e = relErr(fd, g[k]!);
        if (e > worst) {
          worst = e;
          worstName = `${spec.name}[${i}] fd ${fd} analytic ${g[k]}`;
        }
      }
    }
    t.comment(
      `worst relative error ${worst.toExponential(2)} at ${worstName}; ${nonzero}/${g.length} clearly non-zero`,
    );
    t.ok(worst <= 1e-6, `worst relative error ${worst} ≤ 1e-6`);
    t.ok(nonzero > 0.9 * g.length, 'gradients are non-trivial');
  });
}

for (const tied of [false, true])
  t.test(`full-parameter gradients match float64 finite differences (tied embeddings: ${tied})`, async (t) => {
    const c = tinyConfig({ tie_word_embeddings: tied });
    const m64 = toFloat64(createRandomModel(c, 11, { std: 0.3, perturbNorms: 0.2 }));
    const ad64 = initLoraAdapter(
      c,
      defaultLoraSettings({ r: 2, alpha: 5 }),
      new Rng(5),
    ) as unknown as LoraAdapter<Float64Array>;
    ad64.params = Float64Array.from(ad64.params);
    {
      const r = new Rng(9);
      for (let i = 0; i < ad64.params.length; i++) ad64.params[i] = 0.2 * r.normal();
    }
    const scale = 2.5;
    const res = forwardTrain(m64, ad64, scale, batch, { temperature: 1.3, saveForBackward: true });
    const { dlogp } = grpoLikeLoss(res.logp, batch, adv, old, ref, 0.04);
    const base = zerosLike(c, (n) => new Float64Array(n));
    backwardTrain(res.saved!, dlogp, { base });
    const loss = (): number =>
      grpoLikeLoss(forwardTrain(m64, ad64, scale, batch, { temperature: 1.3 }).logp, batch, adv, old, ref, 0.04).loss;
    const weights = new Map(weightEntries(c, m64.weights));
    let worst = 0,
      worstName = '',
      checked = 0;
    // Fourth-order stencil (truncation O(h⁴)) lets h be large enough that float64 round-off in the
    // loss stays far below the smallest gradients; a seeded sample of up to 48 entries per tensor
    // (every tensor, every layer) keeps the test fast.
    const h = 1e-3;
    const pick = new Rng(21);
    for (const [name, grad] of weightEntries(c, base)) {
      const wt = weights.get(name)!;
      const idx =
        wt.length <= 48
          ? Array.from({ length: wt.length }, (_, i) => i)
          : Array.from({ length: 48 }, () => pick.int(wt.length));
      for (const i of idx) {
        const keep = wt[i]!;
        const f = (d: number): number => {
          wt[i] = keep + d;
          const v = loss();
          wt[i] = keep;
          return v;
        };
        const fd = (-f(2 * h) + 8 * f(h) - 8 * f(-h) + f(-2 * h)) / (12 * h);
        const e = Math.abs(fd) < 1e-9 && Math.abs(grad[i]!) < 1e-9 ? 0 : relErr(fd, grad[i]!);
        checked++;
        if (e > worst) {
          worst = e;
          worstName = `${name}[${i}] fd ${fd} analytic ${grad[i]}`;
        }
      }
    }
    t.comment(`${checked} base parameters; worst relative error ${worst.toExponential(2)} at ${worstName}`);
    t.ok(worst <= 1e-6, `worst relative error ${worst} ≤ 1e-6`);
  });

t.test('float32 path matches the float64 path', async (t) => {
  const { m64, ad64, ad32, scale } = setup(0);
  const m32 = createRandomModel(c, 11, { std: 0.3, perturbNorms: 0.2 });
  const r64 = forwardTrain(m64, ad64, scale, batch, { saveForBackward: true });
  const r32 = forwardTrain(m32, ad32, scale, batch, { saveForBackward: true });
  let worstLp = 0;
  for (let i = 0; i < r64.logp.length; i++) worstLp = Math.max(worstLp, Math.abs(r64.logp[i]! - r32.logp[i]!));
  const { dlogp } = grpoLikeLoss(r64.logp, batch, adv, old, ref, 0.04);
  const g64 = new Float64Array(ad64.params.length),
    g32 = new Float32Array(ad32.params.length);
  backwardTrain(r64.saved!, dlogp, { lora: g64 });
  backwardTrain(r32.saved!, Float32Array.from(dlogp), { lora: g32 });
  let num = 0,
    den = 0;
  for (let i = 0; i < g64.length; i++) {
    num += (g64[i]! - g32[i]!) ** 2;
    den += g64[i]! ** 2;
  }
  const rel = Math.sqrt(num / den);
  t.comment(`max |Δlogp| ${worstLp.toExponential(2)}, relative gradient difference ${rel.toExponential(2)}`);
  t.ok(worstLp < 1e-5, 'log-probs agree to 1e-5');
  t.ok(rel < 1e-5, 'LoRA gradients agree to 1e-5 relative (L2)');
});

t.test('reference policy (scale 0) ignores the adapter and gives zero LoRA gradients', async (t) => {
  const { m64, ad64 } = setup(0);
  const a = forwardTrain(m64, null, 0, batch).logp;
  const res = forwardTrain(m64, ad64, 0, batch, { saveForBackward: true });
  t.same(Array.from(res.logp), Array.from(a));
  const g = new Float64Array(ad64.params.length);
  backwardTrain(res.saved!, grpoLikeLoss(res.logp, batch, adv, old, ref, 0.04).dlogp, { lora: g });
  t.ok(g.every((v) => v === 0));
});

t.test('attention: the matmul path (≥ 24 rows) equals the row loops in float64', async (t) => {
  const { attentionForward } = await import('../../src/ops/cpu/attention.js');
  const { attentionForwardRows } = await import('../../src/ops/cpu/attention-rows.js');
  const r = new Rng(77);
  for (const [rows, firstPos] of [
    [30, 0],
    [25, 9],
  ] as const) {
    const H = 4,
      KV = 2,
      hd = 8,
      nk = rows + firstPos;
    const q = new Float64Array(rows * H * hd).map(() => r.normal());
    const k = new Float64Array(nk * KV * hd).map(() => r.normal());
    const v = new Float64Array(nk * KV * hd).map(() => r.normal());
    const o1 = new Float64Array(rows * H * hd),
      o2 = new Float64Array(rows * H * hd),
      l1 = new Float64Array(rows * H),
      l2 = new Float64Array(rows * H);
    const shape = { rows, firstPos, nHeads: H, nKvHeads: KV, headDim: hd };
    attentionForward(o1, l1, q, k, v, shape, new Float64Array(nk));
    attentionForwardRows(o2, l2, q, k, v, shape, new Float64Array(nk));
    let worst = 0;
    for (let i = 0; i < o1.length; i++) worst = Math.max(worst, Math.abs(o1[i]! - o2[i]!));
    for (let i = 0; i < l1.length; i++) worst = Math.max(worst, Math.abs(l1[i]! - l2[i]!));
    t.ok(worst < 1e-12, `rows ${rows}, firstPos ${firstPos}: max difference ${worst}`);
  }
});

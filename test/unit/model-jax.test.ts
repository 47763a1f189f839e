// Independent autodiff check: the same Qwen2 + LoRA model and GRPO-like loss written in jax-js
// (its own reverse-mode autodiff, WASM backend), gradients w.r.t. every LoRA tensor compared
// with backwardTrain. jax-js 0.1.25 needs two things Node 20 lacks, provided here: it checks
// `instanceof Float16Array` (Node 20 has none; a stand-in class makes that check false), and
// init() without arguments probes `navigator.gpu`, so only the `cpu` backend is requested. The cpu
// backend evaluates float64 arrays in float64; the wasm backend was measured to evaluate them at
// float32 accuracy (loss off by 3e-6 relative, gradient entries by up to 1e-3), too coarse here.
import t from 'tap';
if (typeof (globalThis as Record<string, unknown>).Float16Array === 'undefined') {
  (globalThis as Record<string, unknown>).Float16Array = class Float16Array {};
}
const jax = await import('@jax-js/jax');
const { numpy: np, nn, grad, init, defaultDevice } = jax;
type JArr = InstanceType<typeof jax.Array>;
import { createRandomModel, toFloat64 } from '../../src/model/weights.js';
import {
  defaultLoraSettings,
  initLoraAdapter,
  loraScale,
  LORA_MODULES,
  modulePath,
  type LoraModule,
} from '../../src/model/lora.js';
import { backwardTrain, forwardTrain } from '../../src/model/train.js';
import { ropeTable } from '../../src/ops/cpu/rope.js';
import { Rng } from '../../src/util/rng.js';
import { grpoLikeLoss, randomBatch, tinyConfig } from '../helpers/model-helpers.js';

await init('cpu');
defaultDevice('cpu');

const c = tinyConfig({ tie_word_embeddings: true });
const m32 = createRandomModel(c, 31, { std: 0.3, perturbNorms: 0.2 });
const m64 = toFloat64(m32);
const settings = defaultLoraSettings({ r: 2, alpha: 6 });
const ad = initLoraAdapter(c, settings, new Rng(2));
{
  const r = new Rng(6);
  for (const s of ad.layout.tensors)
    if (s.name.endsWith('lora_B'))
      for (let i = 0; i < s.shape[0]! * s.shape[1]!; i++) ad.params[s.offset + i] = 0.3 * r.normal();
}
const ad64 = { ...ad, params: Float64Array.from(ad.params) };
const scale = loraScale(settings);
const batch = randomBatch(c, 12, [8, 5], [3, 2], 8);
const T = batch.seqLen,
  temperature = 0.8,
  beta = 0.04,
  adv = [0.7, -1.2];
const old = new Float64Array(2 * T),
  ref = new Float64Array(2 * T);
{
  const r = new Rng(13);
  for (let i = 0; i < old.length; i++) {
    old[i] = -3 + 0.3 * r.normal();
    ref[i] = -3 + 0.3 * r.normal();
  }
}

const C = (a: ArrayLike<number>, shape: number[]): JArr =>
  np.array(Float64Array.from(a as ArrayLike<number>)).reshape(shape);
const D = c.hiddenSize,
  H = c.numHeads,
  KVH = c.numKvHeads,
  hd = c.headDim,
  V = c.vocabSize;

type Params = { [name: string]: JArr };

function rmsnorm(x: JArr, w: Float64Array): JArr {
  const inv = np.sqrt(np.mean(np.square(x.ref), -1, { keepdims: true }).add(c.rmsNormEps));
  return x.div(inv).mul(C(w, [D]));
}

function lin(
  x: JArr,
  w: Float64Array,
  outF: number,
  inF: number,
  bias: Float64Array | null,
  p: Params,
  name: string | null,
): JArr {
  let y = np.matmul(x.ref, np.matrixTranspose(C(w, [outF, inF])));
  if (bias) y = y.add(C(bias, [outF]));
  if (name && p[`${name}.lora_A`]) {
    const u = np.matmul(x, np.matrixTranspose(p[`${name}.lora_A`]!));
    y = y.add(np.matmul(u, np.matrixTranspose(p[`${name}.lora_B`]!)).mul(scale));
  } else {
    x.dispose();
  }
  return y;
}

function rope(x: JArr, L: number, heads: number): JArr {
  const tab = ropeTable(c.ropeTheta, hd, L),
    half = hd / 2;
  const cos = new Float64Array(L * hd),
    sin = new Float64Array(L * hd),
    P = new Float64Array(hd * hd);
  for (let p = 0; p < L; p++)
    for (let i = 0; i < hd; i++) {
      cos[p * hd + i] = tab.cos[p * half + (i % half)]!;
      sin[p * hd + i] = tab.sin[p * half + (i % half)]!;
    }
  for (let j = 0; j < half; j++) {
    P[(j + half) * hd + j] = -1;
    P[j * hd + j + half] = 1;
  } // x·P = rotate_half(x)
  const x3 = x.reshape([L, heads, hd]);
  const rot = np.matmul(x3.ref, C(P, [hd, hd]));
  return x3.mul(C(cos, [L, 1, hd])).add(rot.mul(C(sin, [L, 1, hd])));
}

function seqLoss(p: Params, b: number): JArr {
  const L = batch.lengths[b]!;
  const ids = Array.from(batch.ids.subarray(b * T, b * T + L));
  let x = np.take(C(m64.weights.embed, [V, D]), np.array(ids, { dtype: np.int32 }), 0);
  const maskData = new Float64Array(L * L);
  for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) maskData[i * L + j] = -1e30;
  for (let l = 0; l < c.numLayers; l++) {
    const lw = m64.weights.layers[l]!;
    const n = (m: LoraModule): string => modulePath(l, m);
    const xn = rmsnorm(x.ref, lw.inputNorm);
    const q = rope(lin(xn.ref, lw.q, H * hd, D, lw.qBias, p, n('q_proj')), L, H);
    const k = rope(lin(xn.ref, lw.k, KVH * hd, D, lw.kBias, p, n('k_proj')), L, KVH);
    const v = lin(xn, lw.v, KVH * hd, D, lw.vBias, p, n('v_proj')).reshape([L, KVH, hd]);
    const qh = q.transpose([1, 0, 2]);
    const kh = np.repeat(k, H / KVH, 1).transpose([1, 2, 0]);
    const vh = np.repeat(v, H / KVH, 1).transpose([1, 0, 2]);
    const probs = nn.softmax(
      np
        .matmul(qh, kh)
        .mul(1 / Math.sqrt(hd))
        .add(C(maskData, [L, L])),
      -1,
    );
    const o = np
      .matmul(probs, vh)
      .transpose([1, 0, 2])
      .reshape([L, H * hd]);
    const h2 = x.add(lin(o, lw.o, D, H * hd, null, p, n('o_proj')));
    const xn2 = rmsnorm(h2.ref, lw.postNorm);
    const g = lin(xn2.ref, lw.gate, c.intermediateSize, D, null, p, n('gate_proj'));
    const u = lin(xn2, lw.up, c.intermediateSize, D, null, p, n('up_proj'));
    const a = g.ref.mul(nn.sigmoid(g)).mul(u);
    x = h2.add(lin(a, lw.down, D, c.intermediateSize, null, p, n('down_proj')));
  }
  const logits = np.matmul(rmsnorm(x, m64.weights.finalNorm), np.matrixTranspose(C(m64.weights.lmHead, [V, D])));
  const logp = nn.logSoftmax(logits.mul(1 / temperature), -1);
  const sel = new Float64Array(L * V),
    mask = new Float64Array(L),
    o = new Float64Array(L),
    r = new Float64Array(L);
  for (let tt = batch.scoreFrom[b]!; tt < L; tt++) {
    sel[(tt - 1) * V + ids[tt]!] = 1;
    mask[tt - 1] = 1;
    o[tt - 1] = old[b * T + tt]!;
    r[tt - 1] = ref[b * T + tt]!;
  }
  const lp = np.sum(logp.mul(C(sel, [L, V])), -1);
  const ratio = np.exp(lp.ref.sub(C(o, [L])));
  const d = C(r, [L]).sub(lp);
  const kl = np.exp(d.ref).sub(d).sub(1);
  return np.sum(
    ratio
      .mul(-adv[b]!)
      .add(kl.mul(beta))
      .mul(C(mask, [L])),
  );
}

const totalLoss = (p: Params): JArr => {
  const names = Object.keys(p);
  const share = (): Params => Object.fromEntries(names.map((k) => [k, p[k]!.ref]));
  let total = seqLoss(share(), 0);
  for (let b = 1; b < batch.lengths.length; b++) total = total.add(seqLoss(share(), b));
  for (const k of names) p[k]!.dispose();
  return total;
};

t.test('jax-js autodiff agrees with backwardTrain on every LoRA tensor', async (t) => {
  const params: Params = {};
  for (const s of ad64.layout.tensors)
    params[s.name] = C(ad64.params.subarray(s.offset, s.offset + s.shape[0]! * s.shape[1]!), s.shape);
  const lossJ = totalLoss({ ...Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.ref])) }).js() as number;
  const gj = grad(totalLoss)(params) as Params;

  const res = forwardTrain(m64, ad64, scale, batch, { temperature, saveForBackward: true });
  const { loss, dlogp } = grpoLikeLoss(res.logp, batch, adv, old, ref, beta);
  const g = new Float64Array(ad64.params.length);
  backwardTrain(res.saved!, dlogp, { lora: g });
  t.ok(Math.abs(lossJ - loss) <= 1e-10 * Math.abs(loss), `losses agree: jax ${lossJ} vs ours ${loss}`);
  let worst = 0,
    where = '',
    count = 0,
    maxAbs = 0;
  for (let i = 0; i < g.length; i++) maxAbs = Math.max(maxAbs, Math.abs(g[i]!));
  for (const s of ad64.layout.tensors) {
    const jv = gj[s.name]!.dataSync() as unknown as ArrayLike<number>;
    for (let i = 0; i < jv.length; i++) {
      const ours = g[s.offset + i]!,
        theirs = jv[i]!;
      const e = Math.abs(ours - theirs) / Math.max(Math.abs(ours), Math.abs(theirs), 1e-12 * maxAbs);
      count++;
      if (e > worst) {
        worst = e;
        where = `${s.name}[${i}] ours ${ours} jax ${theirs}`;
      }
    }
  }
  t.comment(
    `${count} LoRA gradient entries (${LORA_MODULES.length} modules × ${c.numLayers} layers); worst relative difference ${worst.toExponential(2)} at ${where}`,
  );
  t.equal(count, ad64.layout.size);
  t.ok(worst <= 1e-4, `worst relative difference ${worst} ≤ 1e-4`);
});

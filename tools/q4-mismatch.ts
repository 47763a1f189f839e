// node dist/tools/q4-mismatch.js — the rollout/learner mismatch a q4f16_1 WebLLM library causes, in
// proxy: per-token log-probs of the same sequences under a model with its f32 weights (the learner)
// and with its weights quantized to q4f16_1 and dequantized (what the q4 library multiplies by),
// both on loractor's CPU model. Reports mean / max |Δ log-prob| and the per-token importance ratio
// π_learner / π_rollout = exp(Δ) that the behaviour corrections (src/rl/behaviour-correction.ts) see.
// Not measured here: the library's f16 activations and its own kernels (no q4 library runs on these
// machines), so the real mismatch is this plus f16 compute noise.
//   --model tiny|0.5b  --layers N (0.5b: default 2)  --sequences 4  --tokens 32  --seed 1  --out FILE
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { scriptOptions, UsageError } from '../src/cli/standard-flags.js';
import { dequantizeQ4, quantizeQ4 } from '../src/engines/webllm/q4f16.js';
import { loadModel } from '../src/model/load.js';
import { completionLogprobs } from '../src/model/logprobs.js';
import { randomModel } from '../src/model/random-weights.js';
import { shapeConfig } from '../src/model/shapes.js';
import type { Model } from '../src/model/weights.js';
import { repoRoot } from '../src/util/paths.js';
import { Rng } from '../src/util/rng.js';

const HELP = `usage: node dist/tools/q4-mismatch.js [--model tiny|0.5b] [--layers N] [--sequences N] [--tokens N] [--seed N] [--out FILE]
  Per-token log-prob mismatch between f32 weights and q4f16_1-dequantized weights on loractor's CPU model.`;
const { values: a } = scriptOptions({
  name: 'q4-mismatch',
  help: HELP,
  options: {
    model: { type: 'string', default: 'tiny' },
    layers: { type: 'string', default: '2' },
    sequences: { type: 'string', default: '4' },
    tokens: { type: 'string', default: '32' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string' },
  },
});
const int = (name: string, v: string): number => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`--${name}: expected a positive integer, got '${v}'`);
  return Number(v);
};
const S = int('sequences', a.sequences!),
  T = int('tokens', a.tokens!),
  seed = int('seed', a.seed!);
let model: Model;
let label: string;
if (a.model === 'tiny') {
  model = loadModel(join(repoRoot(), 'models', 'tiny')) as Model;
  label = 'models/tiny (trained, 742k parameters)';
} else if (a.model === '0.5b') {
  const c = { ...shapeConfig('0.5b'), numLayers: int('layers', a.layers!) };
  model = randomModel(c, seed);
  label = `random Qwen2-0.5B shape, ${c.numLayers} layers (std 0.02 weights)`;
} else throw new UsageError(`--model: tiny or 0.5b, got '${a.model}'`);

/** The same model with every matrix MLC's q4f16_1 quantizes (linears and embedding) quantized and dequantized. */
function q4Model(m: Model): Model {
  const c = m.config;
  const qd = (w: Float32Array, rows: number, cols: number): Float32Array =>
    dequantizeQ4(quantizeQ4(w, { rows, cols }), { rows, cols });
  const D = c.hiddenSize,
    I = c.intermediateSize,
    Q = c.numHeads * c.headDim,
    KV = c.numKvHeads * c.headDim;
  const embed = qd(m.weights.embed, c.vocabSize, D);
  return {
    config: c,
    weights: {
      embed,
      finalNorm: m.weights.finalNorm,
      lmHead: c.tieWordEmbeddings ? embed : qd(m.weights.lmHead, c.vocabSize, D),
      layers: m.weights.layers.map((l) => ({
        ...l,
        q: qd(l.q, Q, D),
        k: qd(l.k, KV, D),
        v: qd(l.v, KV, D),
        o: qd(l.o, D, Q),
        gate: qd(l.gate, I, D),
        up: qd(l.up, I, D),
        down: qd(l.down, D, I),
      })),
    },
  };
}

const rng = new Rng(seed);
const items = Array.from({ length: S }, () => ({
  prompt: Int32Array.from({ length: 8 }, () => Math.floor(rng.next() * model.config.vocabSize)),
  completion: Int32Array.from({ length: T }, () => Math.floor(rng.next() * model.config.vocabSize)),
}));
// Sequences the f32 model itself samples would be the on-policy case; for the tiny model they are
// drawn token by token from its own distribution (temperature 1), for the random model uniformly.
if (a.model === 'tiny') {
  for (const it of items) {
    for (let i = 0; i < T; i++) {
      const ctx = {
        prompt: Int32Array.from([...it.prompt, ...it.completion.subarray(0, i)]),
        completion: Int32Array.from([0]),
      };
      const lps = Array.from(
        { length: model.config.vocabSize },
        (_, v) => completionLogprobs(model, null, 0, [{ ...ctx, completion: Int32Array.from([v]) }])[0]![0]!,
      );
      let u = rng.next(),
        v = 0;
      for (; v < lps.length - 1; v++) {
        u -= Math.exp(lps[v]!);
        if (u <= 0) break;
      }
      it.completion[i] = v;
    }
  }
}
const f32 = completionLogprobs(model, null, 0, items, { batchSize: S });
const q4 = completionLogprobs(q4Model(model), null, 0, items, { batchSize: S });
const deltas: number[] = [];
const seqLogRatio: number[] = [];
f32.forEach((lp, s) => {
  let sum = 0;
  lp.forEach((v, i) => {
    const d = v - q4[s]![i]!;
    deltas.push(d);
    sum += d;
  });
  seqLogRatio.push(sum);
});
const abs = deltas.map(Math.abs);
const ratios = deltas.map(Math.exp).sort((x, y) => x - y);
const pct = (p: number): number => ratios[Math.min(ratios.length - 1, Math.floor(p * ratios.length))]!;
const mean = (x: number[]): number => x.reduce((s, v) => s + v, 0) / x.length;
const result = {
  model: label,
  sequences: S,
  tokensPerSequence: T,
  tokens: deltas.length,
  meanAbsDeltaLogprob: mean(abs),
  maxAbsDeltaLogprob: Math.max(...abs),
  ratio: {
    min: ratios[0]!,
    p01: pct(0.01),
    p50: pct(0.5),
    p99: pct(0.99),
    max: ratios[ratios.length - 1]!,
    std: Math.sqrt(mean(ratios.map((r) => (r - mean(ratios)) ** 2))),
  },
  outsideClip02: ratios.filter((r) => r < 0.8 || r > 1.2).length / ratios.length,
  sequenceRatio: seqLogRatio.map(Math.exp),
};
console.log(`q4f16_1 vs f32 weights, ${label}: ${deltas.length} tokens (${S} sequences × ${T})`);
console.log(
  `|Δ log-prob| mean ${result.meanAbsDeltaLogprob.toExponential(3)}, max ${result.maxAbsDeltaLogprob.toExponential(3)}`,
);
console.log(
  `per-token ratio exp(Δ): min ${result.ratio.min.toFixed(4)}, p1 ${result.ratio.p01.toFixed(4)}, median ${result.ratio.p50.toFixed(4)}, p99 ${result.ratio.p99.toFixed(4)}, max ${result.ratio.max.toFixed(4)}, std ${result.ratio.std.toExponential(2)}; outside [0.8, 1.2]: ${(100 * result.outsideClip02).toFixed(2)}%`,
);
console.log(`sequence ratios: ${result.sequenceRatio.map((r) => r.toFixed(4)).join(', ')}`);
const out = resolve(a.out ?? join(repoRoot(), 'runs', `q4-mismatch-${a.model}.json`));
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
console.log(`wrote ${out}`);

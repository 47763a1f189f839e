// Token sampling from one row of logits. The reported log-prob is that of the distribution the token
// was actually drawn from: softmax(logits / T), restricted by top-k then top-p and renormalised
// (src/rl/token-distribution.ts, shared with the learner so the importance ratio between engine and
// learner is exactly 1 on-policy). Without top-p / top-k that is log softmax(logits / T) over the
// whole vocabulary, what TRL's learner computes. Greedy (T = 0) reports the log-prob under T = 1.
import type { Rng } from '../../util/rng.js';
import { keptPrefix } from '../../rl/token-distribution.js';

export interface SampleOptions {
  temperature: number;
  top_p: number;
  top_k: number;
}

/** Scratch buffers reused across calls so the decode loop does not allocate per token. */
export interface SamplerScratch {
  probs: Float64Array;
  order: number[];
}

export function createSamplerScratch(vocab: number): SamplerScratch {
  return { probs: new Float64Array(vocab), order: [] };
}

export function sampleToken(
  logits: Float32Array,
  opts: SampleOptions,
  rng: Rng,
  scratch: SamplerScratch,
): { token: number; logprob: number } {
  const V = logits.length;
  const T = opts.temperature > 0 ? opts.temperature : 1;
  let max = -Infinity;
  let argmax = 0;
  for (let i = 0; i < V; i++) {
    const v = logits[i]!;
    if (v > max) {
      max = v;
      argmax = i;
    }
  }
  const probs = scratch.probs;
  let sum = 0;
  for (let i = 0; i < V; i++) {
    const e = Math.exp((logits[i]! - max) / T);
    probs[i] = e;
    sum += e;
  }
  const logZ = Math.log(sum);
  const logprobOf = (tok: number): number => (logits[tok]! - max) / T - logZ;
  if (opts.temperature <= 0) return { token: argmax, logprob: logprobOf(argmax) };

  const useTopK = opts.top_k > 0 && opts.top_k < V;
  const useTopP = opts.top_p > 0 && opts.top_p < 1;
  if (!useTopK && !useTopP) {
    // Inverse-CDF sampling in index order: deterministic given the rng stream.
    let u = rng.next() * sum;
    for (let i = 0; i < V; i++) {
      u -= probs[i]!;
      if (u < 0) return { token: i, logprob: logprobOf(i) };
    }
    return { token: V - 1, logprob: logprobOf(V - 1) };
  }
  const sorted = scratch.order;
  const keep = keptPrefix(probs, V, { topP: opts.top_p, topK: opts.top_k }, sorted);
  let kept = 0;
  for (let i = 0; i < keep; i++) kept += probs[sorted[i]!]!;
  // log p_K(tok) = log p(tok) − log(mass of the kept set): the renormalised distribution sampled from.
  const logKept = Math.log(kept / sum);
  let u = rng.next() * kept;
  for (let i = 0; i < keep; i++) {
    u -= probs[sorted[i]!]!;
    if (u < 0) return { token: sorted[i]!, logprob: logprobOf(sorted[i]!) - logKept };
  }
  const last = sorted[keep - 1]!;
  return { token: last, logprob: logprobOf(last) - logKept };
}

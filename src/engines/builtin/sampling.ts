// Token sampling from one row of logits. The reported log-prob is log softmax(logits / T) of the
// chosen token over the whole vocabulary — what TRL's learner computes for the same token — even
// when top-p / top-k restrict the candidates (as vLLM and WebLLM report it). Greedy (T = 0) reports
// the log-prob under T = 1.
import type { Rng } from '../../util/rng.js';

export interface SampleOptions {
  temperature: number;
  top_p: number;
  top_k: number;
}

/** Scratch buffers reused across calls so the decode loop does not allocate per token. */
export interface SamplerScratch {
  probs: Float64Array;
  order: Int32Array;
}

export function createSamplerScratch(vocab: number): SamplerScratch {
  return { probs: new Float64Array(vocab), order: new Int32Array(vocab) };
}

export function sampleToken(logits: Float32Array, opts: SampleOptions, rng: Rng, scratch: SamplerScratch): { token: number; logprob: number } {
  const V = logits.length;
  const T = opts.temperature > 0 ? opts.temperature : 1;
  let max = -Infinity;
  let argmax = 0;
  for (let i = 0; i < V; i++) {
    const v = logits[i]!;
    if (v > max) { max = v; argmax = i; }
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
  // Candidates sorted by probability (ties by index, so the order is deterministic).
  const order = scratch.order;
  for (let i = 0; i < V; i++) order[i] = i;
  const sorted = Array.prototype.slice.call(order, 0, V) as number[];
  sorted.sort((a, b) => probs[b]! - probs[a]! || a - b);
  let keep = useTopK ? opts.top_k : V;
  if (useTopP) {
    let cum = 0;
    for (let i = 0; i < keep; i++) {
      cum += probs[sorted[i]!]! / sum;
      if (cum >= opts.top_p) { keep = i + 1; break; }
    }
  }
  let kept = 0;
  for (let i = 0; i < keep; i++) kept += probs[sorted[i]!]!;
  let u = rng.next() * kept;
  for (let i = 0; i < keep; i++) {
    u -= probs[sorted[i]!]!;
    if (u < 0) return { token: sorted[i]!, logprob: logprobOf(sorted[i]!) };
  }
  const last = sorted[keep - 1]!;
  return { token: last, logprob: logprobOf(last) };
}

// The cpu reference of the GPU sampler (src/ops/webgpu/sampling.ts), in float64. The kept set is
// the one rule the builtin engine and the learner share (keptPrefix in src/rl/token-distribution.ts:
// top_k by (p desc, id asc), renormalise, the smallest prefix reaching top_p); the draw is inverse
// CDF in id order over the kept set with the given uniform, as the GPU does it.
import { keptPrefix } from '../../src/rl/token-distribution.js';

export interface RefSample {
  token: number;
  logprob: number;
  rawLogprob: number;
  kept: Set<number>;
}

export function referenceSample(
  logits: ArrayLike<number>,
  temperature: number,
  topK: number,
  topP: number,
  u: number,
): RefSample {
  const V = logits.length;
  let max = -Infinity,
    argmax = 0;
  for (let i = 0; i < V; i++)
    if (logits[i]! > max) {
      max = logits[i]!;
      argmax = i;
    }
  let sum1 = 0;
  for (let i = 0; i < V; i++) sum1 += Math.exp(logits[i]! - max);
  const raw = (tok: number): number => logits[tok]! - max - Math.log(sum1);
  if (!(temperature > 0))
    return { token: argmax, logprob: raw(argmax), rawLogprob: raw(argmax), kept: new Set([argmax]) };
  const probs = new Float64Array(V);
  for (let i = 0; i < V; i++) probs[i] = Math.exp((logits[i]! - max) / temperature);
  const order: number[] = [];
  const k = keptPrefix(probs, V, { topK, topP }, order);
  const kept = new Set(order.slice(0, k));
  let mass = 0;
  for (const i of kept) mass += probs[i]!;
  let acc = 0,
    token = -1,
    last = -1;
  const target = u * mass;
  for (let i = 0; i < V; i++) {
    if (!kept.has(i)) continue;
    last = i;
    acc += probs[i]!;
    if (acc > target) {
      token = i;
      break;
    }
  }
  if (token < 0) token = last;
  return { token, logprob: Math.log(probs[token]! / mass), rawLogprob: raw(token), kept };
}

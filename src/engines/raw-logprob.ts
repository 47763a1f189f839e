// The model's own log-prob of a token: log-softmax of the raw logits (temperature 1, whole
// vocabulary), whatever the sampling settings: Completion.modelLogprobs (engines/types.ts).

export function rawLogprob(logits: ArrayLike<number>, token: number): number {
  const V = logits.length;
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < V; i++) sum += Math.exp(logits[i]! - max);
  return logits[token]! - max - Math.log(sum);
}

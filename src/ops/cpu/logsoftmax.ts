// Log-softmax + gather: log p(target) under logits / temperature, for selected rows only (the
// caller gathers the hidden rows whose next token is scored, so prompt positions cost nothing).
import type { FloatArray } from '../matmul.js';

/** logp[r] = z[r, target[r]] − logsumexp(z[r]) with z = logits · invTemp; saves lse[r]. */
export function logSoftmaxGatherForward(
  logp: FloatArray,
  lse: FloatArray,
  logits: FloatArray,
  targets: Int32Array,
  rows: number,
  vocab: number,
  invTemp: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * vocab;
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) {
      const z = logits[o + i]! * invTemp;
      if (z > max) max = z;
    }
    let sum = 0;
    for (let i = 0; i < vocab; i++) sum += Math.exp(logits[o + i]! * invTemp - max);
    const l = max + Math.log(sum);
    lse[r] = l;
    const t = targets[r]!;
    if (t < 0 || t >= vocab) throw new Error(`logSoftmaxGather: target id ${t} outside vocabulary [0, ${vocab})`);
    logp[r] = logits[o + t]! * invTemp - l;
  }
}

/**
 * Overwrites logits in place with ∂L/∂logits = dlogp · invTemp · (onehot(target) − softmax(z)),
 * so the [rows, vocab] buffer is reused rather than a second one materialised.
 */
export function logSoftmaxGatherBackward(
  logits: FloatArray,
  dlogp: FloatArray,
  lse: FloatArray,
  targets: Int32Array,
  rows: number,
  vocab: number,
  invTemp: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * vocab;
    const g = dlogp[r]! * invTemp;
    const l = lse[r]!;
    for (let i = 0; i < vocab; i++) logits[o + i] = -g * Math.exp(logits[o + i]! * invTemp - l);
    logits[o + targets[r]!]! += g;
  }
}

// The distribution a token is sampled from, shared by the builtin engine (which samples from it and
// reports its log-prob) and the learner (which scores the same tokens under it), so that with top-p /
// top-k the behaviour and learner log-probs describe the same, truncated and renormalised
// distribution and the importance ratio between them is exactly 1 on-policy. (A full-vocabulary
// log-prob on one side and a truncated one on the other — what TRL and verl compare today — gives
// ratios of mass(kept set) ≠ 1 that no correction can tell from real drift.)
//
// Order as vLLM (apply_top_k_top_p) and HF warpers: softmax(logits / T); keep the top_k most likely
// (top_k 0 = off); renormalise; keep the smallest prefix (by probability, ties by lower id) whose
// cumulative probability reaches top_p (top_p 1 = off); renormalise again.
//
// On the learner's side the kept set comes from the learner's own logits. A token the engine sampled
// can fall outside it when the policies differ (a stale version, kernel noise at the boundary): the
// kept set is then widened by that one token, so its log-prob stays finite (exact whenever the
// token is inside, which on-policy it always is). `outside` counts those tokens.

export interface TruncationOptions {
  /** Nucleus mass in (0, 1]; 1 = off. */
  topP: number;
  /** Most likely tokens kept; 0 (or ≥ vocab) = off. */
  topK: number;
}

export function truncationActive(o: TruncationOptions, vocab: number): boolean {
  return (o.topK > 0 && o.topK < vocab) || (o.topP > 0 && o.topP < 1);
}

/**
 * Candidates sorted by probability (desc, ties by id) into `order`; returns how many the top-k then
 * top-p filter keeps. `probs` are unnormalised (exp of shifted scaled logits) over `vocab` entries.
 */
export function keptPrefix(probs: ArrayLike<number>, vocab: number, o: TruncationOptions, order: number[]): number {
  order.length = vocab;
  for (let i = 0; i < vocab; i++) order[i] = i;
  order.sort((a, b) => probs[b]! - probs[a]! || a - b);
  let keep = o.topK > 0 && o.topK < vocab ? o.topK : vocab;
  if (o.topP > 0 && o.topP < 1) {
    let mass = 0;
    for (let i = 0; i < keep; i++) mass += probs[order[i]!]!;
    let cum = 0;
    for (let i = 0; i < keep; i++) {
      cum += probs[order[i]!]! / mass;
      if (cum >= o.topP) {
        keep = i + 1;
        break;
      }
    }
  }
  return keep;
}

/** Value written over the logits of excluded tokens: exp(value · invTemp − lse) is exactly 0 (finite, so GPU kernels without inf support read it too). */
export const EXCLUDED_LOGIT = -1e30;

export interface ScoredRows {
  /** Raw logits [rows, vocab] of the scored positions (forwardTrain's `logits`). */
  logits: Float32Array | Float64Array;
  /** Target token per row. */
  targets: ArrayLike<number>;
  rows: number;
  vocab: number;
  invTemp: number;
}

export interface TruncatedRows {
  /** log-prob of each target under the (truncated) distribution. */
  logp: Float64Array;
  /** log-sum-exp of logits · invTemp over the kept set (what the backward must use instead of the full one). */
  lse: Float64Array;
  /** Per-row entropy of the (truncated) distribution, nats. */
  entropy: Float64Array;
  /** Targets that were outside the learner's kept set (the set was widened by them). */
  outside: number;
}

/**
 * Score each row's target under the top-k/top-p distribution, and (with `rewrite`) overwrite the
 * logits of excluded tokens with EXCLUDED_LOGIT so a log-softmax backward given `lse` produces the
 * gradient of the truncated log-prob: invTemp · (onehot − p_K). Without truncation options active it
 * returns the full-softmax log-probs and entropies.
 */
export function scoreRows(r: ScoredRows, o: TruncationOptions, rewrite: boolean): TruncatedRows {
  const { logits, targets, rows, vocab: V, invTemp } = r;
  const out: TruncatedRows = {
    logp: new Float64Array(rows),
    lse: new Float64Array(rows),
    entropy: new Float64Array(rows),
    outside: 0,
  };
  const active = truncationActive(o, V);
  const probs = new Float64Array(V);
  const keep = new Uint8Array(V);
  const order: number[] = [];
  for (let m = 0; m < rows; m++) {
    const base = m * V;
    let max = -Infinity;
    for (let i = 0; i < V; i++) {
      const z = logits[base + i]! * invTemp;
      if (z > max) max = z;
    }
    for (let i = 0; i < V; i++) probs[i] = Math.exp(logits[base + i]! * invTemp - max);
    const y = targets[m]!;
    keep.fill(active ? 0 : 1);
    if (active) {
      const k = keptPrefix(probs, V, o, order);
      for (let i = 0; i < k; i++) keep[order[i]!] = 1;
      if (!keep[y]) {
        keep[y] = 1;
        out.outside++;
      }
    }
    let sum = 0;
    for (let i = 0; i < V; i++) if (keep[i]) sum += probs[i]!;
    const lse = max + Math.log(sum);
    let h = 0;
    for (let i = 0; i < V; i++) {
      if (!keep[i] || probs[i] === 0) continue;
      const p = probs[i]! / sum;
      h -= p * Math.log(p);
    }
    out.lse[m] = lse;
    out.logp[m] = logits[base + y]! * invTemp - lse;
    out.entropy[m] = h;
    if (rewrite && active) for (let i = 0; i < V; i++) if (!keep[i]) logits[base + i] = EXCLUDED_LOGIT;
  }
  return out;
}

// pass@k estimators (Chen et al. 2021, "Evaluating Large Language Models Trained on Code").

/**
 * Unbiased pass@k from n samples of which c are correct: 1 − C(n−c, k) / C(n, k), computed as
 * 1 − Π_{i=n−c+1..n} (1 − k/i) so no binomial coefficient is ever formed (no overflow, no
 * cancellation for large n).
 */
export function passAtK(n: number, c: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(c) || !Number.isInteger(k))
    throw new Error(`passAtK: integers required (n=${n}, c=${c}, k=${k})`);
  if (n < 1 || k < 1 || k > n || c < 0 || c > n)
    throw new Error(`passAtK: need 1 <= k <= n and 0 <= c <= n (n=${n}, c=${c}, k=${k})`);
  if (n - c < k) return 1; // every k-subset contains a correct sample
  let prodFail = 1;
  for (let i = n - c + 1; i <= n; i++) prodFail *= 1 - k / i;
  return 1 - prodFail;
}

/** The k values reported for n samples: 1, 2, 4, … up to n, and n itself. */
export function reportedKs(n: number): number[] {
  const ks: number[] = [];
  for (let k = 1; k <= n; k *= 2) ks.push(k);
  if (ks[ks.length - 1] !== n) ks.push(n);
  return ks;
}

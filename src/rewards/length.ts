// Length-shaped rewards: the pure formulas (no verifier), so the main thread can apply the
// group-level Kimi k1.5 length reward to correctness computed in reward workers.

export interface CosineParams {
  minValueWrong: number;
  maxValueWrong: number;
  minValueCorrect: number;
  maxValueCorrect: number;
  maxLen: number;
}

/**
 * open-r1 cosine schedule. `length` is in characters (Python len). progress = length/maxLen is NOT
 * clipped, so completions longer than maxLen walk back up the cosine — kept on purpose for parity.
 */
export function computeCosineReward(length: number, correct: boolean, p: CosineParams): number {
  if (!(p.maxLen > 0)) throw new Error(`cosine_max_len must be > 0, got ${p.maxLen}`);
  const progress = length / p.maxLen;
  const cosine = Math.cos(progress * Math.PI);
  // For wrong answers the roles swap: short wrong answers get the value closest to zero.
  const minV = correct ? p.minValueCorrect : p.maxValueWrong;
  const maxV = correct ? p.maxValueCorrect : p.minValueWrong;
  return minV + 0.5 * (maxV - minV) * (1.0 + cosine);
}

/**
 * Kimi k1.5 length reward over one list (TRL: one call = one micro-batch; loractor: one group).
 * λ = 0.5 − (L − min)/(max − min); correct → λ, wrong → min(0, λ); all 0 when min == max.
 */
export function computeLengthRewards(lengths: readonly number[], correct: readonly boolean[]): number[] {
  if (lengths.length !== correct.length) throw new Error(`length reward: ${lengths.length} lengths vs ${correct.length} correctness flags`);
  if (lengths.length === 0) return [];
  let minLen = Infinity;
  let maxLen = -Infinity;
  for (const l of lengths) { if (l < minLen) minLen = l; if (l > maxLen) maxLen = l; }
  if (maxLen === minLen) return lengths.map(() => 0.0);
  return lengths.map((l, i) => {
    const lambda = 0.5 - (l - minLen) / (maxLen - minLen);
    return correct[i] ? lambda : Math.min(0, lambda);
  });
}

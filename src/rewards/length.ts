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
  if (lengths.length !== correct.length)
    throw new Error(`length reward: ${lengths.length} lengths vs ${correct.length} correctness flags`);
  if (lengths.length === 0) return [];
  let minLen = Infinity;
  let maxLen = -Infinity;
  for (const l of lengths) {
    if (l < minLen) minLen = l;
    if (l > maxLen) maxLen = l;
  }
  if (maxLen === minLen) return lengths.map(() => 0.0);
  return lengths.map((l, i) => {
    const lambda = 0.5 - (l - minLen) / (maxLen - minLen);
    return correct[i] ? lambda : Math.min(0, lambda);
  });
}

/** Tina's L1 length-control constants (tina/post_train_hf/rewards.py: alpha 0.0003, delta 0.5). */
export const L1_ALPHA = 0.0003;
export const L1_MAX_DELTA = 0.5;

/** One target per completion: the row's target_length (Tina samples it per row and asks for it in the system prompt). */
function checkTargets(
  fn: string,
  lengths: readonly number[],
  correct: readonly boolean[],
  targets: readonly number[],
): void {
  if (lengths.length !== correct.length || lengths.length !== targets.length) {
    throw new Error(
      `${fn}: ${lengths.length} lengths, ${correct.length} correctness flags and ${targets.length} target lengths must agree`,
    );
  }
  const bad = targets.findIndex((t) => typeof t !== 'number' || !Number.isFinite(t));
  if (bad >= 0)
    throw new Error(
      `${fn}: target_length of completion ${bad} is ${JSON.stringify(targets[bad])}, expected a number (set data.l1_target_length so each row gets one)`,
    );
}

/**
 * Tina's len_reward_l1_exact (L1-Exact): correct → 1 − α·|L − target|, wrong → −α·|L − target|,
 * L in characters. Kept from Tina's copy of len_reward: when every completion of the group has the
 * same length, every reward is 0. (Tina's code subtracts the whole target_length list from each
 * length, which Python refuses; each completion's own target is the evident intent and is used.)
 */
export function computeL1ExactRewards(
  lengths: readonly number[],
  correct: readonly boolean[],
  targets: readonly number[],
): number[] {
  checkTargets('length_l1_exact', lengths, correct, targets);
  if (lengths.length === 0 || lengths.every((l) => l === lengths[0])) return lengths.map(() => 0.0);
  return lengths.map((l, i) => {
    const penalty = L1_ALPHA * Math.abs(l - targets[i]!);
    return correct[i] ? 1 - penalty : -penalty;
  });
}

/**
 * Tina's len_reward_l1_max (L1-Max): correct → clip(α·(target − L) + 0.5, 0, 1), wrong → 0, L in
 * characters; all 0 when every length of the group is the same (as in Tina's code).
 */
export function computeL1MaxRewards(
  lengths: readonly number[],
  correct: readonly boolean[],
  targets: readonly number[],
): number[] {
  checkTargets('length_l1_max', lengths, correct, targets);
  if (lengths.length === 0 || lengths.every((l) => l === lengths[0])) return lengths.map(() => 0.0);
  return lengths.map((l, i) =>
    correct[i] ? Math.max(0, Math.min(L1_ALPHA * (targets[i]! - l) + L1_MAX_DELTA, 1)) : 0.0,
  );
}

// Text-only rewards from open-r1 (identical in Tina): reasoning steps and n-gram repetition.
import { isPySplitSpace } from './text-scan.js';
import type { RewardFunc } from './types.js';

// Python: r"(Step \d+:|^\d+\.|\n-|\n\*|First,|Second,|Next,|Finally,)" with no flags, so `^` is
// the start of the text only, and `\d` is any Unicode decimal digit. No nested quantifiers: linear.
const STEP_PATTERN = /(Step \p{Nd}+:|^\p{Nd}+\.|\n-|\n\*|First,|Second,|Next,|Finally,)/gu;

export function countReasoningSteps(text: string): number {
  let n = 0;
  STEP_PATTERN.lastIndex = 0;
  while (STEP_PATTERN.exec(text) !== null) n++;
  return n;
}

/** min(1, count/3): three or more step markers earn the full reward. */
export const reasoningStepsReward: RewardFunc = (completions) =>
  completions.map((c) => Math.min(1.0, countReasoningSteps(c) / 3));

/** Python `s.lower().split()`: lower-cased words separated by runs of Unicode whitespace. */
export function pySplitLower(text: string): string[] {
  const lower = text.toLowerCase();
  const words: string[] = [];
  let start = -1;
  for (let i = 0; i < lower.length; i++) {
    if (isPySplitSpace(lower.charCodeAt(i))) {
      if (start !== -1) {
        words.push(lower.slice(start, i));
        start = -1;
      }
    } else if (start === -1) start = i;
  }
  if (start !== -1) words.push(lower.slice(start));
  return words;
}

/** Fraction of repeated n-grams: 1 − unique/total, or 0 when the text has fewer than n words. */
export function repeatedNgramFraction(text: string, n: number): number {
  if (text === '') return 0;
  const words = pySplitLower(text);
  if (words.length < n) return 0;
  // Intern words as integer ids, then key each n-gram by a number (exact while vocab^n < 2^53) —
  // several times faster than string keys on long completions; string keys beyond that.
  const ids = new Int32Array(words.length);
  const vocab = new Map<string, number>();
  for (let i = 0; i < words.length; i++) {
    let id = vocab.get(words[i]!);
    if (id === undefined) {
      id = vocab.size;
      vocab.set(words[i]!, id);
    }
    ids[i] = id;
  }
  const total = words.length - n + 1;
  const v = vocab.size;
  const seen = new Set<number | string>();
  if (Math.pow(v, n) < Number.MAX_SAFE_INTEGER) {
    for (let i = 0; i < total; i++) {
      let key = 0;
      for (let j = 0; j < n; j++) key = key * v + ids[i + j]!;
      seen.add(key);
    }
  } else {
    for (let i = 0; i < total; i++) {
      let key = '';
      for (let j = 0; j < n; j++) key += ids[i + j]! + ',';
      seen.add(key);
    }
  }
  return 1 - seen.size / total;
}

/** open-r1 get_repetition_penalty_reward: (1 − unique/total n-grams) · max_penalty, max_penalty ≤ 0. */
export function makeRepetitionPenaltyReward(ngramSize: number, maxPenalty: number): RewardFunc {
  if (maxPenalty > 0) throw new Error(`repetition_max_penalty ${maxPenalty} should not be positive`);
  if (!Number.isInteger(ngramSize) || ngramSize < 1)
    throw new Error(`repetition_n_grams must be a positive integer, got ${ngramSize}`);
  return (completions) => completions.map((c) => repeatedNgramFraction(c, ngramSize) * maxPenalty + 0); // + 0: no -0
}

// Format and tag rewards: Tina's variants and the two open-r1 ones, all linear-time scanners.
import { countNonOverlapping, matchesOpenR1Format, matchesOpenR1StrictFormat } from './text-scan.js';
import type { RewardFunc } from './types.js';

/** Tina: 1 when "\n</think>\n" occurs exactly once (<think> comes from the prompt, so it is not counted). */
export const formatReward: RewardFunc = (completions) =>
  completions.map((c) => (countNonOverlapping(c, '\n</think>\n') === 1 ? 1.0 : 0.0));

/** open-r1 @7041fbc: `^<think>.*?</think>\s*<answer>.*?</answer>$` with DOTALL|MULTILINE. */
export const formatRewardOpenR1: RewardFunc = (completions) =>
  completions.map((c) => (matchesOpenR1Format(c) ? 1.0 : 0.0));

/** open-r1 @566cfd1: `^<think>\n.*?\n</think>\n<answer>\n.*?\n</answer>$` with DOTALL|MULTILINE. */
export const formatRewardOpenR1Strict: RewardFunc = (completions) =>
  completions.map((c) => (matchesOpenR1StrictFormat(c) ? 1.0 : 0.0));

/** Tina: 0.5 each for "<think>\n" and "\n</think>\n" occurring exactly once. */
export const tagCountReward: RewardFunc = (completions) =>
  completions.map(
    (c) =>
      (countNonOverlapping(c, '<think>\n') === 1 ? 0.5 : 0) + (countNonOverlapping(c, '\n</think>\n') === 1 ? 0.5 : 0),
  );

/** open-r1: 0.25 each for "<think>\n", "\n</think>\n", "\n<answer>\n", "\n</answer>" occurring exactly once. */
export const tagCountRewardOpenR1: RewardFunc = (completions) =>
  completions.map((c) => {
    let r = 0;
    for (const tag of ['<think>\n', '\n</think>\n', '\n<answer>\n', '\n</answer>']) {
      if (countNonOverlapping(c, tag) === 1) r += 0.25;
    }
    return r;
  });

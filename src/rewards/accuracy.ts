// Answer-checking rewards (accuracy, cosine, and the correctness half of length), over the math
// verifier in ./verifier. The exact parse configs and argument order differ between Tina and the
// open-r1 commits; each variant below says which one it mirrors (reference/tina-recipe.md §2.1–2.2).
import { ANSWER_CFG, GOLD_DEFAULT, GOLD_LATEX_ONLY, parse, verifyParsed } from './verifier/index.js';
import { codePointLength } from './text-scan.js';
import {
  computeCosineReward,
  computeL1ExactRewards,
  computeL1MaxRewards,
  computeLengthRewards,
  type CosineParams,
} from './length.js';
import type { RewardContext, RewardFunc } from './types.js';

function goldDefault(solution: string) {
  return parse(solution, { ...GOLD_DEFAULT, mode: 'first_match' });
}
function goldLatexOnly(solution: string) {
  return parse(solution, { ...GOLD_LATEX_ONLY, mode: 'first_match' });
}

function requireSolutions(completions: string[], solution: string[] | undefined, fn: string): string[] {
  if (!Array.isArray(solution) || solution.length !== completions.length) {
    throw new Error(
      `${fn}: ctx.solution must be a string[] of length ${completions.length}, got ${Array.isArray(solution) ? solution.length : typeof solution}`,
    );
  }
  return solution;
}

/**
 * Tina / open-r1 @4f5b21e: gold parsed with the default configs (LaTeX + expression), `null` when the
 * gold does not parse (or anything throws), else verify(gold, answer) with boxed="all".
 */
export const accuracyReward: RewardFunc = (completions, ctx) => {
  const solutions = requireSolutions(completions, ctx.solution, 'accuracy');
  return completions.map((content, i) => {
    try {
      const gold = goldDefault(String(solutions[i]));
      if (gold.length === 0) return null;
      const answer = parse(content, { ...ANSWER_CFG, boxed: 'all' });
      return verifyParsed(gold, answer) ? 1.0 : 0.0;
    } catch {
      return null;
    }
  });
};

/**
 * open-r1 @7041fbc: gold with the LaTeX config only; unparseable gold earns 1.0; verify(answer, gold)
 * with the answer first; no try/except (an exception fails the item, which the pool quarantines).
 */
export const accuracyRewardOpenR1: RewardFunc = (completions, ctx) => {
  const solutions = requireSolutions(completions, ctx.solution, 'accuracy_open_r1');
  return completions.map((content, i) => {
    const gold = goldLatexOnly(String(solutions[i]));
    if (gold.length === 0) return 1.0;
    const answer = parse(content, { ...ANSWER_CFG, boxed: 'all' });
    return verifyParsed(answer, gold) ? 1.0 : 0.0;
  });
};

/**
 * Correctness as len_reward and cosine_scaled_reward judge it: LaTeX-only gold (empty gold counts as
 * correct), answer parsed with boxed=True, verify(answer, gold) with the answer first.
 */
export function lengthStyleCorrect(content: string, solution: string): { correct: boolean; goldEmpty: boolean } {
  const gold = goldLatexOnly(solution);
  if (gold.length === 0) return { correct: true, goldEmpty: true };
  const answer = parse(content, { ...ANSWER_CFG, boxed: true });
  return { correct: verifyParsed(answer, gold), goldEmpty: false };
}

/** open-r1 get_cosine_scaled_reward: 1.0 on unparseable gold, else the cosine schedule on characters. */
export function makeCosineReward(params: CosineParams): RewardFunc {
  return (completions, ctx) => {
    const solutions = requireSolutions(completions, ctx.solution, 'cosine');
    return completions.map((content, i) => {
      const { correct, goldEmpty } = lengthStyleCorrect(content, String(solutions[i]));
      if (goldEmpty) return 1.0;
      return computeCosineReward(codePointLength(content), correct, params);
    });
  };
}

/** Kimi k1.5 length reward over the call's list (one group in loractor), correctness as len_reward. */
export const lengthReward: RewardFunc = (completions, ctx) => {
  const solutions = requireSolutions(completions, ctx.solution, 'length');
  const correct = completions.map((c, i) => lengthStyleCorrect(c, String(solutions[i])).correct);
  return computeLengthRewards(completions.map(codePointLength), correct);
};

/** The target_length column (Tina's L1 recipes), one number per completion. */
function targetLengths(completions: string[], ctx: RewardContext, fn: string): number[] {
  const t = ctx.target_length;
  if (!Array.isArray(t) || t.length !== completions.length) {
    throw new Error(
      `${fn}: ctx.target_length must be a number[] of length ${completions.length} (set data.l1_target_length so each row gets a target), got ${Array.isArray(t) ? t.length + ' values' : typeof t}`,
    );
  }
  return t.map(Number);
}

/** Tina's L1-Exact over the call's list (one group in loractor), correctness as len_reward. */
export const l1ExactReward: RewardFunc = (completions, ctx) => {
  const solutions = requireSolutions(completions, ctx.solution, 'length_l1_exact');
  const correct = completions.map((c, i) => lengthStyleCorrect(c, String(solutions[i])).correct);
  return computeL1ExactRewards(
    completions.map(codePointLength),
    correct,
    targetLengths(completions, ctx, 'length_l1_exact'),
  );
};

/** Tina's L1-Max over the call's list (one group in loractor), correctness as len_reward. */
export const l1MaxReward: RewardFunc = (completions, ctx) => {
  const solutions = requireSolutions(completions, ctx.solution, 'length_l1_max');
  const correct = completions.map((c, i) => lengthStyleCorrect(c, String(solutions[i])).correct);
  return computeL1MaxRewards(
    completions.map(codePointLength),
    correct,
    targetLengths(completions, ctx, 'length_l1_max'),
  );
};

// The evaluation prompts, as lighteval's custom tasks in Tina build them
// (shared/reference/tina-recipe.md §2.4). The text is the user message; the chat template of the
// model is applied by the runner's prompt renderer.
import { Rng } from '../util/rng.js';

/** lighteval's MATH_QUERY_TEMPLATE (exact text, two spaces after "clearly."). */
export const MATH_QUERY_TEMPLATE =
  "Solve the following math problem efficiently and clearly.  The last line of your response should be of the following format: 'Therefore, the final answer is: $\\boxed{ANSWER}$. I hope it is correct' (without quotes) where ANSWER is just the final number or expression that solves the problem. Think step by step before answering.\n\n{Question}";

/** simple-evals' multiple-choice template used by lighteval's gpqa:diamond. */
export const GPQA_QUERY_TEMPLATE =
  "Answer the following multiple choice question. The last line of your response should be of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. Think step by step before answering.\n\n{Question}\n\nA) {A}\nB) {B}\nC) {C}\nD) {D}";

export function mathPrompt(question: string): string {
  return MATH_QUERY_TEMPLATE.replace('{Question}', () => question);
}

export const GPQA_LETTERS = ['A', 'B', 'C', 'D'] as const;

/**
 * GPQA prompt with the correct answer placed at a seeded position (lighteval draws it with an
 * unseeded random.randint(0, 3); here it is derived from the seed and the question id so a run is
 * reproducible). Returns the prompt and the gold letter.
 */
export function gpqaPrompt(
  question: string,
  correct: string,
  incorrect: readonly [string, string, string],
  seed: number,
  id: string,
): { prompt: string; gold: string } {
  const goldIndex = Rng.derive(seed, 'gpqa', id).int(4);
  const choices = [...incorrect];
  choices.splice(goldIndex, 0, correct);
  let prompt = GPQA_QUERY_TEMPLATE.replace('{Question}', () => question);
  GPQA_LETTERS.forEach((letter, i) => {
    prompt = prompt.replace(`{${letter}}`, () => choices[i]!);
  });
  return { prompt, gold: GPQA_LETTERS[goldIndex]! };
}

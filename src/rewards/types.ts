// The reward function contract, batch-level like TRL: one call scores a list of completions and gets
// the dataset columns for those rows in `ctx` (always `solution`; `prompt` and any other column when
// the caller has them). A `null` result means "no opinion" (TRL's None → NaN) and is skipped in the
// weighted sum.

export interface RewardContext {
  solution: string[];
  prompt?: string[];
  [column: string]: unknown[] | undefined;
}

export type RewardFunc = (completions: string[], ctx: RewardContext) => (number | null)[];

/** Per-function knobs a factory may read (the config's cosine_*, repetition_* fields). */
export interface RewardKwargs {
  cosine_min_value_wrong: number;
  cosine_max_value_wrong: number;
  cosine_min_value_correct: number;
  cosine_max_value_correct: number;
  cosine_max_len: number;
  repetition_n_grams: number;
  repetition_max_penalty: number;
}

/** Tina's defaults (tina/config.py): cosine_min_value_wrong is 0.0 there, unlike open-r1's function default -1.0. */
export const TINA_REWARD_KWARGS: Readonly<RewardKwargs> = Object.freeze({
  cosine_min_value_wrong: 0.0,
  cosine_max_value_wrong: -0.5,
  cosine_min_value_correct: 0.5,
  cosine_max_value_correct: 1.0,
  cosine_max_len: 1000,
  repetition_n_grams: 3,
  repetition_max_penalty: -1.0,
});

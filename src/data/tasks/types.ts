// Shared shapes of the synthetic reasoning tasks (src/data/tasks/).
//
// A task item is one problem with a verifiable answer. Field names follow Tina's dataset column
// mapping (problem / solution / answer) so items can be written as JSONL and read by the same
// dataset code as the Hugging Face math sets.

/** Which side of the train / held-out partition a problem belongs to (fixed by a hash of the problem). */
export type TaskSplit = 'train' | 'heldout';

export interface TaskItem {
  /** The task family that made this item (e.g. 'addition'). */
  family: string;
  /** Canonical problem text without the trailing '=' (e.g. '3478+5965'); the split is a hash of it. */
  problem: string;
  /** What the model sees: the problem followed by '=' (e.g. '3478+5965='). */
  prompt: string;
  /** The worked solution: `<think>\n…one step per line…\n</think>\n\boxed{N}` (no EOS). */
  solution: string;
  /** The answer as a decimal integer string (e.g. '9443'). */
  answer: string;
  /** Difficulty level: the digit count L of every operand. */
  level: number;
  /** The operands, most significant first in the problem text order. */
  operands: number[];
}

/** A family of problems with worked solutions, generated from a seeded Rng. */
export interface TaskFamily {
  readonly name: string;
  /** The levels this family can generate; the default levels used when none are given. */
  readonly levels: readonly number[];
  readonly defaultLevels: readonly number[];
  /** Draw one problem of the given level (any split; the caller filters by split). */
  sample(level: number, nextInt: (n: number) => number): TaskItem;
  /** How many distinct problems exist at a level (to refuse impossible unique requests). */
  problemCount(level: number): number;
}

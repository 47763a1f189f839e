// The data the GRPO loop (grpo-loop.ts) passes between its phases, in a file of its own so that
// generation.ts, which assembles it, and grpo-loop.ts, which orders the phases, need not import each other.

export interface PromptItem {
  /** Index of the prompt in its dataset (provenance). */
  index: number;
  ids: number[];
  /** The problem as the reward functions see it (TRL's `prompts` column). */
  text: string;
  /** The whole prompt as the engine sees it (chat template applied): `ids` is its tokenization. */
  promptText?: string;
  /** Gold solution text handed to the reward functions. */
  solution: string;
  /** Other columns of the row the reward functions get (ctx[column]), e.g. Tina's L1 target_length. */
  columns?: Record<string, unknown>;
}

export interface CompletionRecord {
  promptIndex: number;
  sampleIndex: number;
  /** Views of the rollout reply's shared memory (passed on to the learner as descriptors, not copied). */
  tokenIds: Int32Array;
  /** Behaviour log-probs, one per token. */
  logprobs: Float32Array;
  text: string;
  finishReason: string;
  policyVersion: number;
  /** Provenance: the rollout actor and engine that generated it, and that actor's sync latency for the request. */
  actor?: string;
  engine?: string;
  syncLatencyMs?: number;
}

export interface RolloutPhase {
  completions: CompletionRecord[];
  engine: string;
  policyVersion: number;
  tokensPerSecond: number;
  /** Mean time to first token over the rollout actors (builtin: the batched prefill), seconds. */
  timeToFirstTokenS?: number;
  /** Rollout actors that found the newest version corrupted and generated on the previous one (async). */
  syncRejected?: number;
}

export interface RewardPhase {
  /** Per reward function, per completion (null where the function abstains). */
  perFunc: Record<string, (number | null)[]>;
  total: number[];
  failures: number;
}

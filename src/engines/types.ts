// The generation engine interface shared by the builtin CPU engine, the batched webgpu engine and
// WebLLM.
import type { AdapterSnapshot } from '../model/adapter-layout.js';

export interface SamplingParams {
  /** Softmax temperature; 0 means greedy. Log-probs are reported under logits / temperature (TRL). */
  temperature: number;
  top_p: number;
  /** 0 or negative disables top-k. */
  top_k: number;
  max_tokens: number;
  /** Extra stop strings (EOS always stops). */
  stop?: string[];
  seed: number;
  /** Keep decoding past EOS until max_tokens or a stop string (vLLM's ignore_eos; benchmarks). Default false. */
  ignore_eos?: boolean;
}

export interface PromptInput {
  /** Prompt token ids (chat template already applied). */
  ids: Int32Array;
  /** The prompt text, when known (engines that only take text use it). */
  text?: string;
  /**
   * Key of this prompt's sampling streams (default: its index in the call). Callers that split one
   * batch across several engines pass the prompt's global index, so the completions do not depend on
   * how the batch was split.
   */
  seedKey?: number;
}

export type FinishReason = 'eos' | 'stop' | 'length';

export interface Completion {
  promptIndex: number;
  sampleIndex: number;
  /** Exact sampled token ids, including the EOS token when one was generated. */
  tokenIds: Int32Array;
  /**
   * Behaviour log-probs: log p(token_t | prefix) under the distribution the token was drawn from —
   * softmax(logits / temperature), restricted by top-k / top-p and renormalised
   * (src/rl/token-distribution.ts); at temperature 0 (greedy) the temperature-1 log-prob. These are
   * what the learner's importance ratios compare against.
   */
  logprobs: Float32Array;
  /**
   * Raw model log-probs of the same tokens: log-softmax of the logits at temperature 1 over the whole
   * vocabulary, whatever the sampling settings (equal to `logprobs` for greedy, and for temperature 1
   * without top-k / top-p). Engines that cannot report them leave this out (WebLLM).
   */
  modelLogprobs?: Float32Array;
  text: string;
  finishReason: FinishReason;
  /** The adapter version that produced every token of this completion (0 = base model). */
  policyVersion: number;
}

export interface GenerationEngine {
  readonly name: string;
  /** For each prompt, n completions (G per prompt). Deterministic for a given sampling.seed. */
  generate(prompts: PromptInput[], n: number, sampling: SamplingParams): Promise<Completion[]>;
  /** Apply a new adapter version; resolves once verified and active, rejects (keeping the old version) otherwise. */
  setAdapter(snapshot: AdapterSnapshot | null): Promise<void>;
  /** The adapter version currently applied (0 = base model). */
  readonly policyVersion: number;
  close(): Promise<void>;
}

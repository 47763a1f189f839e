// Prompt and completion lengths against the model's context: what check and training refuse (no room
// for a prompt) or warn about (prompts cut to fit) before any work, naming the knob and the limit.

export interface ContextVerdict {
  /** Tokens a prompt may keep: min(max_prompt_length, context − max_completion_length). */
  promptTokens: number;
  /** The knob that sets promptTokens, for messages. */
  limitField: string;
  problems: string[];
  warnings: string[];
}

/** Prompt and completion lengths against the model's context (max_position_embeddings). */
export function contextLimits(
  m: { maxPositionEmbeddings: number },
  g: { max_prompt_length: number | null; max_completion_length: number },
  evalMaxNewTokens?: number,
): ContextVerdict {
  const ctx = m.maxPositionEmbeddings;
  const problems: string[] = [];
  const warnings: string[] = [];
  const room = ctx - g.max_completion_length;
  if (room < 1)
    problems.push(
      `grpo.max_completion_length: ${g.max_completion_length} leaves no room for a prompt in the model's context of ${ctx} tokens (config.json max_position_embeddings); at most ${ctx - 1}`,
    );
  const byPrompt = g.max_prompt_length ?? Infinity;
  let promptTokens = Math.max(1, Math.min(byPrompt, room));
  let limitField =
    byPrompt <= room
      ? 'grpo.max_prompt_length'
      : `the model's context ${ctx} − grpo.max_completion_length ${g.max_completion_length}`;
  if (room >= 1 && byPrompt > room && g.max_prompt_length !== null) {
    warnings.push(
      `grpo.max_prompt_length: ${g.max_prompt_length} + max_completion_length ${g.max_completion_length} exceeds the model's context of ${ctx} tokens; prompts keep at most ${room} tokens`,
    );
  }
  if (room < 1) {
    promptTokens = 1;
    limitField = 'grpo.max_completion_length';
  }
  if (evalMaxNewTokens !== undefined && evalMaxNewTokens >= ctx) {
    problems.push(
      `eval.max_new_tokens: ${evalMaxNewTokens} leaves no room for a prompt in the model's context of ${ctx} tokens (config.json max_position_embeddings); at most ${ctx - 1}`,
    );
  }
  return { promptTokens, limitField, problems, warnings };
}

// The checks every engine that takes token ids makes before any work (builtin, webgpu): a bad request
// fails alone, naming the prompt and the value, and nothing else in the batch is lost.
import type { PromptInput, SamplingParams } from './types.js';

/** Throws on n, max_tokens or a prompt the engine cannot serve (empty, too long, an id outside the vocabulary). */
export function checkGenerateRequest(
  prompts: readonly PromptInput[],
  n: number,
  s: SamplingParams,
  limits: { maxContext: number; vocabSize: number },
): void {
  const { maxContext, vocabSize: V } = limits;
  if (!Number.isInteger(n) || n < 1) throw new Error(`generate: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(s.max_tokens) || s.max_tokens < 1)
    throw new Error(`generate: sampling.max_tokens must be a positive integer, got ${s.max_tokens}`);
  prompts.forEach((p, i) => {
    if (p.ids.length === 0) throw new Error(`generate: prompt ${i} is empty (no token ids)`);
    if (p.ids.length + s.max_tokens > maxContext) {
      const tooLong = `prompt ${i} has ${p.ids.length} tokens; with max_tokens ${s.max_tokens}`;
      throw new Error(`generate: ${tooLong} it exceeds the context of ${maxContext}`);
    }
    for (const id of p.ids)
      if (!Number.isInteger(id) || id < 0 || id >= V)
        throw new Error(`generate: prompt ${i} has token id ${id} outside the vocabulary [0, ${V})`);
  });
}

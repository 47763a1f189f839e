// Turns a benchmark's user message into engine input with the model's own tokenizer and chat
// template (src/model/tokenizer.ts). Tina evaluates with the base model's template and no system
// prompt (tina-recipe.md §0.7): one user message, generation prompt on.
import { loadTokenizer, type ModelTokenizer } from '../model/tokenizer.js';
import type { PromptInput } from '../engines/types.js';

export interface ChatRenderer {
  render(userContent: string): PromptInput;
  /** Decode completion ids to text, special tokens dropped. */
  decode(ids: ArrayLike<number>): string;
  eosTokenId: number | null;
  tokenizer: ModelTokenizer;
}

export function chatRendererFrom(tokenizer: ModelTokenizer): ChatRenderer {
  return {
    render(userContent: string): PromptInput {
      const text = tokenizer.applyChatTemplate([{ role: 'user', content: userContent }], { addGenerationPrompt: true });
      // The template already placed the special tokens: the post-processor must not add them again.
      const ids = tokenizer.encode(text, false);
      // A tokenizer without an unk token (the tiny model's) drops characters it cannot encode:
      // refuse such a prompt instead of evaluating a different question. Whitespace is ignored in
      // the comparison because some decoders normalise it.
      const back = tokenizer.decode(ids, false);
      if (back.replace(/\s+/g, '') !== text.replace(/\s+/g, '')) {
        const lost = [...text].find((ch) => !/\s/.test(ch) && !back.includes(ch));
        throw new Error(`prompt cannot be tokenized without loss by this model's tokenizer${lost ? ` (e.g. character ${JSON.stringify(lost)})` : ''}: ${JSON.stringify(text.slice(0, 80))}`);
      }
      return { ids: Int32Array.from(ids), text };
    },
    decode: (ids) => safeDecode(tokenizer, ids),
    eosTokenId: tokenizer.eosTokenId,
    tokenizer,
  };
}

/** Decode with special tokens dropped; an empty id list is '' (tokenizers.js throws on it). */
export function safeDecode(tokenizer: ModelTokenizer, ids: ArrayLike<number>): string {
  return ids.length === 0 ? '' : tokenizer.decode(ids, true);
}

/** The text decoder + stop ids the builtin engine needs, from the model's tokenizer and config. */
export function engineDecoder(tokenizer: ModelTokenizer, configEosIds: readonly number[]): { decode(ids: ArrayLike<number>): string; eosTokenIds: number[] } {
  const eosTokenIds = configEosIds.length ? [...configEosIds] : tokenizer.eosTokenId !== null ? [tokenizer.eosTokenId] : [];
  return { decode: (ids) => safeDecode(tokenizer, ids), eosTokenIds };
}

/** tokenizer.json + tokenizer_config.json of a Hugging Face model folder. */
export function loadChatRenderer(modelDir: string): ChatRenderer {
  return chatRendererFrom(loadTokenizer(modelDir));
}

// Turns a benchmark's user message into engine input with the model's own tokenizer and chat
// template (src/model/tokenizer.ts). Tina evaluates with the base model's template and no system
// prompt (tina-recipe.md §0.7): one user message, generation prompt on.
import { loadTokenizer, type ModelTokenizer } from '../model/tokenizer.js';
import type { PromptInput } from '../engines/types.js';
import { describeLost, lostCharacters, type UnencodablePolicy } from '../model/encodable.js';

export interface ChatRenderer {
  render(userContent: string): PromptInput;
  /** Prompts rendered with characters the tokenizer dropped (unencodable 'warn'). */
  lossy: number;
  /** Decode completion ids to text, special tokens dropped. */
  decode(ids: ArrayLike<number>): string;
  eosTokenId: number | null;
  tokenizer: ModelTokenizer;
}

export function chatRendererFrom(
  tokenizer: ModelTokenizer,
  opts: { unencodable?: UnencodablePolicy } = {},
): ChatRenderer {
  const renderer: ChatRenderer = {
    lossy: 0,
    render(userContent: string): PromptInput {
      const text = tokenizer.applyChatTemplate([{ role: 'user', content: userContent }], { addGenerationPrompt: true });
      // The template already placed the special tokens: the post-processor must not add them again.
      const ids = tokenizer.encode(text, false);
      // A tokenizer without an unk token (the tiny model's) drops characters it cannot encode: refuse
      // such a prompt (the model would be asked a different question), or count it under 'warn'.
      const lost = lostCharacters(tokenizer, text, ids);
      if (lost) {
        if ((opts.unencodable ?? 'error') === 'error')
          throw new Error(
            `prompt cannot be tokenized without loss by this model's tokenizer (${describeLost(lost)}): ${JSON.stringify(text.slice(0, 80))}`,
          );
        renderer.lossy++;
      }
      return { ids: Int32Array.from(ids), text };
    },
    decode: (ids) => safeDecode(tokenizer, ids),
    eosTokenId: tokenizer.eosTokenId,
    tokenizer,
  };
  return renderer;
}

/** Decode with special tokens dropped; an empty id list is '' (tokenizers.js throws on it). */
export function safeDecode(tokenizer: ModelTokenizer, ids: ArrayLike<number>): string {
  return ids.length === 0 ? '' : tokenizer.decode(ids, true);
}

/** The text decoder + stop ids the builtin engine needs, from the model's tokenizer and config. */
export function engineDecoder(
  tokenizer: ModelTokenizer,
  configEosIds: readonly number[],
): { decode(ids: ArrayLike<number>): string; eosTokenIds: number[] } {
  const eosTokenIds = configEosIds.length
    ? [...configEosIds]
    : tokenizer.eosTokenId !== null
      ? [tokenizer.eosTokenId]
      : [];
  return { decode: (ids) => safeDecode(tokenizer, ids), eosTokenIds };
}

/** tokenizer.json + tokenizer_config.json of a Hugging Face model folder. */
export function loadChatRenderer(modelDir: string): ChatRenderer {
  return chatRendererFrom(loadTokenizer(modelDir));
}

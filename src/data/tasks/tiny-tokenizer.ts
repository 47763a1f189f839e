// The shipped tiny model's tokenizer, as Hugging Face tokenizer.json + tokenizer_config.json
// objects (written to models/tiny/ by tools/make-tiny-tokenizer.ts; a test checks the files match).
//
// 20 tokens (calibration: shared/reference/tiny-model-calibration.md): <|pad|> <|bos|> <|eos|>,
// the digits, `+ = \n }`, and single tokens for `<think>`, `</think>` and `\boxed{`.
// Model: BPE with single-character vocabulary and no merges, so every character outside the
// added tokens is its own token; the added tokens are matched first (longest match). Decoder:
// Fuse (concatenate, no spaces) so decode(encode(s)) === s for every task string.
// The chat template is bos + the user message contents verbatim: the prompt the model sees is
// `<|bos|>3478+5965=` and generation continues right after '='. No system prompt, no roles.

export const TINY_SPECIAL_TOKENS = { pad: '<|pad|>', bos: '<|bos|>', eos: '<|eos|>' } as const;

/** Token strings in id order (id = index). */
export const TINY_VOCAB: readonly string[] = [
  TINY_SPECIAL_TOKENS.pad,
  TINY_SPECIAL_TOKENS.bos,
  TINY_SPECIAL_TOKENS.eos,
  '0',
  '1',
  '2',
  '3',
  '4',
  '5',
  '6',
  '7',
  '8',
  '9',
  '+',
  '=',
  '\n',
  '}',
  '<think>',
  '</think>',
  '\\boxed{',
];

export const TINY_PAD_ID = 0;
export const TINY_BOS_ID = 1;
export const TINY_EOS_ID = 2;

/** Jinja chat template: bos, then each message's content verbatim (roles ignored). */
export const TINY_CHAT_TEMPLATE = "{{ bos_token }}{% for message in messages %}{{ message['content'] }}{% endfor %}";

/**
 * The first character of text that the tiny vocabulary cannot encode (the BPE model has no unk
 * token, so such characters would be dropped silently), or null when every character is covered.
 */
export function tinyUnencodableChar(text: string): string | null {
  let rest = text;
  for (const t of ['<think>', '</think>', '\\boxed{', ...Object.values(TINY_SPECIAL_TOKENS)])
    rest = rest.split(t).join('');
  for (const ch of rest) if (!TINY_VOCAB.includes(ch)) return ch;
  return null;
}

const MULTI_CHAR = new Set(['<think>', '</think>', '\\boxed{']);

/** The tokenizer.json object. */
export function tinyTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  TINY_VOCAB.forEach((tok, id) => {
    vocab[tok] = id;
  });
  const special = new Set<string>(Object.values(TINY_SPECIAL_TOKENS));
  const added = TINY_VOCAB.map((content, id) => ({ content, id }))
    .filter(({ content }) => special.has(content) || MULTI_CHAR.has(content))
    .map(({ content, id }) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: special.has(content),
    }));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: 'Fuse' },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: [],
    },
  };
}

/** The tokenizer_config.json object (transformers-style, with the chat template). */
export function tinyTokenizerConfig(): Record<string, unknown> {
  const decoder: Record<string, unknown> = {};
  for (const t of tinyTokenizerJson().added_tokens as { id: number; content: string; special: boolean }[]) {
    decoder[String(t.id)] = {
      content: t.content,
      lstrip: false,
      normalized: false,
      rstrip: false,
      single_word: false,
      special: t.special,
    };
  }
  return {
    added_tokens_decoder: decoder,
    bos_token: TINY_SPECIAL_TOKENS.bos,
    eos_token: TINY_SPECIAL_TOKENS.eos,
    pad_token: TINY_SPECIAL_TOKENS.pad,
    unk_token: null,
    add_bos_token: false,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    model_max_length: 512,
    tokenizer_class: 'PreTrainedTokenizerFast',
    chat_template: TINY_CHAT_TEMPLATE,
  };
}

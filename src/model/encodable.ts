// Text a tokenizer cannot encode, and prompt length limits, with one behaviour for training, `eval`
// and `generate`.
//
// A tokenizer without an unknown token (byte-level BPE covers everything; the tiny model's 20-token
// vocabulary does not) drops characters it has no piece for, so the model would be asked a different
// question than the one in the file. The encode → decode round trip shows what was lost (whitespace
// is ignored: some decoders normalise it). Policy 'error' refuses such text naming where it came from
// and a lost character; 'warn' counts it, warns once, and uses the lossy tokenization.
//
// Prompt limit (TRL semantics): a prompt longer than the limit keeps its LAST `limit` tokens (TRL's
// `prompt_ids[:, -max_prompt_length:]`, left truncation, which keeps the generation prompt at the
// end), and the text an engine sees is the decoded kept tokens (TRL ≥ 0.16; TRL 0.15 with vLLM
// generated on the whole text and truncated only the training pass). A text too long to possibly fit
// (more characters than limit × the longest vocabulary entry) is never tokenized whole: only its tail
// is, so a 10 MB row costs milliseconds, not minutes.
import type { ModelTokenizer } from './tokenizer.js';

export type UnencodablePolicy = 'error' | 'warn';

export interface LostText {
  /** Characters of the text missing from its round trip (whitespace ignored). */
  count: number;
  /** Up to 5 distinct lost characters, in order of appearance. */
  examples: string[];
}

/** What `ids` (the tokenization of `text`) lost of it, or null when nothing was lost. */
export function lostCharacters(
  tok: Pick<ModelTokenizer, 'decode'>,
  text: string,
  ids: ArrayLike<number>,
): LostText | null {
  const back = ids.length ? tok.decode(ids, false) : '';
  if (back === text || back.replace(/\s+/g, '') === text.replace(/\s+/g, '')) return null;
  const have = new Map<string, number>();
  for (const ch of back) if (!/\s/.test(ch)) have.set(ch, (have.get(ch) ?? 0) + 1);
  let count = 0;
  const examples: string[] = [];
  for (const ch of text) {
    if (/\s/.test(ch)) continue;
    const n = have.get(ch) ?? 0;
    if (n > 0) {
      have.set(ch, n - 1);
      continue;
    }
    count++;
    if (examples.length < 5 && !examples.includes(ch)) examples.push(ch);
  }
  // The decode differs without a missing character (reordered or merged text): still a loss.
  return { count: Math.max(count, 1), examples };
}

export function describeLost(lost: LostText): string {
  return `${lost.count} character(s) it cannot encode${lost.examples.length ? `, e.g. character ${lost.examples.map((c) => JSON.stringify(c)).join(', ')}` : ''}`;
}

export interface EncodedPrompt {
  ids: number[];
  /** The text the ids stand for: the input, or the decoded kept tokens when truncated. */
  text: string;
  /** Tokens before truncation (a lower bound when the text was too long to tokenize whole), when truncated. */
  truncatedFrom?: number;
  /** truncatedFrom is a lower bound (the text was too long to tokenize whole). */
  truncatedFromAtLeast?: boolean;
  /** Characters the tokenizer dropped from the text it tokenized (null = none). */
  lost: LostText | null;
}

/**
 * Tokenize a prompt under a token limit (Infinity = none), left-truncating as TRL does. The round-trip
 * check covers all the text that was tokenized (for a text too long to fit, its tail).
 */
export function encodePrompt(
  tok: ModelTokenizer,
  text: string,
  limit: number,
  addSpecialTokens = false,
): EncodedPrompt {
  const maxChars = limit * tok.maxTokenChars;
  // Too long to fit whatever the tokenization: tokenize a tail long enough to give `limit` tokens.
  const tooLong = Number.isFinite(maxChars) && text.length > maxChars + 64;
  const source = tooLong ? text.slice(text.length - (maxChars + 64)) : text;
  const ids = tok.encode(source, addSpecialTokens);
  if (ids.length <= limit && !tooLong) return { ids, text, lost: lostCharacters(tok, text, ids) };
  const kept = ids.slice(ids.length - limit);
  const keptText = kept.length ? tok.decode(kept, false) : '';
  const truncatedFrom = tooLong ? Math.max(ids.length, Math.ceil(text.length / tok.maxTokenChars)) : ids.length;
  return {
    ids: kept,
    text: keptText,
    truncatedFrom,
    ...(tooLong ? { truncatedFromAtLeast: true } : {}),
    lost: lostCharacters(tok, source, ids),
  };
}

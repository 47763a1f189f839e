// Tokenizer + chat template of a Hugging Face model directory: tokenizer.json through
// @huggingface/tokenizers, tokenizer_config.json's chat_template rendered by @huggingface/jinja,
// special tokens from tokenizer_config.json. The tokenizer must fit the model's vocabulary.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import type { Qwen2Config } from './config.js';

export interface ChatMessage {
  role: string;
  content: string;
}

export interface ModelTokenizer {
  /** Largest token id + 1 (including added tokens). */
  size: number;
  /**
   * Characters of the longest vocabulary entry: no token covers more characters of text, so a text of
   * c characters has at least c / maxTokenChars tokens (a length bound without tokenizing).
   */
  maxTokenChars: number;
  bosToken: string | null;
  eosToken: string | null;
  padToken: string | null;
  eosTokenId: number | null;
  padTokenId: number | null;
  chatTemplate: string | null;
  encode(text: string, addSpecialTokens?: boolean): number[];
  decode(ids: ArrayLike<number>, skipSpecialTokens?: boolean): string;
  tokenId(token: string): number | undefined;
  /** Renders the chat template (as transformers' apply_chat_template with tokenize=False). */
  applyChatTemplate(
    messages: ChatMessage[],
    opts?: { addGenerationPrompt?: boolean; extra?: Record<string, unknown> },
  ): string;
}

function readJson(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read (${(err as Error).message})`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: invalid JSON (${(err as Error).message.slice(0, 160)})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new Error(
      `${path}: must be a JSON object, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`,
    );
  return v as Record<string, unknown>;
}

function tokenString(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string')
    return (v as { content: string }).content;
  return null;
}

/** Loads dir/tokenizer.json (+ tokenizer_config.json); with a config, checks it matches the model's vocabulary. */
export function loadTokenizer(dir: string, config?: Qwen2Config): ModelTokenizer {
  const tjPath = join(dir, 'tokenizer.json');
  const tcPath = join(dir, 'tokenizer_config.json');
  const tj = readJson(tjPath);
  const tc = existsSync(tcPath) ? readJson(tcPath) : {};
  checkTokenizerJson(tj, tjPath);
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tj, tc);
  } catch (err) {
    throw new Error(`${tjPath}: cannot build tokenizer (${(err as Error).message})`);
  }
  const { size, maxTokenChars } = vocabularyExtent(tok);
  if (config && size > config.vocabSize) {
    throw new Error(
      `${tjPath}: tokenizer has ids up to ${size - 1} but the model's config field "vocab_size" is ${config.vocabSize}: tokenizer does not match the model`,
    );
  }
  const special = specialTokens(tok, tc, { tjPath, tcPath }, config);
  const chatTemplate = chatTemplateOf(tc, dir, tcPath);
  const template = compileChatTemplate(chatTemplate, tcPath);
  return {
    size,
    maxTokenChars,
    ...special,
    chatTemplate,
    encode: (text, add = false) => tok.encode(text, { add_special_tokens: add }).ids,
    decode: (ids, skip = false) => tok.decode(Array.from(ids), { skip_special_tokens: skip }),
    tokenId: (s) => tok.token_to_id(s),
    applyChatTemplate: (messages, opts = {}) => renderChatTemplate(template, special, tcPath, messages, opts),
  };
}

/** The tokenizer.json fields the tokenizers library relies on without checking them. */
function checkTokenizerJson(tj: Record<string, unknown>, tjPath: string): void {
  // The tokenizers library reads these without checking them; a missing one surfaces as a bare
  // "Cannot read properties of undefined" from deep inside, so name the field here.
  const model = tj.model as Record<string, unknown> | undefined;
  if (model === null || typeof model !== 'object' || Array.isArray(model))
    throw new Error(`${tjPath}: field "model" is missing or not an object (not a Hugging Face tokenizer.json?)`);
  if (model.vocab === null || typeof model.vocab !== 'object')
    throw new Error(`${tjPath}: field "model.vocab" is missing or not an object`);
  // The library falls back to a guess for an unknown model type; the Rust tokenizers (transformers) refuse it.
  if (model.type !== undefined && !['BPE', 'WordPiece', 'Unigram', 'WordLevel'].includes(model.type as string)) {
    throw new Error(
      `${tjPath}: field "model.type" is ${JSON.stringify(model.type)}; expected BPE, WordPiece, Unigram or WordLevel`,
    );
  }
  if (tj.added_tokens !== undefined && !Array.isArray(tj.added_tokens))
    throw new Error(`${tjPath}: field "added_tokens" must be an array`);
}

/** Largest id + 1 and the characters of the longest piece, over the vocabulary with its added tokens. */
function vocabularyExtent(tok: Tokenizer): { size: number; maxTokenChars: number } {
  let size = 0;
  let maxTokenChars = 1;
  for (const [piece, id] of tok.get_vocab(true)) {
    size = Math.max(size, id + 1);
    // (A vocabulary with gaps in its ids has no piece for them.)
    if (typeof piece === 'string') maxTokenChars = Math.max(maxTokenChars, piece.length);
  }
  return { size, maxTokenChars };
}

type SpecialTokens = Pick<ModelTokenizer, 'bosToken' | 'eosToken' | 'padToken' | 'eosTokenId' | 'padTokenId'>;

/** The special tokens of tokenizer_config.json, each checked to be in the vocabulary (eos: the model's too). */
function specialTokens(
  tok: Tokenizer,
  tc: Record<string, unknown>,
  paths: { tjPath: string; tcPath: string },
  config?: Qwen2Config,
): SpecialTokens {
  const bosToken = tokenString(tc.bos_token),
    eosToken = tokenString(tc.eos_token),
    padToken = tokenString(tc.pad_token);
  const eosTokenId = specialTokenId(tok, paths, 'eos_token', eosToken);
  const padTokenId = specialTokenId(tok, paths, 'pad_token', padToken);
  specialTokenId(tok, paths, 'bos_token', bosToken);
  if (config && eosTokenId !== null && config.eosTokenIds.length > 0 && !config.eosTokenIds.includes(eosTokenId)) {
    throw new Error(
      `${paths.tcPath}: field "eos_token" ${JSON.stringify(eosToken)} is id ${eosTokenId}, but the model config's eos_token_id is ${JSON.stringify(config.eosTokenIds)}`,
    );
  }
  return { bosToken, eosToken, padToken, eosTokenId, padTokenId };
}

/** The id of a special token named by tokenizer_config.json (null when unnamed); one not in the vocabulary is an error. */
function specialTokenId(
  tok: Tokenizer,
  paths: { tjPath: string; tcPath: string },
  field: string,
  s: string | null,
): number | null {
  if (s === null) return null;
  const id = tok.token_to_id(s);
  if (id === undefined)
    throw new Error(
      `${paths.tcPath}: field "${field}" is ${JSON.stringify(s)}, which is not in ${paths.tjPath}'s vocabulary`,
    );
  return id;
}

/** tokenizer_config.json's chat_template (a string, or the "default" of a list), else chat_template.jinja, else null. */
function chatTemplateOf(tc: Record<string, unknown>, dir: string, tcPath: string): string | null {
  let chatTemplate: string | null = null;
  const ct = tc.chat_template;
  if (typeof ct === 'string') chatTemplate = ct;
  else if (Array.isArray(ct))
    chatTemplate =
      (ct.find((t: { name?: string }) => t.name === 'default') as { template?: string } | undefined)?.template ?? null;
  else if (ct !== undefined && ct !== null)
    throw new Error(
      `${tcPath}: field "chat_template" must be a string or a list of {name, template}, got ${typeof ct}`,
    );
  else if (existsSync(join(dir, 'chat_template.jinja')))
    chatTemplate = readFileSync(join(dir, 'chat_template.jinja'), 'utf8');
  return chatTemplate;
}

function compileChatTemplate(chatTemplate: string | null, tcPath: string): Template | null {
  let template: Template | null = null;
  if (chatTemplate !== null) {
    try {
      template = new Template(chatTemplate);
    } catch (err) {
      throw new Error(`${tcPath}: field "chat_template" does not parse (${(err as Error).message})`);
    }
  }
  return template;
}

/** ModelTokenizer.applyChatTemplate on a compiled template. */
function renderChatTemplate(
  template: Template | null,
  special: SpecialTokens,
  tcPath: string,
  messages: ChatMessage[],
  opts: { addGenerationPrompt?: boolean; extra?: Record<string, unknown> },
): string {
  if (!template) throw new Error(`${tcPath}: no chat_template`);
  try {
    return template.render({
      messages,
      add_generation_prompt: opts.addGenerationPrompt ?? true,
      bos_token: special.bosToken ?? '',
      eos_token: special.eosToken ?? '',
      pad_token: special.padToken ?? '',
      ...(opts.extra ?? {}),
    });
  } catch (err) {
    throw new Error(`${tcPath}: field "chat_template" fails to render (${(err as Error).message})`);
  }
}

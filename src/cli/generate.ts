// `loractor generate`: sample completions from a model (+ PEFT adapter) with the builtin CPU engine
// or WebLLM, printing one JSON line per completion {prompt_index, sample_index, token_ids, text,
// logprobs, finish_reason, policy_version}.
//
//   node dist/main.js generate --engine builtin|webllm --model DIR [--adapter DIR]
//       [--mlc DIR --mlc-lib FILE] --prompt TEXT | --in FILE.jsonl [--n K] [--max-tokens N]
//       [--temperature T] [--top-p P] [--seed S] [--chat] [--unencodable-text error|warn]
// --in lines: {"prompt": "..."} or {"prompt_ids": [..]} (or {"messages": [...]} with --chat).
// Limits are checked before any generation: --seed in 0..2^32−1, every prompt + --max-tokens within
// the model's context, and --n × prompts × --max-tokens within memory (exit 2 naming the flag); a
// prompt the tokenizer cannot encode is refused as in training and eval, or counted under 'warn'.
// Engines are loaded lazily: the builtin engine never pulls in WebGPU and vice versa.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AdapterSnapshot } from '../model/adapter-layout.js';
import type { GenerationEngine, PromptInput, SamplingParams } from '../engines/types.js';
import { totalmem } from 'node:os';
import { describeLost, lostCharacters, type UnencodablePolicy } from '../model/encodable.js';
import type { Qwen2Config } from '../model/config.js';
import type { ModelTokenizer } from '../model/tokenizer.js';

export interface GenerateArgs {
  engine: 'builtin' | 'webllm';
  model: string;
  adapter?: string;
  mlc?: string;
  mlcLib?: string;
  prompt?: string;
  in?: string;
  n: number;
  maxTokens: number;
  temperature: number;
  topP: number;
  seed: number;
  chat: boolean;
  unencodable: UnencodablePolicy;
}

export const USAGE =
  'usage: loractor generate --engine builtin|webllm --model DIR [--adapter DIR] [--mlc DIR --mlc-lib FILE] ' +
  '--prompt TEXT|--in FILE.jsonl [--n K] [--max-tokens N] [--temperature T] [--top-p P] [--seed S] [--chat] [--unencodable-text error|warn]';

const SEED_MAX = 0xffffffff;

export function parseGenerateArgs(argv: string[]): GenerateArgs {
  const a: Partial<GenerateArgs> = {
    n: 1,
    maxTokens: 64,
    temperature: 1,
    topP: 1,
    seed: 0,
    chat: false,
    unencodable: 'error',
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--chat') {
      a.chat = true;
      continue;
    }
    const v = argv[++i];
    if (v === undefined) throw new Error(`generate: ${flag} needs a value\n${USAGE}`);
    setFlag(a, flag, v);
  }
  checkGenerateArgs(a);
  return a as GenerateArgs;
}

function numArg(flag: string, v: string, int: boolean): number {
  const x = Number(v);
  if (!Number.isFinite(x) || (int && !Number.isInteger(x)))
    throw new Error(`generate: ${flag} must be ${int ? 'an integer' : 'a number'}, got "${v}"`);
  return x;
}

/** Sets the argument a flag with a value names; an unknown flag is an error. */
function setFlag(a: Partial<GenerateArgs>, flag: string, v: string): void {
  switch (flag) {
    case '--engine':
      a.engine = v as GenerateArgs['engine'];
      break;
    case '--model':
      a.model = v;
      break;
    case '--adapter':
      a.adapter = v;
      break;
    case '--mlc':
      a.mlc = v;
      break;
    case '--mlc-lib':
      a.mlcLib = v;
      break;
    case '--prompt':
      a.prompt = v;
      break;
    case '--in':
      a.in = v;
      break;
    case '--n':
      a.n = numArg(flag, v, true);
      break;
    case '--max-tokens':
      a.maxTokens = numArg(flag, v, true);
      break;
    case '--temperature':
      a.temperature = numArg(flag, v, false);
      break;
    case '--top-p':
      a.topP = numArg(flag, v, false);
      break;
    case '--seed':
      a.seed = numArg(flag, v, true);
      break;
    case '--unencodable-text':
      if (v !== 'error' && v !== 'warn')
        throw new Error(`generate: --unencodable-text must be error or warn, got "${v}"`);
      a.unencodable = v;
      break;
    default:
      throw new Error(`generate: unknown argument ${flag}\n${USAGE}`);
  }
}

/** The checks on the whole command line, once every flag is read. */
function checkGenerateArgs(a: Partial<GenerateArgs>): void {
  if (a.engine !== 'builtin' && a.engine !== 'webllm')
    throw new Error(`generate: --engine must be builtin or webllm (got ${String(a.engine)})\n${USAGE}`);
  if (!a.model) throw new Error(`generate: --model DIR is required\n${USAGE}`);
  if ((a.prompt === undefined) === (a.in === undefined))
    throw new Error(`generate: give exactly one of --prompt or --in\n${USAGE}`);
  if (a.engine === 'webllm' && (!a.mlc || !a.mlcLib))
    throw new Error(
      'generate: --engine webllm needs --mlc DIR (from tools/convert-to-mlc) and --mlc-lib FILE (the compiled model library)',
    );
  if (a.n! < 1 || a.maxTokens! < 1) throw new Error('generate: --n and --max-tokens must be ≥ 1');
  if (a.seed! < 0 || a.seed! > SEED_MAX)
    throw new Error(`generate: --seed must be an integer in 0..${SEED_MAX}, got ${a.seed}`);
}

interface PromptLine {
  text?: string;
  ids?: number[];
  messages?: { role: string; content: string }[];
}

/** Offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629), or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    const n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0 || i + n >= b.length) return i;
    for (let k = 1; k <= n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return i;
    const c1 = b[i + 1]!;
    // Overlong forms, UTF-16 surrogates (U+D800..DFFF) and code points above U+10FFFF.
    if (
      (c === 0xe0 && c1 < 0xa0) ||
      (c === 0xed && c1 > 0x9f) ||
      (c === 0xf0 && c1 < 0x90) ||
      (c === 0xf4 && c1 > 0x8f)
    )
      return i;
    i += n + 1;
  }
  return -1;
}

/** Prompts from --in JSONL; a bad line is an error naming the file and line number. */
export function readPromptFile(file: string): PromptLine[] {
  if (!existsSync(file)) throw new Error(`generate: --in file not found: ${file}`);
  const out: PromptLine[] = [];
  // Checked byte by byte: readFileSync(.., 'utf8') would silently turn invalid bytes into U+FFFD
  // and the prompt sent would not be the one in the file.
  const bytes = readFileSync(file);
  const lines: string[] = [];
  for (let start = 0, n = 1; start <= bytes.length; n++) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    const raw = bytes.subarray(start, end);
    const bad = firstInvalidUtf8(raw);
    if (bad >= 0)
      throw new Error(
        `${file}:${n}: not valid UTF-8 (byte 0x${raw[bad]!.toString(16).padStart(2, '0')} at byte ${bad + 1} of the line)`,
      );
    lines.push(raw.toString('utf8'));
    start = end + 1;
  }
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${file}:${i + 1}: invalid JSON (${(e as Error).message})`);
    }
    if (o === null || typeof o !== 'object' || Array.isArray(o))
      throw new Error(
        `${file}:${i + 1}: expected a JSON object {"prompt": ...}, got ${o === null ? 'null' : Array.isArray(o) ? 'an array' : typeof o}`,
      );
    // JSON's \uD800 escapes can still spell a lone surrogate, which has no UTF-8 encoding.
    const strings = [
      o.prompt,
      ...(Array.isArray(o.messages) ? o.messages.map((m) => (m as { content?: unknown })?.content) : []),
    ];
    const lone = strings.some((x) => typeof x === 'string' && /[\uD800-\uDFFF]/u.test(x));
    if (lone)
      throw new Error(
        `${file}:${i + 1}: the prompt contains a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape without its pair): not valid Unicode, no UTF-8 encoding`,
      );
    if (typeof o.prompt === 'string') out.push({ text: o.prompt });
    else if (Array.isArray(o.prompt_ids) && o.prompt_ids.every((x) => Number.isInteger(x) && (x as number) >= 0))
      out.push({ ids: o.prompt_ids as number[] });
    else if (Array.isArray(o.messages)) out.push({ messages: o.messages as PromptLine['messages'] });
    else throw new Error(`${file}:${i + 1}: expected a string "prompt", an integer array "prompt_ids" or "messages"`);
  });
  if (out.length === 0) throw new Error(`${file}: no prompts`);
  return out;
}

export async function run(argv: string[]): Promise<number> {
  let args: GenerateArgs;
  try {
    args = parseGenerateArgs(argv);
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  try {
    const { readQwen2Config } = await import('../model/config.js');
    const { loadTokenizer } = await import('../model/tokenizer.js');
    const config = readQwen2Config(join(args.model, 'config.json'));
    const tokenizer = loadTokenizer(args.model, config);
    const lines: PromptLine[] = args.prompt !== undefined ? [{ text: args.prompt }] : readPromptFile(args.in!);
    const where = (i: number): string => (args.in !== undefined ? `${args.in} prompt ${i + 1}` : '--prompt');
    const prompts = encodePrompts(lines, args, tokenizer, where);
    const limit = checkLimits(prompts, args, config.maxPositionEmbeddings, where);
    if (limit) {
      console.error(`generate: ${limit}`);
      return 2;
    }
    const adapter = await loadAdapterSnapshot(args, config);
    const engine = await createEngine(args, tokenizer);
    try {
      if (adapter) await engine.setAdapter(adapter);
      await generateAndPrint(engine, prompts, args);
    } finally {
      await engine.close();
    }
    return 0;
  } catch (e) {
    console.error(`generate: ${(e as Error).message}`);
    return 1;
  }
}

/**
 * The engine's inputs: each line's ids (from its text, chat-rendered with --chat or messages). A text
 * the tokenizer cannot encode is an error, or under --unencodable-text warn counted in one warning.
 */
function encodePrompts(
  lines: PromptLine[],
  args: GenerateArgs,
  tokenizer: ModelTokenizer,
  where: (i: number) => string,
): PromptInput[] {
  let lossy = 0;
  const prompts: PromptInput[] = lines.map((l, i) => {
    const text = l.messages
      ? tokenizer.applyChatTemplate(l.messages, { addGenerationPrompt: true })
      : args.chat && l.text !== undefined
        ? tokenizer.applyChatTemplate([{ role: 'user', content: l.text }], { addGenerationPrompt: true })
        : l.text;
    const ids = l.ids ? Int32Array.from(l.ids) : Int32Array.from(tokenizer.encode(text!, false));
    const lost = text !== undefined ? lostCharacters(tokenizer, text, ids) : null;
    if (lost && args.unencodable === 'error')
      throw new Error(
        `${where(i)}: this model's tokenizer cannot encode the prompt (${describeLost(lost)}); pass --unencodable-text warn to generate from the lossy tokenization`,
      );
    if (lost) lossy++;
    return text !== undefined ? { ids, text } : { ids };
  });
  if (lossy)
    console.error(
      `generate: warning: ${lossy} prompt(s) hold characters this model's tokenizer cannot encode; they are generated from without them (--unencodable-text warn)`,
    );
  return prompts;
}

/** The --adapter (a PEFT folder) as the engine takes it, or null. */
async function loadAdapterSnapshot(args: GenerateArgs, config: Qwen2Config): Promise<AdapterSnapshot | null> {
  if (!args.adapter) return null;
  const { loadAdapterPeft } = await import('../model/peft.js');
  const a = loadAdapterPeft(args.adapter, config);
  return { version: 1, settings: a.settings, layout: a.layout, params: a.params };
}

/** The --engine, loaded lazily (the builtin engine never pulls in WebGPU and vice versa). */
async function createEngine(args: GenerateArgs, tokenizer: ModelTokenizer): Promise<GenerationEngine> {
  const eos = tokenizer.eosTokenId !== null ? [tokenizer.eosTokenId] : [];
  if (args.engine === 'webllm') {
    const { createWebLlmEngine } = await import('../engines/webllm/engine.js');
    return createWebLlmEngine({ mlcDir: args.mlc!, libFile: args.mlcLib! });
  }
  const { createBuiltinEngine } = await import('../engines/builtin/index.js');
  const { loadModel } = await import('../model/load.js');
  return createBuiltinEngine({
    model: loadModel(args.model),
    tokenizer: { decode: (ids) => tokenizer.decode(ids), eosTokenIds: eos },
  });
}

/** Generates --n completions per prompt and prints one JSON line per completion. */
async function generateAndPrint(engine: GenerationEngine, prompts: PromptInput[], args: GenerateArgs): Promise<void> {
  const sampling: SamplingParams = {
    temperature: args.temperature,
    top_p: args.topP,
    top_k: 0,
    max_tokens: args.maxTokens,
    seed: args.seed,
  };
  const out = await engine.generate(prompts, args.n, sampling);
  for (const c of out) {
    process.stdout.write(
      JSON.stringify({
        prompt_index: c.promptIndex,
        sample_index: c.sampleIndex,
        token_ids: Array.from(c.tokenIds),
        text: c.text,
        logprobs: Array.from(c.logprobs),
        finish_reason: c.finishReason,
        policy_version: c.policyVersion,
      }) + '\n',
    );
  }
}

// Memory per generated token until the output is written: its id and log-prob, its share of the
// decoded text, and its JSON line (ids and log-probs printed in decimal).
const BYTES_PER_OUTPUT_TOKEN = 64;

/** Context and memory limits of a request, checked before generating; a usage message naming the flag, or null. */
export function checkLimits(
  prompts: PromptInput[],
  args: Pick<GenerateArgs, 'n' | 'maxTokens'>,
  context: number,
  where: (i: number) => string,
  memory = totalmem(),
): string | null {
  for (let i = 0; i < prompts.length; i++) {
    const p = prompts[i]!.ids.length;
    if (p + args.maxTokens > context) {
      return p >= context
        ? `${where(i)} has ${p} tokens, which leaves no room in the model's context of ${context} tokens`
        : `--max-tokens ${args.maxTokens}: ${where(i)} has ${p} tokens and the model's context is ${context}; at most ${context - p}`;
    }
  }
  const completions = prompts.length * args.n;
  const bytes = completions * (args.maxTokens * BYTES_PER_OUTPUT_TOKEN + 256);
  if (bytes > memory / 2) {
    return `--n ${args.n}: ${completions.toLocaleString('en-US')} completion(s) of up to ${args.maxTokens} tokens need about ${(bytes / 2 ** 30).toFixed(1)} GiB before they are written, over half of this machine's ${(memory / 2 ** 30).toFixed(1)} GiB; lower --n or --max-tokens (or split the prompts)`;
  }
  return null;
}

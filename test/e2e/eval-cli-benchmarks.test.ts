// `loractor eval --bench aime24,math500` end to end through the CLI process, from a folder outside the
// repository: the shipped benchmark files are found with no sibling folder and no environment
// variable, prompts are rendered and tokenized, and per-problem rows come out. The model is random
// (its answers are noise); its tokenizer is byte-level BPE (any text round-trips), written here.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import { parseQwen2Config } from '../../src/model/config.js';
import { createRandomModel } from '../../src/model/weights.js';
import { saveModel } from '../../src/model/load.js';

/** GPT-2's byte → printable character map (the ByteLevel pre-tokenizer's alphabet). */
function byteChars(): string[] {
  const keep = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let extra = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(keep(b) ? b : 256 + extra++));
}

const SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];

/** A byte-level BPE tokenizer without merges (one token per byte) plus ChatML specials, ids 0..258. */
function writeByteTokenizer(dir: string): void {
  const vocab = Object.fromEntries(byteChars().map((c, i) => [c, i]));
  const added = SPECIALS.map((content, k) => ({
    id: 256 + k,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  writeFileSync(
    join(dir, 'tokenizer.json'),
    JSON.stringify({
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: null,
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        vocab,
        merges: [],
      },
    }),
  );
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({
      added_tokens_decoder: Object.fromEntries(
        added.map((a) => [
          String(a.id),
          { content: a.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
        ]),
      ),
      bos_token: null,
      eos_token: '<|im_end|>',
      pad_token: '<|endoftext|>',
      chat_template:
        '{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}',
    }),
  );
}

t.test('eval --bench aime24,math500 --limit 2 from a folder outside the repository', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'loractor-evalcli-'));
  const model = join(work, 'model');
  const config = parseQwen2Config({
    hidden_size: 32,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    intermediate_size: 48,
    vocab_size: 259,
    max_position_embeddings: 4096,
    rope_theta: 10000,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
    eos_token_id: 258,
  });
  saveModel(model, createRandomModel(config, 3));
  writeByteTokenizer(model);
  const out = join(work, 'out');
  const env = { ...process.env };
  delete env.LORACTOR_SHARED;
  const r = spawnSync(
    process.execPath,
    [
      join(repoRoot(), 'dist', 'main.js'),
      'eval',
      '--model',
      model,
      '--bench',
      'aime24,math500',
      '--limit',
      '2',
      '--max-new-tokens',
      '4',
      '--out',
      out,
    ],
    { cwd: work, env, encoding: 'utf8', timeout: 300_000 },
  );
  t.equal(r.status, 0, `exit 0 (stderr: ${r.stderr.slice(-1500)})`);
  t.match(r.stdout, /aime24/, 'table lists aime24');
  t.match(r.stdout, /math500/, 'table lists math500');
  const rows = readFileSync(join(out, 'eval.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.same(
    rows.map((x) => x.benchmark),
    ['aime24', 'aime24', 'math500', 'math500'],
    'two problems of each, in order',
  );
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as {
    benchmarks: { name?: string; benchmark?: string; problems: number }[];
  };
  t.same(
    summary.benchmarks.map((b) => b.problems),
    [2, 2],
  );
  t.ok(
    rows.every((x) => typeof x.completion === 'string'),
    'each row has the completion',
  );
});

// The tiny model's tokenizer: the committed files match the generator, @huggingface/tokenizers
// loads them, encode/decode round-trips every task string exactly, token counts are as designed,
// and the chat template renders bos + the problem.
import t from 'tap';
import { readFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { repoRoot } from '../../src/util/paths.js';
import {
  tinyTokenizerJson,
  tinyTokenizerConfig,
  TINY_VOCAB,
  TINY_BOS_ID,
  TINY_EOS_ID,
  TINY_PAD_ID,
  tinyUnencodableChar,
  generateTaskItems,
  createSupervisedMix,
  completionFor,
} from '../../src/data/tasks/index.js';
import { writeTinyTokenizer } from '../../tools/make-tiny-tokenizer.js';

const dir = join(repoRoot(), 'models', 'tiny');
const tokJson = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
const tokCfg = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
const tok = new Tokenizer(tokJson, tokCfg);

t.test('committed files are what the generator writes', async (t) => {
  t.same(tokJson, tinyTokenizerJson());
  t.same(tokCfg, tinyTokenizerConfig());
  const out = mkdtempSync(join(tmpdir(), 'tiny-tok-'));
  const paths = writeTinyTokenizer(out);
  t.equal(readFileSync(paths[0]!, 'utf8'), readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  t.equal(readFileSync(paths[1]!, 'utf8'), readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
});

t.test('vocabulary: 20 tokens, specials at fixed ids', async (t) => {
  t.equal(tok.get_vocab(true).size, 20);
  t.equal(TINY_VOCAB.length, 20);
  t.equal(tok.token_to_id('<|pad|>'), TINY_PAD_ID);
  t.equal(tok.token_to_id('<|bos|>'), TINY_BOS_ID);
  t.equal(tok.token_to_id('<|eos|>'), TINY_EOS_ID);
  for (const [i, s] of TINY_VOCAB.entries()) t.equal(tok.id_to_token(i), s);
});

t.test('hand-counted token sequence of the calibration example', async (t) => {
  const prompt = tok.encode('3478+5965=');
  t.same(prompt.tokens, ['3', '4', '7', '8', '+', '5', '9', '6', '5', '=']);
  const completion = '<think>\n8+5=13\n7+6+1=14\n4+9+1=14\n3+5+1=9\n</think>\n\\boxed{9443}';
  const enc = tok.encode(completion);
  // <think> \n | 8+5=13\n (7) | 7+6+1=14\n (9) | 4+9+1=14\n (9) | 3+5+1=9\n (8) | </think> \n \boxed{ | 9443 } (5)
  t.equal(enc.ids.length, 1 + 1 + 7 + 9 + 9 + 8 + 1 + 1 + 1 + 5);
  t.equal(enc.tokens[0], '<think>');
  t.equal(enc.tokens.at(-6), '\\boxed{');
  t.equal(tok.decode(enc.ids), completion);
});

t.test('round trip of every generated prompt + completion, with expected token counts', async (t) => {
  let checked = 0;
  const check = (prompt: string, completion: string): void => {
    const full = '<|bos|>' + prompt + completion + '<|eos|>';
    const enc = tok.encode(full);
    // every character is one token, except that each multi-character token stands for its whole text
    let expected = 2 + prompt.length + completion.length;
    for (const m of ['<think>', '</think>', '\\boxed{']) expected -= (completion.split(m).length - 1) * (m.length - 1);
    if (enc.ids.length !== expected) t.fail(`token count ${enc.ids.length} != ${expected} for ${JSON.stringify(full)}`);
    if (tok.decode(enc.ids) !== full) t.fail(`round trip failed for ${JSON.stringify(full)}`);
    if (tok.decode(enc.ids, { skip_special_tokens: true }) !== prompt + completion) t.fail('skip_special_tokens');
    checked++;
  };
  for (const family of ['addition', 'addition3']) {
    for (const split of ['train', 'heldout'] as const) {
      for (const it of generateTaskItems({ family, split, seed: 3, count: 400, levels: [2, 3, 4, 5, 6, 7] })) {
        for (const kind of ['worked', 'boxed', 'plain'] as const) check(it.prompt, completionFor(it, kind));
      }
    }
  }
  const mix = createSupervisedMix({ seed: 4 });
  for (let i = 0; i < 1000; i++) {
    const ex = mix.next();
    check(ex.prompt, ex.completion);
  }
  t.equal(checked, 2 * 2 * 400 * 3 + 1000);
});

t.test('characters outside the vocabulary are detected (the BPE model would drop them)', async (t) => {
  t.equal(tinyUnencodableChar('<|bos|>12+3=<think>\n</think>\n\\boxed{15}'), null);
  t.equal(tinyUnencodableChar('12 + 3'), ' ');
  t.equal(tinyUnencodableChar('12-3'), '-');
  t.same(tok.encode('1x2').ids, [4, 5], 'documented: tokenizers.js drops unknown characters silently');
});

t.test('chat template renders bos + the problem', async (t) => {
  const tpl = new Template(tokCfg.chat_template);
  const text = tpl.render({
    messages: [{ role: 'user', content: '3478+5965=' }],
    bos_token: tokCfg.bos_token,
    add_generation_prompt: true,
  });
  t.equal(text, '<|bos|>3478+5965=');
  t.same(tok.encode(text).ids.slice(0, 2), [TINY_BOS_ID, 6]);
});

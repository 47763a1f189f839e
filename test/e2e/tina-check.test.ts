// `loractor check`: ready on the tiny default config (with a real tiny Qwen2 model folder written to a
// temp dir, since the shipped weights come from tools/train-tiny), not ready on configs/tina/open-rs2.json
// with every missing thing listed; dataset columns, broken weights and webllm artifacts are named.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import { parseQwen2Config } from '../../src/model/config.js';
import { createRandomModel } from '../../src/model/weights.js';
import { saveModel } from '../../src/model/load.js';
import { loadTokenizer } from '../../src/model/tokenizer.js';
import { checkConfig, formatReport } from '../../src/cli/check.js';

const root = repoRoot();
const main = join(root, 'dist', 'main.js');
const tmp = mkdtempSync(join(tmpdir(), 'loractor-check-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
// biome-ignore lint/suspicious/noExplicitAny: config JSON read and edited freely by path in the checks below
type Json = Record<string, any>;

/** A tiny Qwen2 folder: the shipped tiny tokenizer + random weights of a small architecture. */
function writeTinyModel(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const f of ['tokenizer.json', 'tokenizer_config.json'])
    copyFileSync(join(root, 'models', 'tiny', f), join(dir, f));
  const tok = loadTokenizer(dir);
  const cfg = parseQwen2Config({
    model_type: 'qwen2',
    hidden_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    intermediate_size: 64,
    vocab_size: tok.size,
    max_position_embeddings: 128,
    tie_word_embeddings: true,
    bos_token_id: tok.tokenId('<|bos|>'),
    eos_token_id: tok.eosTokenId,
  });
  saveModel(dir, createRandomModel(cfg, 7));
}
const modelDir = join(tmp, 'tiny');
writeTinyModel(modelDir);

function writeConfig(name: string, edit: (c: Json) => void, from = join(root, 'configs', 'default.json')): string {
  const c = JSON.parse(readFileSync(from, 'utf8')) as Json;
  edit(c);
  const p = join(tmp, name);
  writeFileSync(p, JSON.stringify(c));
  return p;
}
const defaultWithModel = writeConfig('default.json', (c) => {
  c.model.path = modelDir;
});

t.test('tiny default config: ready, exit 0, with a memory table', async (t) => {
  const rep = await checkConfig(defaultWithModel);
  t.same(rep.problems, []);
  const text = formatReport(rep);
  t.match(text, /READY/);
  t.match(text, /weights complete/);
  t.match(text, /chat template renders/);
  t.match(text, /base weights/);
  t.match(text, /AdamW m and v/);
  t.match(text, /time: about .* per step/);
  // Numbers: LoRA r16 on all 7 modules of 2 layers (hidden 32, kv 16, mlp 64): parameters, gradient
  // and the two AdamW moments, f32.
  const perLayer = 16 * (32 + 32 + (32 + 16) + (32 + 16) + (32 + 32) + (32 + 64) * 2 + (64 + 32));
  const loraRow = rep.memory.find((m) => m.item.startsWith('LoRA adapter, gradient, AdamW m and v'))!;
  t.match(loraRow.item, new RegExp(`\\(${(2 * perLayer).toLocaleString('en-US')} parameters\\)`));
  t.equal(loraRow.bytes, 4 * 2 * perLayer * 4);
  const r = spawnSync(process.execPath, [main, 'check', `--actors=${defaultWithModel}`], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stdout + r.stderr);
  t.match(r.stdout, /READY/);
});

t.test('the shipped configs/default.json is ready with the shipped models/tiny', async (t) => {
  const r = spawnSync(process.execPath, [main, 'check', '--actors=configs/default.json'], {
    encoding: 'utf8',
    cwd: root,
  });
  t.equal(r.status, 0, r.stdout);
});

t.test('configs/tina/open-rs2.json: not ready, every missing thing listed, exit 1', async (t) => {
  const r = spawnSync(process.execPath, [main, 'check', '--actors=configs/tina/open-rs2.json'], {
    encoding: 'utf8',
    cwd: root,
  });
  t.equal(r.status, 1);
  t.match(r.stdout, /NOT READY: 3 problem\(s\)/);
  t.match(r.stdout, /model\.path: folder .*DeepSeek-R1-Distill-Qwen-1\.5B does not exist/);
  t.match(r.stdout, /data\.path: .*knoveleng-open-rs does not exist .*knoveleng\/open-rs/);
  t.match(r.stdout, /benchmark 'gpqa' file .* does not exist/);
  t.match(
    r.stdout,
    /48 completions per step = 8 prompts × G 6; schedule horizon 1500 steps \(warmup 150\), stop at step 850/,
  );
});

t.test('dataset: present with Tina columns → ok and counted; missing columns → named', async (t) => {
  const good = join(tmp, 'good.jsonl');
  writeFileSync(good, ['{"problem":"1+1?","answer":"2"}', '{"problem":"2+2?","answer":"4"}', ''].join('\n'));
  const bad = join(tmp, 'bad.jsonl');
  writeFileSync(bad, '{"text":"1+1?","label":"2"}\n');
  const withData = (p: string, extra: Json = { unencodable_text: 'warn' }) =>
    writeConfig(`data-${p.length}-${Object.keys(extra).length}.json`, (c) => {
      c.model.path = modelDir;
      c.data = { source: 'dataset', path: p, dataset_id: 'GAIR/LIMR', system_prompt: 'auto', ...extra };
      c.grpo.max_steps = -1;
    });
  // The tiny tokenizer cannot encode Tina's (English) system prompt: by default that is a problem
  // naming the first row, as training would refuse it; under "warn" it is a warning.
  const lossy = await checkConfig(withData(good, {}));
  t.equal(lossy.problems.length, 1);
  t.match(lossy.problems[0]!, /good\.jsonl:1: this model's tokenizer cannot encode the rendered prompt/);
  const ok = await checkConfig(withData(good));
  t.same(ok.problems, []);
  t.ok(
    ok.warnings.some((w) => /2 row\(s\) hold text the tokenizer cannot encode/.test(w)),
    'counted under "warn"',
  );
  t.equal(ok.datasetRows, 2);
  t.ok(
    ok.passed.some((p) => /schedule horizon 1 steps/.test(p)),
    'max_steps -1 derived from the 2 rows',
  );
  t.ok(ok.passed.some((p) => /Tina prompt .* renders to \d+ tokens/.test(p)));
  const no = await checkConfig(withData(bad + ''));
  t.equal(no.problems.length, 1);
  t.match(no.problems[0]!, /bad\.jsonl: .*no string problem\/question\/prompt column \(has: text, label\)/);
});

t.test('broken weights, tokenizer mismatch and webllm artifacts are all reported together', async (t) => {
  const broken = join(tmp, 'broken');
  writeTinyModel(broken);
  const cfg = JSON.parse(readFileSync(join(broken, 'config.json'), 'utf8')) as Json;
  cfg.num_hidden_layers = 3; // weights hold 2 layers
  cfg.vocab_size = 5; // smaller than the tokenizer
  writeFileSync(join(broken, 'config.json'), JSON.stringify(cfg));
  const p = writeConfig('broken.json', (c) => {
    c.model = { path: broken, engine: 'webllm' };
    c.lora.lora_r = 0;
  });
  const rep = await checkConfig(p);
  const all = rep.problems.join('\n');
  t.match(all, /lora\.lora_r/);
  t.match(all, /tensor\(s\) missing from the weights: model\.layers\.2\./);
  t.match(all, /shape \[\d+,32\], config\.json implies \[5,32\]/);
  t.match(all, /tokenizer does not match the model/);
  t.match(all, /model\.mlc_dir: required/);
  t.match(all, /model\.mlc_lib: required/);
  t.ok(rep.problems.length >= 6, 'all problems, not just the first');
  const r = spawnSync(process.execPath, [main, 'check', `--actors=${p}`], { encoding: 'utf8' });
  t.equal(r.status, 1);
});

t.test('usage and unreadable config', async (t) => {
  t.equal(spawnSync(process.execPath, [main, 'check'], { encoding: 'utf8' }).status, 2);
  const r = spawnSync(process.execPath, [main, 'check', '--actors', join(tmp, 'nope.json')], { encoding: 'utf8' });
  t.equal(r.status, 1);
  t.match(r.stdout, /nope\.json/);
});

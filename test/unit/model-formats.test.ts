// Formats: config.json validation, safetensors (f32/f16/bf16, corrupt input), model save/load,
// shared-memory attach in a real worker, PEFT adapter round trip, tokenizer + chat template, and
// Rng.fillU32 (the bulk draw the synthetic checkpoints use).
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { readQwen2Config, toHfConfig } from '../../src/model/config.js';
import { createRandomModel, describeModel } from '../../src/model/weights.js';
import { loadModel, saveModel } from '../../src/model/load.js';
import {
  readSafetensors,
  writeSafetensors,
  f32ToF16,
  f16ToF32,
  f32ToBf16,
  bf16ToF32,
} from '../../src/model/safetensors.js';
import { defaultLoraSettings, initLoraAdapter, loraScale } from '../../src/model/lora.js';
import { loadAdapterPeft, saveAdapterPeft } from '../../src/model/peft.js';
import { completionLogprobs } from '../../src/model/logprobs.js';
import { loadTokenizer } from '../../src/model/tokenizer.js';
import { Rng } from '../../src/util/rng.js';
import { tinyConfig } from '../helpers/model-helpers.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'loractor-model-'));
const c = tinyConfig();
const model = createRandomModel(c, 5, { std: 0.3, perturbNorms: 0.1 });
const items = [
  { prompt: [1, 4, 6], completion: [7, 8, 2] },
  { prompt: [3], completion: [9, 9, 10, 11] },
];

t.test('config.json: malformed files are refused naming file and field', async (t) => {
  const dir = tmp();
  const p = join(dir, 'config.json');
  const good = toHfConfig(c);
  writeFileSync(p, '{ "hidden_size": 16,');
  t.throws(() => readQwen2Config(p), new RegExp(`${p}: invalid JSON`));
  writeFileSync(p, JSON.stringify({ ...good, hidden_size: undefined }));
  t.throws(() => readQwen2Config(p), new RegExp(`${p}: field "hidden_size" must be a positive integer`));
  writeFileSync(p, JSON.stringify({ ...good, num_key_value_heads: 3 }));
  t.throws(
    () => readQwen2Config(p),
    /field "num_attention_heads" \(4\) must be divisible by "num_key_value_heads" \(3\)/,
  );
  writeFileSync(p, JSON.stringify({ ...good, rope_theta: -1 }));
  t.throws(() => readQwen2Config(p), /field "rope_theta" must be a positive number/);
  writeFileSync(p, JSON.stringify({ ...good, eos_token_id: 99 }));
  t.throws(() => readQwen2Config(p), /field "eos_token_id" must be token id\(s\) in \[0, 23\)/);
  writeFileSync(p, JSON.stringify({ ...good, model_type: 'llama' }));
  t.throws(() => readQwen2Config(p), /field "model_type" is "llama"/);
  writeFileSync(p, JSON.stringify(good));
  t.same(readQwen2Config(p), c, 'round trip of a valid config');
});

t.test('f16 / bf16 conversions round to nearest even', async (t) => {
  for (const x of [0, 1, -2.5, 65504, 1e-5, 6e-8, 2.71, -0.1]) {
    t.ok(Math.abs(f16ToF32(f32ToF16(x)) - x) <= Math.max(Math.abs(x) * 2 ** -11, 2 ** -25), `f16 ${x}`);
    t.ok(Math.abs(bf16ToF32(f32ToBf16(x)) - x) <= Math.abs(x) * 2 ** -8, `bf16 ${x}`);
  }
  t.equal(f32ToF16(1e6), 0x7c00, 'overflow → +Inf');
  t.equal(f32ToBf16(1 + 2 ** -8), f32ToBf16(1), 'tie rounds to even (down)');
  t.equal(bf16ToF32(f32ToBf16(1 + 3 * 2 ** -8)), 1 + 2 ** -6, 'tie rounds to even (up)');
});

t.test('model save → load gives identical log-probs (f32), close ones (f16, bf16)', async (t) => {
  const ref = completionLogprobs(model, null, 0, items);
  for (const [dtype, tol] of [
    ['F32', 0],
    ['F16', 2e-2],
    ['BF16', 1e-1],
  ] as const) {
    const dir = tmp();
    saveModel(dir, model, dtype);
    const back = loadModel(dir);
    t.same(back.config, c);
    const lp = completionLogprobs(back, null, 0, items);
    let worst = 0;
    lp.forEach((a, i) => {
      a.forEach((v, j) => {
        worst = Math.max(worst, Math.abs(v - ref[i]![j]!));
      });
    });
    t.ok(worst <= tol, `${dtype}: max |Δlogp| ${worst} ≤ ${tol}`);
    t.ok(back.weights.embed.buffer instanceof SharedArrayBuffer, 'weights live in a SharedArrayBuffer');
  }
});

t.test('bad safetensors are refused naming the file and tensor', async (t) => {
  const dir = tmp();
  saveModel(dir, model);
  const file = join(dir, 'model.safetensors');
  const bytes = readFileSync(file);
  writeFileSync(file, bytes.subarray(0, bytes.length - 100));
  t.throws(
    () => loadModel(dir),
    new RegExp(
      `${file}: tensor "lm_head.weight": data ends at byte \\d+ but the file's data block has \\d+ bytes \\(truncated file\\?\\)`,
    ),
  );
  writeFileSync(file, bytes.subarray(0, 5));
  t.throws(() => loadModel(dir), /truncated safetensors file \(5 bytes/);
  const hl = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + hl).toString('utf8'));
  const rewrite = (
    mut: (h: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void,
  ): void => {
    const h = JSON.parse(JSON.stringify(header));
    mut(h);
    let js = JSON.stringify(h);
    while (js.length < hl) js += ' ';
    const out = Buffer.from(bytes);
    out.write(js.padEnd(hl, ' '), 8, 'utf8');
    writeFileSync(file, out);
  };
  // Wrong shape (same byte count, so only the shape check can catch it).
  rewrite((h) => {
    h['model.layers.1.self_attn.q_proj.weight']!.shape = [8, 32];
  });
  t.throws(
    () => loadModel(dir),
    new RegExp(`${file}: tensor "model.layers.1.self_attn.q_proj.weight" has shape \\[8,32\\], expected \\[16,16\\]`),
  );
  rewrite((h) => {
    h['model.layers.0.mlp.up_proj.weight']!.dtype = 'I32';
  });
  t.throws(
    () => loadModel(dir),
    new RegExp(`${file}: tensor "model.layers.0.mlp.up_proj.weight": unsupported dtype "I32"`),
  );
  rewrite((h) => {
    h['model.norm.weight']!.dtype = 'F16';
  });
  t.throws(
    () => loadModel(dir),
    /tensor "model.norm.weight": data_offsets span 64 bytes but shape \[16\] of F16 needs 32/,
  );
  rewrite((h) => {
    delete h['lm_head.weight'];
  });
  t.throws(() => loadModel(dir), /tensor "lm_head.weight" is missing/);
  writeFileSync(
    file,
    Buffer.concat([bytes.subarray(0, 8), Buffer.from('{not json'.padEnd(hl, ' ')), bytes.subarray(8 + hl)]),
  );
  t.throws(() => loadModel(dir), new RegExp(`${file}: safetensors header is not valid JSON`));
});

t.test('safetensors: write/read keeps names, shapes, order, metadata', async (t) => {
  const dir = tmp();
  const f = join(dir, 'x.safetensors');
  writeSafetensors(
    f,
    [
      { name: 'b', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] },
      { name: 'a', shape: [1], data: [0.5], dtype: 'BF16' },
    ],
    { format: 'pt' },
  );
  const { header, tensors } = readSafetensors(f);
  t.same(header.metadata, { format: 'pt' });
  t.same(Array.from(tensors.get('b')!.data), [1, 2, 3, 4, 5, 6]);
  t.same(tensors.get('a')!.shape, [1]);
  t.equal(tensors.get('a')!.dtype, 'BF16');
  t.equal(header.dataStart % 8, 0, 'data block is 8-byte aligned');
});

t.test('safetensors: lazy tensors are made one at a time, in order, and written across chunks', async (t) => {
  const dir = tmp();
  const f = join(dir, 'big.safetensors');
  const n = (1 << 20) + 37; // more than one write chunk of values (all exact in bf16: ≤ 8 significant bits)
  const made: string[] = [];
  const big = (seed: number) => (): Float32Array => {
    made.push(`big${seed}`);
    return Float32Array.from({ length: n }, (_, i) => ((i * 7 + seed) % 256) / 8);
  };
  writeSafetensors(f, [
    { name: 'big1', shape: [n], data: big(1), dtype: 'F16' },
    { name: 'small', shape: [2], data: [3, -4] },
    { name: 'big2', shape: [n], data: big(2), dtype: 'BF16' },
  ]);
  t.same(made, ['big1', 'big2'], 'each lazy tensor made once, in file order');
  const { tensors } = readSafetensors(f);
  t.same(Array.from(tensors.get('small')!.data), [3, -4]);
  for (const [name, seed] of [
    ['big1', 1],
    ['big2', 2],
  ] as const) {
    const got = tensors.get(name)!.data;
    let bad = -1;
    for (let i = 0; i < n && bad < 0; i++) if (got[i] !== ((i * 7 + seed) % 256) / 8) bad = i;
    t.equal(bad, -1, `${name}: every value back (first mismatch at ${bad})`);
  }
});

t.test('safetensors: a tensor of the wrong size is refused by name and leaves no file', async (t) => {
  const dir = tmp();
  const f = join(dir, 'bad.safetensors');
  t.throws(
    () => writeSafetensors(f, [{ name: 'w', shape: [2, 2], data: [1, 2, 3] }]),
    /tensor "w" has 3 values, shape \[2,2\] needs 4/,
  );
  t.notOk(existsSync(f), 'checked before the file is opened');
  t.throws(
    () =>
      writeSafetensors(f, [
        { name: 'ok', shape: [2], data: [1, 2] },
        { name: 'late', shape: [3], data: () => new Float32Array(5) },
      ]),
    /tensor "late" has 5 values, shape \[3\] needs 3/,
  );
  t.notOk(existsSync(f), 'a lazy tensor found wrong mid-write: the partial file is removed');
});

t.test('Rng.fillU32 gives the values of as many nextU32 calls, and the same state after', async (t) => {
  const a = new Rng(1234567);
  const b = new Rng(1234567);
  const out = new Uint32Array(1000);
  a.fillU32(out.subarray(0, 0));
  a.fillU32(out);
  const want = Uint32Array.from({ length: 1000 }, () => b.nextU32());
  t.same(Array.from(out), Array.from(want));
  t.same(a.state(), b.state());
  t.equal(a.nextU32(), b.nextU32());
});

t.test('describe/attach: a real worker maps the weights zero-copy', async (t) => {
  const shared = createRandomModel(c, 6, { std: 0.3 });
  const ref = completionLogprobs(shared, null, 0, items).map((a) => Array.from(a));
  const w = new Worker(new URL('../helpers/model-attach-worker.js', import.meta.url), {
    workerData: { desc: describeModel(shared), items },
  });
  const got = await new Promise<number[][]>((res, rej) => {
    w.once('message', res);
    w.once('error', rej);
  });
  await w.terminate();
  t.same(got, ref, 'worker computes identical log-probs');
  t.equal(shared.weights.finalNorm[0], 42, 'the worker wrote into the same memory');
});

t.test('PEFT adapter round trip: keys, adapter_config fields, identical log-probs', async (t) => {
  const settings = defaultLoraSettings({ r: 4, alpha: 16, dropout: 0.05 });
  const ad = initLoraAdapter(c, settings, new Rng(3));
  {
    const r = new Rng(4);
    for (let i = 0; i < ad.params.length; i++) ad.params[i] = 0.1 * r.normal();
  }
  const dir = tmp();
  saveAdapterPeft(dir, ad, { baseModel: 'models/tiny' });
  const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
  t.match(cfg, {
    peft_type: 'LORA',
    r: 4,
    lora_alpha: 16,
    lora_dropout: 0.05,
    bias: 'none',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: 'models/tiny',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    use_rslora: false,
    use_dora: false,
  });
  t.same(cfg.target_modules, ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
  const { tensors } = readSafetensors(join(dir, 'adapter_model.safetensors'));
  t.equal(tensors.size, 2 * 7 * c.numLayers);
  t.same(tensors.get('base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight')!.shape, [4, 16]);
  t.same(tensors.get('base_model.model.model.layers.0.mlp.down_proj.lora_B.weight')!.shape, [16, 4]);
  t.same(tensors.get('base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight')!.shape, [8, 4]);
  const back = loadAdapterPeft(dir, c);
  t.same(back.settings, ad.settings);
  t.same(Array.from(back.params), Array.from(ad.params));
  const a = completionLogprobs(model, ad, loraScale(settings), items);
  const b = completionLogprobs(model, back, loraScale(back.settings), items);
  t.same(
    b.map((x) => Array.from(x)),
    a.map((x) => Array.from(x)),
    'identical log-probs',
  );
  const base = completionLogprobs(model, null, 0, items);
  t.not(a[0]![0], base[0]![0], 'the adapter changes the model');
  // A PEFT config this model cannot apply is refused by field.
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, use_dora: true }));
  t.throws(() => loadAdapterPeft(dir, c), /adapter_config.json: field "use_dora" is true/);
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, target_modules: ['q_proj'] }));
  t.throws(
    () => loadAdapterPeft(dir, c),
    /tensor "base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight" is not part of a LoRA/,
  );
});

function writeTinyTokenizer(dir: string, extraTokens = 0): void {
  const chars = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '+', '=', '\n', '}', ' '];
  const vocab: Record<string, number> = { '<pad>': 0, '<|bos|>': 1, '<|eos|>': 2 };
  chars.forEach((ch, i) => {
    vocab[ch] = 3 + i;
  });
  const specials = ['<think>', '</think>', '\\boxed{'];
  for (let i = 0; i < extraTokens; i++) specials.push(`<extra_${i}>`);
  const added = [
    { id: 0, content: '<pad>', special: true },
    { id: 1, content: '<|bos|>', special: true },
    { id: 2, content: '<|eos|>', special: true },
    ...specials.map((s, i) => ({ id: 3 + chars.length + i, content: s, special: false })),
  ].map((a) => ({ single_word: false, lstrip: false, rstrip: false, normalized: false, ...a }));
  for (const a of added) vocab[a.content] = a.id;
  const tj = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'Split', pattern: { Regex: '.|\\n' }, behavior: 'Isolated', invert: false },
    post_processor: null,
    decoder: { type: 'Fuse' },
    model: { type: 'WordLevel', vocab, unk_token: '<pad>' },
  };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tj));
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({
      bos_token: '<|bos|>',
      eos_token: '<|eos|>',
      pad_token: '<pad>',
      chat_template:
        "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}={% endif %}",
    }),
  );
}

t.test('tokenizer + chat template; a tokenizer that does not fit the vocabulary is refused', async (t) => {
  const dir = tmp();
  mkdirSync(dir, { recursive: true });
  const cfg = tinyConfig({ vocab_size: 21, eos_token_id: 2 });
  writeTinyTokenizer(dir);
  const tok = loadTokenizer(dir, cfg);
  t.equal(tok.size, 21);
  t.equal(tok.eosTokenId, 2);
  const text = tok.applyChatTemplate([{ role: 'user', content: '12+34' }]);
  t.equal(text, '<|bos|>12+34=');
  const ids = tok.encode(text);
  t.same(ids, [1, 4, 5, 13, 6, 7, 14]);
  t.equal(tok.decode(tok.encode('<think>\n3+4=7\n</think>\n\\boxed{7}')), '<think>\n3+4=7\n</think>\n\\boxed{7}');
  writeTinyTokenizer(dir, 3);
  t.throws(
    () => loadTokenizer(dir, cfg),
    new RegExp(
      `${join(dir, 'tokenizer.json')}: tokenizer has ids up to 23 but the model's config field "vocab_size" is 21`,
    ),
  );
  writeTinyTokenizer(dir);
  t.throws(
    () => loadTokenizer(dir, tinyConfig({ vocab_size: 21, eos_token_id: 3 })),
    /field "eos_token" "<\|eos\|>" is id 2, but the model config's eos_token_id is \[3\]/,
  );
});

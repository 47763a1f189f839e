// Malformed model folders: copies of models/tiny with one file damaged (seeded). config.json (missing
// keys, wrong dims, vocab mismatch, garbage), model.safetensors (truncated, header length overflow,
// header not JSON, unknown dtype, shape/offset mismatch, missing or duplicated tensors, NaN/Inf
// weights), tokenizer.json / tokenizer_config.json (garbage, no vocab, ids past vocab_size, bad
// special tokens, chat templates that do not parse or do not render).
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../src/util/rng.js';
import { repoRoot } from '../../src/util/paths.js';
import type { FuzzCase } from './types.js';

const FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'] as const;
type ModelFile = (typeof FILES)[number];
type Obj = Record<string, unknown>;

interface Parsed {
  header: Obj;
  headerText: string;
  data: Buffer;
}

function splitSafetensors(buf: Buffer): Parsed {
  const n = Number(buf.readBigUInt64LE(0));
  const headerText = buf.toString('utf8', 8, 8 + n);
  return { header: JSON.parse(headerText) as Obj, headerText, data: buf.subarray(8 + n) };
}

function joinSafetensors(headerText: string, data: Buffer): Buffer {
  const h = Buffer.from(headerText);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

export function modelCases(dir: string, seed: number, nextId: () => number): FuzzCase[] {
  const rng = Rng.derive(seed, 'fuzz-model');
  const src = join(repoRoot(), 'models/tiny');
  const orig = Object.fromEntries(FILES.map((f) => [f, readFileSync(join(src, f))])) as Record<ModelFile, Buffer>;
  const cfg = JSON.parse(orig['config.json'].toString()) as Obj;
  const st = splitSafetensors(orig['model.safetensors']);
  const tensorNames = Object.keys(st.header).filter((k) => k !== '__metadata__');
  const pickTensor = (): string => tensorNames[rng.int(tensorNames.length)]!;
  const tj = JSON.parse(orig['tokenizer.json'].toString()) as Obj;
  const tc = JSON.parse(orig['tokenizer_config.json'].toString()) as Obj;
  const cases: FuzzCase[] = [];

  const add = (
    category: string,
    name: string,
    file: ModelFile,
    content: Buffer | string,
    mustName: string[] = [],
  ): void => {
    const id = nextId();
    const d = join(dir, `m${id}`);
    mkdirSync(d, { recursive: true });
    for (const f of FILES) if (f !== file) copyFileSync(join(src, f), join(d, f));
    writeFileSync(join(d, file), content);
    cases.push({ id, category, name, target: 'model', input: d, expect: 'error', mustName: [d, ...mustName] });
  };
  const json = (o: unknown): string => JSON.stringify(o, null, 2);
  const header = (name: string, mutate: (h: Obj) => void): void => {
    const h = JSON.parse(st.headerText) as Obj;
    mutate(h);
    add('model.safetensors', name, 'model.safetensors', joinSafetensors(JSON.stringify(h), st.data));
  };

  // config.json
  for (const k of ['hidden_size', 'num_attention_heads', 'num_hidden_layers', 'intermediate_size', 'vocab_size']) {
    const o = { ...cfg };
    delete o[k];
    add('model config.json', `missing ${k}`, 'config.json', json(o), [k]);
  }
  const dims: [string, unknown][] = [
    ['hidden_size', 130],
    ['hidden_size', 256],
    ['num_hidden_layers', 5],
    ['num_hidden_layers', 3],
    ['vocab_size', 10],
    ['vocab_size', 32],
    ['intermediate_size', 353],
    ['num_key_value_heads', 3],
    ['head_dim', 30],
    ['model_type', 'llama'],
    ['eos_token_id', 99],
    ['bos_token_id', -1],
    ['hidden_act', 'gelu'],
    ['tie_word_embeddings', 'yes'],
    ['rope_theta', -1],
    ['rms_norm_eps', 0],
    ['hidden_size', '128'],
    ['num_attention_heads', 2.5],
  ];
  for (const [k, v] of dims)
    add('model config.json', `${k} = ${JSON.stringify(v)}`, 'config.json', json({ ...cfg, [k]: v }));
  const cfgText = orig['config.json'].toString();
  add('model config.json', 'truncated', 'config.json', cfgText.slice(0, 1 + rng.int(cfgText.length - 2)));
  add(
    'model config.json',
    'garbage bytes',
    'config.json',
    Buffer.from(Array.from({ length: 200 }, () => rng.int(256))),
  );
  add('model config.json', 'JSON array root', 'config.json', '[]');
  add('model config.json', 'empty file', 'config.json', '');

  // model.safetensors
  const whole = orig['model.safetensors'];
  const n = st.headerText.length;
  add('model.safetensors', 'truncated to 4 bytes', 'model.safetensors', whole.subarray(0, 4));
  add('model.safetensors', 'truncated inside the header', 'model.safetensors', whole.subarray(0, 8 + rng.int(n)));
  add(
    'model.safetensors',
    'truncated inside the data',
    'model.safetensors',
    whole.subarray(0, 8 + n + rng.int(st.data.length)),
  );
  add('model.safetensors', 'empty file', 'model.safetensors', Buffer.alloc(0));
  add(
    'model.safetensors',
    'trailing garbage after the data',
    'model.safetensors',
    Buffer.concat([whole, Buffer.from(Array.from({ length: 1 + rng.int(64) }, () => rng.int(256)))]),
    ['belong to no tensor'],
  );
  for (const len of [2n ** 64n - 1n, BigInt(whole.length), 0n]) {
    const b = Buffer.from(whole);
    b.writeBigUInt64LE(len);
    add('model.safetensors', `header length ${len}`, 'model.safetensors', b);
  }
  {
    const b = Buffer.from(whole);
    for (let i = 8; i < 8 + n; i++) b[i] = rng.int(256);
    add('model.safetensors', 'header is random bytes', 'model.safetensors', b);
  }
  add(
    'model.safetensors',
    'header is a JSON array',
    'model.safetensors',
    joinSafetensors(JSON.stringify([st.header]).padEnd(n), st.data),
  );
  add(
    'model.safetensors',
    'header JSON with trailing garbage',
    'model.safetensors',
    joinSafetensors(st.headerText + '}}garbage', st.data),
  );
  for (const d of ['I8', 'F64', 'float32', 5]) {
    const t = pickTensor();
    header(`dtype ${JSON.stringify(d)} on ${t}`, (h) => {
      (h[t] as Obj).dtype = d;
    });
  }
  {
    const t = pickTensor();
    header(`shape doubled on ${t}`, (h) => {
      const e = h[t] as Obj;
      e.shape = (e.shape as number[]).map((x, i) => (i === 0 ? x * 2 : x));
    });
  }
  {
    const t = tensorNames.find(
      (x) =>
        (st.header[x] as { shape: number[] }).shape.length === 2 &&
        (st.header[x] as { shape: number[] }).shape[0] !== (st.header[x] as { shape: number[] }).shape[1],
    )!;
    header(`shape transposed on ${t}`, (h) => {
      const e = h[t] as Obj;
      e.shape = [...(e.shape as number[])].reverse();
    });
  }
  for (const bad of [[-4, 8], ['0', '8'], [0, 4, 8], null]) {
    const t = pickTensor();
    header(`data_offsets ${JSON.stringify(bad)} on ${t}`, (h) => {
      (h[t] as Obj).data_offsets = bad;
    });
  }
  {
    const t = pickTensor();
    header(`data_offsets shifted +4 on ${t}`, (h) => {
      const e = h[t] as Obj;
      e.data_offsets = (e.data_offsets as number[]).map((x) => x + 4);
    });
  }
  {
    const t = pickTensor();
    header(`tensor ${t} renamed away (missing)`, (h) => {
      h['bogus.' + t] = h[t];
      delete h[t];
    });
  }
  {
    const t = pickTensor();
    header(`tensor ${t} entry removed`, (h) => {
      delete h[t];
    });
  }
  {
    const t = pickTensor();
    header(`entry ${t} is a number`, (h) => {
      h[t] = 5;
    });
  }
  header('__metadata__ with a non-string value', (h) => {
    h.__metadata__ = { format: 5 };
  });
  {
    // Duplicate name: a second tensor of the same size renamed to the first one's name (JSON keeps the last).
    const a = pickTensor();
    const size = JSON.stringify((st.header[a] as Obj).shape);
    const b = tensorNames.find((x) => x !== a && JSON.stringify((st.header[x] as Obj).shape) === size);
    if (b)
      add(
        'model.safetensors',
        `duplicate tensor name ${a}`,
        'model.safetensors',
        joinSafetensors(st.headerText.replace(`"${b}"`, `"${a}"`), st.data),
      );
  }
  for (const [label, bits] of [
    ['NaN', 0x7fc00000],
    ['+Inf', 0x7f800000],
  ] as const) {
    const t = pickTensor();
    const [b0, b1] = (st.header[t] as { data_offsets: number[] }).data_offsets as [number, number];
    const data = Buffer.from(st.data);
    data.writeUInt32LE(bits, b0 + 4 * rng.int((b1 - b0) / 4));
    add('model.safetensors', `${label} weight in ${t}`, 'model.safetensors', joinSafetensors(st.headerText, data), [t]);
  }

  // tokenizer.json / tokenizer_config.json
  const tjText = orig['tokenizer.json'].toString();
  add('tokenizer', 'tokenizer.json truncated', 'tokenizer.json', tjText.slice(0, 1 + rng.int(tjText.length - 2)), [
    'tokenizer.json',
  ]);
  add(
    'tokenizer',
    'tokenizer.json garbage',
    'tokenizer.json',
    Buffer.from(Array.from({ length: 100 }, () => rng.int(256))),
    ['tokenizer.json'],
  );
  add('tokenizer', 'tokenizer.json is {}', 'tokenizer.json', '{}', ['tokenizer.json']);
  add('tokenizer', 'tokenizer.json is an array', 'tokenizer.json', '[]', ['tokenizer.json']);
  add(
    'tokenizer',
    'tokenizer.json model without vocab',
    'tokenizer.json',
    json({ ...tj, model: { ...(tj.model as Obj), vocab: undefined } }),
    ['tokenizer.json'],
  );
  add(
    'tokenizer',
    'tokenizer.json model.type unknown',
    'tokenizer.json',
    json({ ...tj, model: { ...(tj.model as Obj), type: 'Unigram2' } }),
    ['tokenizer.json'],
  );
  add(
    'tokenizer',
    'tokenizer.json added_tokens not a list',
    'tokenizer.json',
    json({ ...tj, added_tokens: { a: 1 } }),
    ['tokenizer.json'],
  );
  {
    const vocab = { ...((tj.model as Obj).vocab as Obj), '<extra>': 40 };
    add(
      'tokenizer',
      'vocab id 40 past vocab_size 20',
      'tokenizer.json',
      json({ ...tj, model: { ...(tj.model as Obj), vocab } }),
      ['vocab_size'],
    );
  }
  const tcText = orig['tokenizer_config.json'].toString();
  add(
    'tokenizer',
    'tokenizer_config.json truncated',
    'tokenizer_config.json',
    tcText.slice(0, 1 + rng.int(tcText.length - 2)),
    ['tokenizer_config.json'],
  );
  add('tokenizer', 'tokenizer_config.json is a string', 'tokenizer_config.json', '"hello"', ['tokenizer_config.json']);
  add('tokenizer', 'eos_token not in vocab', 'tokenizer_config.json', json({ ...tc, eos_token: '<nope>' }), [
    'eos_token',
  ]);
  add(
    'tokenizer',
    'eos_token is a different known token',
    'tokenizer_config.json',
    json({ ...tc, eos_token: '<|pad|>' }),
    ['eos_token'],
  );
  add(
    'tokenizer',
    'chat_template does not parse',
    'tokenizer_config.json',
    json({ ...tc, chat_template: '{% for m in messages %}{{ m.content }' }),
    ['chat_template'],
  );
  add(
    'tokenizer',
    'chat_template fails to render',
    'tokenizer_config.json',
    json({ ...tc, chat_template: '{{ messages[0].content.nope() }}' }),
    ['chat_template'],
  );
  add(
    'tokenizer',
    'chat_template raises',
    'tokenizer_config.json',
    json({ ...tc, chat_template: "{{ raise_exception('no system role') }}" }),
    ['chat_template'],
  );
  add('tokenizer', 'chat_template is a number', 'tokenizer_config.json', json({ ...tc, chat_template: 42 }), [
    'chat_template',
  ]);
  return cases;
}

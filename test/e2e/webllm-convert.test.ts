// The CPU side of the WebLLM path (no GPU needed): HF → MLC conversion and fusing, the LoRA merge
// into fused tensors, artifact validation errors, the private-access self-check, and the generate
// CLI. The artifact-vs-library checks need LORACTOR_MLC_LIB and skip without it.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import {
  writeSyntheticQwen2Checkpoint,
  syntheticText,
  syntheticEos,
  type Qwen2Shape,
} from '../../src/engines/webllm/synthetic-checkpoint.js';
import { convertToMlc, mlcQwen2Params } from '../../tools/convert-to-mlc.js';
import { f32ToF16, f16ToF32, f32ToBf16, bf16ToF32 } from '../../src/engines/webllm/half-floats.js';
import { readSafetensors } from '../../src/model/safetensors.js';
import {
  loadMlcArtifacts,
  readMlcParamF32,
  type MlcArtifacts,
  type MlcModelConfig,
} from '../../src/engines/webllm/mlc-artifacts.js';
import { mergeInto, mlcSlotFor, planAdapter, checksum32 } from '../../src/engines/webllm/lora-merge.js';
import { makeTestAdapter } from '../../src/engines/webllm/test-adapter.js';
import {
  checkWebLlmInternals,
  checkWebLlmModule,
  installedWebLlmVersion,
  SUPPORTED_WEBLLM_VERSION,
  WebLlmInternalsError,
} from '../../src/engines/webllm/private-access.js';
import { parseGenerateArgs, readPromptFile } from '../../src/cli/generate.js';
import { dequantizeQ4, q4Groups, q4WordsPerRow, quantizeQ4 } from '../../src/engines/webllm/q4f16.js';
import { readMlcQ4ParamF32 } from '../../src/engines/webllm/q4-webllm.js';
import { q4ReferenceModel } from '../../src/engines/webllm/q4-reference.js';
import { loadReferenceModel } from '../../src/engines/webllm/cpu-reference.js';

const tiny: Qwen2Shape = {
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 64,
};
const tinyCfg: MlcModelConfig = { ...tiny };
const work = mkdtempSync(join(tmpdir(), 'loractor-webllm-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const hf = writeSyntheticQwen2Checkpoint(join(work, 'hf'), 3, tiny);

function hfTensor(name: string): Float32Array {
  const file = join(hf, 'model.safetensors');
  return readSafetensors(file).tensors.get(name)!.data;
}

function fakeArtifacts(dir: string): MlcArtifacts {
  const cache = JSON.parse(readFileSync(join(dir, 'ndarray-cache.json'), 'utf8'));
  const records = new Map();
  for (const shard of cache.records) for (const rec of shard.records) records.set(rec.name, { shard, rec });
  return {
    dir,
    chatConfig: {},
    modelConfig: tinyCfg,
    shards: cache.records,
    records,
    lib: { model_type: 'qwen2', quantization: 'q0f32', params: [] },
  };
}

t.test('convert-to-mlc fuses q|k|v and gate|up, keeps tied embeddings, stores bf16 exactly', async (t) => {
  const out = join(work, 'mlc');
  const r = convertToMlc({ model: hf, out, convTemplate: 'raw', shardBytes: 4096 });
  const cache = JSON.parse(readFileSync(join(out, 'ndarray-cache.json'), 'utf8'));
  const names = cache.records.flatMap((s: { records: { name: string }[] }) => s.records.map((x) => x.name));
  t.same(
    names,
    mlcQwen2Params({ ...tiny, tie_word_embeddings: true }).map((p) => p.name),
    'MLC parameter order',
  );
  t.notOk(names.includes('lm_head.weight'), 'tied: no lm_head');
  t.ok(cache.records.length > 1, 'several shards');
  for (const s of cache.records) t.ok(existsSync(join(out, s.dataPath)), `${s.dataPath} written`);
  t.equal(cache.records[0].records[0].format, 'f32-to-bf16');
  const a = fakeArtifacts(out);
  const cattn = readMlcParamF32(a, 'model.layers.1.self_attn.c_attn.weight');
  const qkv = [
    hfTensor('model.layers.1.self_attn.q_proj.weight'),
    hfTensor('model.layers.1.self_attn.k_proj.weight'),
    hfTensor('model.layers.1.self_attn.v_proj.weight'),
  ];
  t.same(
    Array.from(cattn),
    qkv.flatMap((x) => Array.from(x)),
    'c_attn.weight = rows q|k|v, bit-exact',
  );
  const bias = readMlcParamF32(a, 'model.layers.1.self_attn.c_attn.bias');
  t.same(
    Array.from(bias),
    ['q', 'k', 'v'].flatMap((x) => Array.from(hfTensor(`model.layers.1.self_attn.${x}_proj.bias`))),
    'c_attn.bias = q|k|v',
  );
  const gu = readMlcParamF32(a, 'model.layers.0.mlp.gate_up_proj.weight');
  t.same(
    Array.from(gu),
    [...hfTensor('model.layers.0.mlp.gate_proj.weight'), ...hfTensor('model.layers.0.mlp.up_proj.weight')],
    'gate_up = rows gate|up',
  );
  const cfg = JSON.parse(readFileSync(join(out, 'mlc-chat-config.json'), 'utf8'));
  t.equal(cfg.vocab_size, 64);
  t.same(cfg.tokenizer_files, ['tokenizer.json']);
  t.ok(existsSync(join(out, 'tokenizer.json')));
  t.equal(
    r.totalBytes,
    mlcQwen2Params({ ...tiny, tie_word_embeddings: true }).reduce(
      (s, p) => s + 2 * p.shape.reduce((x, y) => x * y, 1),
      0,
    ),
  );

  const out16 = join(work, 'mlc16');
  convertToMlc({ model: hf, out: out16, dtype: 'f16' });
  const c16 = readMlcParamF32(fakeArtifacts(out16), 'model.layers.1.self_attn.c_attn.weight');
  let worst = 0;
  c16.forEach((v, i) => {
    worst = Math.max(worst, Math.abs(v - cattn[i]!) / Math.max(Math.abs(cattn[i]!), 6.1e-5));
  });
  t.ok(worst <= 2 ** -11, `f16 storage rounds to nearest (worst rel ${worst.toExponential(2)})`);
});

t.test(
  'convert-to-mlc --dtype q4f16_1 writes q_weight/q_scale for linears and the embedding, f16 elsewhere',
  async (t) => {
    const out = join(work, 'mlc-q4');
    const r = convertToMlc({ model: hf, out, convTemplate: 'raw', dtype: 'q4f16_1', shardBytes: 4096 });
    const cache = JSON.parse(readFileSync(join(out, 'ndarray-cache.json'), 'utf8'));
    const recs = new Map<string, { shape: number[]; dtype: string; format: string }>();
    for (const s of cache.records) for (const x of s.records) recs.set(x.name, x);
    const d = tiny.hidden_size;
    const qkvRows = d + 2 * (d / tiny.num_attention_heads) * tiny.num_key_value_heads;
    const want: [string, number[], string][] = [
      ['model.embed_tokens.q_weight', [tiny.vocab_size, q4WordsPerRow(d)], 'uint32'],
      ['model.embed_tokens.q_scale', [tiny.vocab_size, q4Groups(d)], 'float16'],
      ['model.layers.1.self_attn.c_attn.q_weight', [qkvRows, q4WordsPerRow(d)], 'uint32'],
      ['model.layers.1.self_attn.c_attn.bias', [qkvRows], 'float16'],
      ['model.layers.1.mlp.down_proj.q_scale', [d, q4Groups(tiny.intermediate_size)], 'float16'],
      ['model.layers.1.input_layernorm.weight', [d], 'float16'],
      ['model.norm.weight', [d], 'float16'],
    ];
    for (const [name, shape, dtype] of want) {
      t.same(recs.get(name) && { shape: recs.get(name)!.shape, dtype: recs.get(name)!.dtype }, { shape, dtype }, name);
    }
    t.notOk(recs.has('model.layers.1.self_attn.c_attn.weight'), 'no full-precision linear weights');
    t.equal(recs.size, r.params.length, 'every record is listed in the result');
    t.equal(JSON.parse(readFileSync(join(out, 'mlc-chat-config.json'), 'utf8')).quantization, 'q4f16_1');
    // The fused tensor quantized as a whole equals its sources quantized one by one (groups run along a
    // row), so a CPU model on per-source dequantized weights holds exactly what the library holds.
    const a = { ...fakeArtifacts(out), lib: { model_type: 'qwen2', quantization: 'q4f16_1', params: [] } };
    const cattn = readMlcQ4ParamF32(a, 'model.layers.1.self_attn.c_attn.weight');
    const perSource = ['q', 'k', 'v'].flatMap((x) => {
      const w = hfTensor(`model.layers.1.self_attn.${x}_proj.weight`);
      return Array.from(dequantizeQ4(quantizeQ4(w, { rows: w.length / d, cols: d }), { rows: w.length / d, cols: d }));
    });
    t.same(Array.from(cattn), perSource, 'c_attn dequantized = q|k|v each quantized and dequantized');
    const down = readMlcQ4ParamF32(a, 'model.layers.0.mlp.down_proj.weight');
    const hfDown = hfTensor('model.layers.0.mlp.down_proj.weight');
    let worst = 0;
    down.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(v - hfDown[i]!));
    });
    const maxAbs = hfDown.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    t.ok(
      worst <= maxAbs / 14 + 1e-7,
      `down_proj (48 columns: a padded group) within scale/2 (worst ${worst.toExponential(2)})`,
    );
  },
);

t.test('q4 reference model holds what the q4f16_1 artifacts and the q4 sync hold', async (t) => {
  const out = join(work, 'mlc-q4');
  const a = { ...fakeArtifacts(out), lib: { model_type: 'qwen2', quantization: 'q4f16_1', params: [] } };
  const full = loadReferenceModel(hf);
  const ad = makeTestAdapter(tinyCfg, 1, 5, { r: 2, alpha: 6, bScale: 0.5 });
  const base = q4ReferenceModel(full, null);
  const synced = q4ReferenceModel(full, ad);
  const cattn = 'model.layers.1.self_attn.c_attn.weight';
  const fused = (m: typeof base) =>
    ['q', 'k', 'v'].flatMap((x) => Array.from(m.w.get(`model.layers.1.self_attn.${x}_proj.weight`)!));
  const stored = readMlcQ4ParamF32(a, cattn);
  t.same(fused(base), Array.from(stored), 'base: q|k|v rows are the stored c_attn dequantized');
  t.same(
    Array.from(base.w.get('lm_head.weight')!),
    Array.from(readMlcQ4ParamF32(a, 'model.embed_tokens.weight')),
    'tied head = the stored q4 embedding',
  );
  t.equal(base.w.get('model.norm.weight')![0], f16ToF32(f32ToF16(full.w.get('model.norm.weight')!.subarray(0, 1)))[0]);
  // With the adapter: the q4 sync's result, Q(W0 + delta) from the stored W0, via the fused merge of the q0 path.
  const merged = mergeInto(new Float32Array(stored.length), stored, planAdapter(ad, tinyCfg).get(cattn)!, ad);
  const rows = stored.length / tiny.hidden_size;
  const want = dequantizeQ4(quantizeQ4(merged, { rows, cols: tiny.hidden_size }), { rows, cols: tiny.hidden_size });
  const got = fused(synced);
  const differ = got.filter((v, i) => v !== want[i]).length;
  t.ok(
    differ <= 2,
    `synced c_attn = Q(stored W0 + delta) (${differ} of ${got.length} values one code apart: f32 summation order)`,
  );
  t.not(fused(synced).join(), fused(base).join(), 'the adapter changes the quantized weights');
  t.same(
    Array.from(synced.w.get('model.layers.1.self_attn.o_proj.weight')!),
    Array.from(base.w.get('model.layers.1.self_attn.o_proj.weight')!),
    'modules without LoRA keep the stored words',
  );
});

t.test('bf16/f16 conversions round to nearest even', async (t) => {
  t.same(Array.from(bf16ToF32(f32ToBf16(Float32Array.of(1, -2.5, 1 + 2 ** -8, 1 + 3 * 2 ** -8)))), [
    1,
    -2.5,
    1,
    1 + 2 ** -6,
  ]);
  t.same(Array.from(f16ToF32(f32ToF16(Float32Array.of(1, 65504, 1e-8, 1 + 2 ** -11, 6e-5)))), [
    1,
    65504,
    0,
    1,
    f16ToF32(Uint16Array.of(0x03ef))[0],
  ]);
});

t.test('convert-to-mlc errors name the file and tensor', async (t) => {
  t.throws(() => convertToMlc({ model: join(work, 'nope'), out: join(work, 'x') }), /missing .*nope.*config\.json/);
  t.throws(() => convertToMlc({ model: hf, out: join(work, 'x'), dtype: 'q4' as never }), /--dtype q4/);
  const broken = join(work, 'broken');
  writeSyntheticQwen2Checkpoint(broken, 4, tiny);
  const cfg = JSON.parse(readFileSync(join(broken, 'config.json'), 'utf8'));
  writeFileSync(join(broken, 'config.json'), JSON.stringify({ ...cfg, hidden_size: 'big' }));
  t.throws(
    () => convertToMlc({ model: broken, out: join(work, 'y') }),
    /config\.json: field hidden_size must be a number/,
  );
  writeFileSync(join(broken, 'config.json'), JSON.stringify({ ...cfg, intermediate_size: 40 }));
  t.throws(
    () => convertToMlc({ model: broken, out: join(work, 'y') }),
    /tensor model\.layers\.0\.mlp\.gate_proj\.weight has shape \[48,32\], config\.json implies \[40,32\]/,
    'shape mismatch names the tensor',
  );
});

t.test('LoRA merge into fused MLC tensors equals W0 + (alpha/r)·B·A per slot', async (t) => {
  t.same(mlcSlotFor('model.layers.1.self_attn.k_proj', tinyCfg), {
    mlcName: 'model.layers.1.self_attn.c_attn.weight',
    rowOffset: 32,
    rows: 16,
    cols: 32,
  });
  t.same(mlcSlotFor('model.layers.0.mlp.up_proj', tinyCfg), {
    mlcName: 'model.layers.0.mlp.gate_up_proj.weight',
    rowOffset: 48,
    rows: 48,
    cols: 32,
  });
  t.throws(() => mlcSlotFor('model.layers.9.self_attn.q_proj', tinyCfg), /layer 9/);
  const ad = makeTestAdapter(tinyCfg, 1, 5, {
    r: 2,
    alpha: 6,
    bScale: 0.5,
    modules: [
      { layer: 1, module: 'self_attn.k_proj' },
      { layer: 1, module: 'self_attn.v_proj' },
    ],
  });
  const plan = planAdapter(ad, tinyCfg);
  t.same([...plan.keys()], ['model.layers.1.self_attn.c_attn.weight']);
  const base = readMlcParamF32(fakeArtifacts(join(work, 'mlc')), 'model.layers.1.self_attn.c_attn.weight');
  const merged = mergeInto(
    new Float32Array(base.length),
    base,
    plan.get('model.layers.1.self_attn.c_attn.weight')!,
    ad,
  );
  const A = (n: string) => ad.layout.tensors.find((x) => x.name === n)!;
  let worst = 0;
  for (let row = 0; row < 64; row++) {
    for (let col = 0; col < 32; col++) {
      let want = base[row * 32 + col]!;
      const mod = row < 32 ? null : row < 48 ? 'k_proj' : 'v_proj';
      if (mod) {
        const a = A(`model.layers.1.self_attn.${mod}.lora_A`),
          b = A(`model.layers.1.self_attn.${mod}.lora_B`);
        const rr = row - (mod === 'k_proj' ? 32 : 48);
        for (let k = 0; k < 2; k++) want += 3 * ad.params[b.offset + rr * 2 + k]! * ad.params[a.offset + k * 32 + col]!;
      }
      worst = Math.max(worst, Math.abs(merged[row * 32 + col]! - want));
    }
  }
  t.ok(worst < 1e-6, `merged equals the explicit sum (worst ${worst.toExponential(2)})`);
  t.same(Array.from(merged.subarray(0, 32 * 32)), Array.from(base.subarray(0, 32 * 32)), 'q rows untouched');
  t.not(checksum32(new Uint8Array(merged.buffer)), checksum32(new Uint8Array(base.buffer)));
  const bad = { ...ad, params: ad.params.slice() };
  bad.params[3] = NaN;
  t.throws(() => planAdapter(bad, tinyCfg), /non-finite value at flat index 3/);
  const wrong = { ...ad, settings: { ...ad.settings, r: 3 } };
  t.throws(() => planAdapter(wrong, tinyCfg), /k_proj lora_A \[2,32\].*r=3/);
});

t.test('private-access self-check fails loudly on a version bump or moved internals', async (t) => {
  t.equal(installedWebLlmVersion(), SUPPORTED_WEBLLM_VERSION, 'the pinned web-llm is installed');
  t.throws(() => checkWebLlmModule('0.2.80', 3), WebLlmInternalsError);
  t.throws(() => checkWebLlmModule('0.2.80', 3), /installed version 0\.2\.80/);
  t.throws(() => checkWebLlmModule(SUPPORTED_WEBLLM_VERSION, 2), /patched 2 ENVIRONMENT_IS_NODE sites, expected 3/);
  t.throws(() => checkWebLlmInternals({}, 'm'), /loadedModelIdToPipeline is not a Map/);
  t.throws(() => checkWebLlmInternals({ loadedModelIdToPipeline: new Map() }, 'm'), /no pipeline for model m/);
  t.throws(
    () => checkWebLlmInternals({ loadedModelIdToPipeline: new Map([['m', { outputIds: [], stopTokens: [] }]]) }, 'm'),
    /missing pipeline\.params/,
  );
});

t.test(
  'MLC artifacts are checked against the model library before loading',
  {
    skip:
      process.env.LORACTOR_MLC_LIB && existsSync(process.env.LORACTOR_MLC_LIB)
        ? false
        : 'LORACTOR_MLC_LIB not set: skipping checks against a real model library',
  },
  async (t) => {
    const lib = process.env.LORACTOR_MLC_LIB!;
    t.throws(
      () => loadMlcArtifacts(join(work, 'mlc'), lib),
      /ndarray-cache\.json: model\.embed_tokens\.weight has shape \[64,32\], library .* expects \[151936,896\]/,
    );
    t.throws(() => loadMlcArtifacts(join(work, 'absent'), lib), /missing .*absent.*mlc-chat-config\.json/);
    t.throws(() => loadMlcArtifacts(join(work, 'mlc'), join(work, 'absent.wasm')), /library not found/);
    const { createWebLlmEngine } = await import('../../src/engines/webllm/engine.js');
    await t.rejects(
      createWebLlmEngine({ mlcDir: join(work, 'mlc'), libFile: lib }),
      /expects \[151936,896\]/,
      'the engine refuses before touching the GPU',
    );
    unlinkSync(join(work, 'mlc16', 'params_shard_0.bin'));
    t.throws(() => loadMlcArtifacts(join(work, 'mlc16'), lib), /missing shard .*params_shard_0\.bin/);
  },
);

t.test('generate CLI: argument and input errors are clear; builtin engine prints JSON lines', async (t) => {
  t.throws(
    () => parseGenerateArgs(['--engine', 'gpu', '--model', 'm', '--prompt', 'x']),
    /--engine must be builtin or webllm/,
  );
  t.throws(() => parseGenerateArgs(['--engine', 'webllm', '--model', 'm', '--prompt', 'x']), /needs --mlc DIR/);
  t.throws(() => parseGenerateArgs(['--engine', 'builtin', '--model', 'm']), /exactly one of --prompt or --in/);
  t.throws(
    () => parseGenerateArgs(['--engine', 'builtin', '--model', 'm', '--prompt', 'x', '--n', '1.5']),
    /--n must be an integer/,
  );
  const f = join(work, 'in.jsonl');
  writeFileSync(f, '{"prompt": "t1 t2"}\n{"prompt_ids": [1, 2]}\n{"oops": 1}\n');
  t.throws(() => readPromptFile(f), /in\.jsonl:3: expected/);
  writeFileSync(f, '{"prompt": "t1 t2"}\n{"prompt_ids": [3, 4]}\n');
  t.equal(readPromptFile(f).length, 2);
  const main = join(repoRoot(), 'dist', 'main.js');
  const r = spawnSync(
    process.execPath,
    [main, 'generate', '--engine', 'builtin', '--model', hf, '--in', f, '--n', '2', '--max-tokens', '3', '--seed', '5'],
    { encoding: 'utf8', timeout: 60_000 },
  );
  t.equal(r.status, 0, `exit 0 (stderr: ${r.stderr.slice(0, 400)})`);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.equal(lines.length, 4, 'two prompts × n=2');
  for (const l of lines) {
    t.ok(l.token_ids.length >= 1 && l.token_ids.length === l.logprobs.length, 'ids and log-probs per token');
    t.equal(l.policy_version, 0);
    t.ok(l.logprobs.every((x: number) => x <= 0));
  }
  t.equal(
    lines[0].text.replace(/\s+/g, ' ').trim(),
    syntheticText(lines[0].token_ids.filter((x: number) => x !== syntheticEos(tiny))),
    'text is the decoded ids',
  );
});

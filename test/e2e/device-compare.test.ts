// The GPU-machine script's pieces that run without a GPU: device-compare-rollout's summary of the
// rollout and WebLLM phases (tools/device/run.sh), on result files written here, and the shape a
// compiled WebLLM library was built for (what pack.sh names a packed library by and what the
// synthetic checkpoints are made in), from metadata in each library's form.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import { libraryShape } from '../../tools/convert-to-mlc/synthetic.js';
import type { MlcLibMetadata } from '../../src/engines/webllm/mlc-artifacts.js';

const work = mkdtempSync(join(tmpdir(), 'loractor-device-compare-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const tool = join(repoRoot(), 'dist', 'tools', 'device-compare-rollout.js');

const write = (name: string, value: unknown): string => {
  const p = join(work, name);
  writeFileSync(p, JSON.stringify(value));
  return p;
};
const compare = (args: string[]): string => {
  const r = spawnSync(process.execPath, [tool, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`device-compare-rollout exited ${r.status}: ${r.stderr}`);
  return r.stdout;
};

const row = (shape: string, batch: number, tps: number) => ({ shape, batch, decodeTokensPerS: tps, msPerStep: 1 });
const rollout = write('rollout.json', {
  results: [
    {
      shape: '1.5b',
      device: 'gpu',
      syncMs: { upload: 3, flip: 0.01 },
      rows: [
        row('1.5b', 1, 150),
        { ...row('1.5b', 48, 6000), hostMsPerStep: 6, waitMsPerStep: 2, route: 'gemm', dispatchesPerStep: 760 },
      ],
      serial: { ...row('1.5b', 48, 4000), msPerStep: 12, hostMsPerStep: 6, waitMsPerStep: 6 },
      otherRoute: { ...row('1.5b', 48, 4500), msPerStep: 2, route: 'skinny', dispatchesPerStep: 592 },
      normsApart: { ...row('1.5b', 48, 5000), hostMsPerStep: 7, dispatchesPerStep: 816, fused: 'apart: norms' },
      unrecorded: { ...row('1.5b', 48, 3000), hostMsPerStep: 20, dispatchesPerStep: 760 },
    },
    { shape: '0.5b', device: 'gpu', syncMs: { upload: 1, flip: 0.01 }, rows: [row('0.5b', 48, 9000)] },
  ],
  webllm: null,
});
const scaling = write('scaling.json', {
  lib: '896x24-q0f32.wasm',
  rows: [
    { actors: 1, tokensPerS: 100, speedup: 1 },
    { actors: 2, tokensPerS: 180, speedup: 1.8 },
    { actors: 4, tokensPerS: 0, speedup: 0, error: 'out of memory' },
  ],
});
const single = (shape: string, tps: number) =>
  write(`single-${shape}.json`, {
    device: 'gpu',
    model: { shape, quantization: shape === '0.5b' ? 'q0f32' : 'q4f16_1' },
    loadSeconds: 4,
    generation: { decodeTokensPerS: tps, completionTokens: 256, prompts: 1, n: 1 },
    syncs: [{ adapter: 'Tina: r 32, 7 modules, 28 layers', stats: { totalMs: 900, bytes: 300 * 2 ** 20 } }],
  });

t.test('the 10× target is taken at 1.5B against the 1.5B q4 single stream when it ran', async (t) => {
  const out = compare([
    rollout,
    join(work, 'none.json'),
    join(work, 'none.json'),
    '--webllm-scaling',
    scaling,
    '--webllm-single',
    single('1536x28', 400),
  ]);
  t.match(out, /≥ 5,000 decode tokens\/s for 48 sequences of the 1\.5B model: 6000\.0 \(met\)/);
  t.match(
    out,
    /1\.5b batch 48: overlap on 6000\.0 tok\/s, 1\.00 ms\/step \(host 6\.00, wait 2\.00\); off 4000\.0 tok\/s, 12\.00 ms\/step \(host 6\.00, wait 6\.00\): ×1\.50/,
    'the overlapped batch beside the same batch run one iteration at a time',
  );
  t.notMatch(out, /0\.5b batch 48: overlap/, 'no line where no serial run was made');
  t.match(
    out,
    /1\.5b batch 48: gemm route 6000\.0 tok\/s, 1\.00 ms\/step, 760 dispatches\/step \(default\); skinny route 4500\.0 tok\/s, 2\.00 ms\/step, 592 dispatches\/step: ×0\.75/,
    'the default decode route beside the other one at the same batch',
  );
  t.notMatch(out, /0\.5b batch 48: \w+ route/, 'no route line where the other route was not run');
  t.match(
    out,
    /1\.5b batch 48: default 6000\.0 tok\/s, host 6\.00 ms\/step, 760 dispatches\/step; norms apart \(apart: norms\) 5000\.0 tok\/s, host 7\.00 ms\/step, 816 dispatches\/step: default ×1\.20/,
    'the default beside the norms apart at the same batch',
  );
  t.match(
    out,
    /1\.5b batch 48: default .*; every decode step encoded 3000\.0 tok\/s, host 20\.00 ms\/step.*: default ×2\.00/,
  );
  t.notMatch(out, /nothing fused|SwiGLU fold switched/, 'no line for a variant that was not run');
  t.match(out, /1\.5b webgpu engine at 48 sequences 6000\.0 vs WebLLM q4f16_1 single stream 400\.0 = 15\.0× \(met\)/);
  t.match(out, /WebLLM single stream \(1536x28 q4f16_1; gpu\): 400\.0 decode tokens\/s over 256 tokens/);
  t.match(out, /sync Tina: r 32, 7 modules, 28 layers: 900\.0 ms for 300\.0 MiB/);
  t.match(out, /WebLLM aggregate tokens\/s against rollout actors \(896x24-q0f32\.wasm/);
  t.match(out, /4 {2}error: out of memory/, 'a failed actor count is shown as its error');
});

t.test('without a 1.5B single stream, the 10× target falls back to 0.5B against one actor', async (t) => {
  const out = compare([rollout, '', '', '--webllm-scaling', scaling]);
  t.match(out, /0\.5b webgpu engine at 48 sequences 9000\.0 vs WebLLM one actor 100\.0 = 90\.0× \(met\)/);
  t.notMatch(out, /WebLLM single stream/);
});

t.test('a WebLLM phase alone (no rollout results) still reports WebLLM; no target without both sides', async (t) => {
  const out = compare(['', '', '', '--webllm-single', single('1536x28', 80)]);
  t.match(out, /no rollout results \(no file given\)/);
  t.match(out, /WebLLM single stream \(1536x28 q4f16_1; gpu\): 80\.0/);
  t.notMatch(out, /Target/);
});

t.test('the q4 end-to-end check is tallied, naming what failed and why it stopped', async (t) => {
  const check = write('q4check.json', {
    error: 'lost the device',
    assertions: [
      { ok: true, message: 'the library is q4f16_1' },
      { ok: false, message: 'base: token 0 equals the CPU greedy token on the same q4 weights' },
    ],
  });
  const out = compare(['', '', '', '--webllm-q4-check', check]);
  t.match(out, /WebLLM q4f16_1 end-to-end check .*: 1 passed, 1 failed; stopped: lost the device/);
  t.match(out, /not ok: base: token 0 equals the CPU greedy token/);
});

const param = (name: string, shape: number[], dtype: string) => ({ name, shape, dtype });
const kv = { num_hidden_layers: 28, num_attention_heads: 12, num_key_value_heads: 2, head_dim: 128 };
const shape15 = {
  hidden_size: 1536,
  intermediate_size: 8960,
  num_hidden_layers: 28,
  num_attention_heads: 12,
  num_key_value_heads: 2,
  vocab_size: 151936,
};

t.test('libraryShape reads the dimensions from q0 (weight) and q4 (packed q_weight) parameter tables', async (t) => {
  const q0: MlcLibMetadata = {
    model_type: 'qwen2',
    quantization: 'q0f32',
    kv_cache: kv,
    params: [
      param('model.embed_tokens.weight', [151936, 1536], 'float32'),
      param('model.layers.0.mlp.gate_up_proj.weight', [17920, 1536], 'float32'),
    ],
  };
  const q4: MlcLibMetadata = {
    model_type: 'qwen2',
    quantization: 'q4f16_1',
    kv_cache: kv,
    params: [
      param('model.embed_tokens.q_weight', [151936, 192], 'uint32'),
      param('model.layers.0.mlp.gate_up_proj.q_weight', [17920, 192], 'uint32'),
    ],
  };
  t.same(libraryShape('q0.wasm', q0), shape15);
  t.same(libraryShape('q4.wasm', q4), shape15, '8 four-bit codes per uint32 word');
  t.throws(
    () => libraryShape('odd.wasm', { ...q0, params: q0.params.slice(1) }),
    /odd\.wasm: no parameter model\.embed_tokens\.weight or model\.embed_tokens\.q_weight in its metadata/,
  );
  t.throws(() => libraryShape('nokv.wasm', { ...q0, kv_cache: undefined }), /nokv\.wasm: no kv_cache entry/);
});

// npm run bench:webllm — WebLLM on this machine's WebGPU adapter (a real GPU through Dawn's
// Vulkan/Metal/D3D12 backend, or SwiftShader on a CPU): load time, sampled generation throughput
// (time to first token, decode tokens/s, all tokens/s) and verified LoRA weight-sync latency per MiB
// for a small adapter and a Tina-sized one (r 32 on all seven modules of every layer).
//
// Weights: a checkpoint we generate (seeded) in the shape the library was compiled for, converted by
// tools/convert-to-mlc to the storage it loads (tools/convert-to-mlc/synthetic.ts), so the bench needs
// only the compiled model library (never committed): Qwen2-0.5B q0f32 or q0f16, or Qwen2-0.5B/1.5B
// q4f16_1 (whose sync merges and re-quantizes on the GPU; f16 libraries need shader-f16):
//   LORACTOR_MLC_LIB=/path/Qwen2-0.5B-Instruct-q0f32-ctx4k_cs1k-webgpu.wasm npm run bench:webllm -- [options]
//     --prompts P (4) --n K (2) --tokens T (64) --cache DIR (tmp) --out FILE (runs/bench-webllm.json)
// On SwiftShader use --prompts 1 --n 1 --tokens 2 (tens of seconds per token for 0.5B).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { syntheticText } from '../src/engines/webllm/synthetic-checkpoint.js';
import { createWebLlmEngine } from '../src/engines/webllm/engine.js';
import { makeTestAdapter } from '../src/engines/webllm/test-adapter.js';
import type { SyncStats } from '../src/engines/webllm/weight-sync.js';
import { repoRoot } from '../src/util/paths.js';
import { syntheticMlcModelFor } from './convert-to-mlc/synthetic.js';
import { scriptOptions, UsageError } from '../src/cli/standard-flags.js';

const USAGE = `usage: LORACTOR_MLC_LIB=LIB.wasm node dist/tools/bench-webllm.js [--prompts P] [--n K] [--tokens T] [--lib FILE] [--cache DIR] [--out FILE]
       (npm run bench:webllm)

WebLLM on this machine's WebGPU adapter: load time, time to first token, decode tokens/s, and verified
LoRA weight-sync latency per MiB, on a generated checkpoint in the library's shape (q0f32, q0f16, q4f16_1).
  --prompts P   prompts per batch (default 4)      --n K       completions per prompt (default 2)
  --tokens T    tokens per completion (default 64) --lib FILE  compiled model library (or LORACTOR_MLC_LIB)
  --cache DIR   checkpoint/MLC cache (default: a folder in the system temp dir)
  --out FILE    JSON report (default runs/bench-webllm.json)
On SwiftShader use --prompts 1 --n 1 --tokens 2.`;

const { values } = scriptOptions({
  name: 'bench-webllm',
  help: USAGE,
  options: {
    prompts: { type: 'string', default: '4' },
    n: { type: 'string', default: '2' },
    tokens: { type: 'string', default: '64' },
    lib: { type: 'string' },
    cache: { type: 'string' },
    out: { type: 'string' },
  },
});
const int = (name: string, v: string): number => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`--${name}: expected a positive integer, got '${v}'`);
  return Number(v);
};
const P = int('prompts', values.prompts!),
  N = int('n', values.n!),
  T = int('tokens', values.tokens!);
const lib = values.lib ?? process.env.LORACTOR_MLC_LIB;
if (!lib || !existsSync(lib)) {
  console.error(
    `bench:webllm: no compiled model library (--lib or LORACTOR_MLC_LIB; got ${lib ?? 'nothing'}); see docs/webllm.md`,
  );
  process.exit(2);
}
const out = resolve(values.out ?? join(repoRoot(), 'runs', 'bench-webllm.json'));
const cache = values.cache ?? join(tmpdir(), 'loractor-webllm-cache');

const t0 = performance.now();
const { mlcDir, tag, quantization } = syntheticMlcModelFor(lib, cache);
const prepareS = (performance.now() - t0) / 1000;

const engine = await createWebLlmEngine({ mlcDir, libFile: lib, contextWindow: Math.max(256, 64 + T) });
const adapterInfo = await (
  (globalThis as { navigator?: unknown }).navigator as {
    gpu?: {
      requestAdapter(): Promise<{ info?: { vendor?: string; architecture?: string; description?: string } } | null>;
    };
  }
).gpu?.requestAdapter();
const device =
  [adapterInfo?.info?.vendor, adapterInfo?.info?.architecture, adapterInfo?.info?.description]
    .filter(Boolean)
    .join(' ') || 'unknown adapter';

// Sampled generation, the way rollouts run (temperature 1, top_p 1, no EOS early stop on random weights).
const prompts = Array.from({ length: P }, (_, i) => {
  const ids = Int32Array.from([1 + i, 2 + i, 3 + i, 4 + i]);
  return { ids, text: syntheticText(ids), seedKey: i };
});
await engine.generate([prompts[0]!], 1, { temperature: 1, top_p: 1, top_k: 0, max_tokens: 1, seed: 1 }); // warm-up (shader compilation)
const g0 = performance.now();
const completions = await engine.generate(prompts, N, { temperature: 1, top_p: 1, top_k: 0, max_tokens: T, seed: 7 });
const genS = (performance.now() - g0) / 1000;
const gen = {
  ...engine.lastGenerationStats!,
  wallS: genS,
  meanCompletionTokens: completions.reduce((a, c) => a + c.tokenIds.length, 0) / completions.length,
};

// Weight sync: merge from frozen W0 + write into the GPU buffers + read back + checksum, per MiB written.
const mc = engine.artifacts.modelConfig;
const all = Array.from({ length: mc.num_hidden_layers }, (_, layer) =>
  [
    'self_attn.q_proj',
    'self_attn.k_proj',
    'self_attn.v_proj',
    'self_attn.o_proj',
    'mlp.gate_proj',
    'mlp.up_proj',
    'mlp.down_proj',
  ].map((module) => ({ layer, module })),
).flat();
const attnQV = Array.from({ length: mc.num_hidden_layers }, (_, layer) =>
  ['self_attn.q_proj', 'self_attn.v_proj'].map((module) => ({ layer, module })),
).flat();
const syncs: { adapter: string; stats: SyncStats; msPerMiB: number }[] = [];
let version = 0;
for (const [name, o] of [
  [`r 16, q+v, ${mc.num_hidden_layers} layers`, { r: 16, alpha: 64, modules: attnQV }],
  [`Tina: r 32, 7 modules, ${mc.num_hidden_layers} layers`, { r: 32, alpha: 128, modules: all }],
] as const) {
  for (let rep = 0; rep < 2; rep++) {
    // the first touch of a tensor also reads its W0 from the shards
    await engine.setAdapter(makeTestAdapter(mc, ++version, 100 + version, { ...o, bScale: 1e-3 }));
    const s = engine.lastSyncStats!;
    if (rep === 1) syncs.push({ adapter: name, stats: s, msPerMiB: s.totalMs / (s.bytes / 2 ** 20) });
  }
}
await engine.close();

const row = (cells: (string | number)[]) => console.log(cells.map((c) => String(c).padEnd(16)).join(''));
console.log(
  `\nWebLLM bench — Qwen2 ${tag} ${quantization} (synthetic weights); ${device}; ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}; prepare ${prepareS.toFixed(1)} s, engine load ${engine.loadSeconds.toFixed(1)} s`,
);
row(['generation', 'completions', 'tokens', 'TTFT s', 'decode tok/s', 'all tok/s']);
row([
  `${P}×${N}×${T}`,
  gen.completions,
  gen.completionTokens,
  gen.meanTimeToFirstTokenS.toPrecision(3),
  gen.decodeTokensPerS.toPrecision(3),
  gen.tokensPerS.toPrecision(3),
]);
row(['sync', 'tensors', 'MiB', 'merge ms', 'write ms', 'verify ms', 'total ms', 'ms/MiB']);
for (const s of syncs)
  row([
    s.adapter.slice(0, 15),
    s.stats.tensors,
    (s.stats.bytes / 2 ** 20).toFixed(0),
    s.stats.mergeMs.toFixed(0),
    s.stats.writeMs.toFixed(0),
    s.stats.verifyMs.toFixed(0),
    s.stats.totalMs.toFixed(0),
    s.msPerMiB.toFixed(2),
  ]);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  JSON.stringify(
    {
      time: new Date().toISOString(),
      device,
      model: { shape: tag, quantization, lib },
      loadSeconds: engine.loadSeconds,
      prepareSeconds: prepareS,
      generation: { prompts: P, n: N, maxTokens: T, ...gen },
      syncs,
    },
    null,
    2,
  ) + '\n',
);
console.log(`wrote ${out}`);

// npm run bench:q4-sync [-- --quick] — per-step weight sync into a q4f16_1 WebLLM library (the only
// compiled 1.5B libraries for web-llm 0.2.79): for every LoRA-touched tensor of the 1.5B shape
// (c_attn, o_proj, gate_up_proj, down_proj per layer), the LoRA delta (Tina's r 32 on all seven
// projections) is computed and the merged weights quantized on the GPU into q_weight / q_scale
// buffers, then sampled rows are verified bit for bit against the CPU reference. No WebLLM library
// is needed: the destinations are buffers on our own device, exactly as big as web-llm's.
// Memory: one layer's tensors are allocated and synced once per layer (`--layers` times), which is
// the same work as distinct layers (every layer has the same shapes) in one layer's memory
// (SwiftShader's "GPU" memory is this machine's RAM).
//   --layers 28  --verify-rows 8  --steps 2  --base f32|f16  --out FILE  --quick (2 layers, 1 step)
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { planAdapter } from '../src/engines/webllm/lora-merge.js';
import type { MlcModelConfig } from '../src/engines/webllm/mlc-artifacts.js';
import { createQ4Sync, writeQ4Verified, type Q4Destination } from '../src/engines/webllm/q4-sync.js';
import { q4Groups, q4WordsPerRow } from '../src/engines/webllm/q4f16.js';
import { makeTestAdapter } from '../src/engines/webllm/test-adapter.js';
import { allocTensor, createGpuContext, memoryStats } from '../src/ops/webgpu/context.js';
import { scriptOptions, UsageError } from '../src/cli/standard-flags.js';
import { Rng } from '../src/util/rng.js';
import { repoRoot } from '../src/util/paths.js';

const HELP = `usage: node dist/tools/bench-q4-sync.js [--quick] [--layers N] [--steps N] [--verify-rows N] [--base f32|f16] [--out FILE]
  Per-step LoRA sync into MLC's q4f16_1 layout on the GPU (merge + quantize + sampled CPU verification)
  at the 1.5B shape (DeepSeek-R1-Distill-Qwen-1.5B / Qwen2-1.5B), Tina's adapter (r 32, all seven modules). Table + JSON.`;
const { values: a } = scriptOptions({
  name: 'bench-q4-sync',
  help: HELP,
  options: {
    quick: { type: 'boolean', default: false },
    layers: { type: 'string' },
    steps: { type: 'string' },
    'verify-rows': { type: 'string', default: '8' },
    base: { type: 'string', default: 'f32' },
    out: { type: 'string' },
  },
});
const int = (name: string, v: string): number => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`--${name}: expected a positive integer, got '${v}'`);
  return Number(v);
};
const layers = int('layers', a.layers ?? (a.quick ? '2' : '28'));
const steps = int('steps', a.steps ?? (a.quick ? '1' : '2'));
const verifyRows = int('verify-rows', a['verify-rows']!);
if (a.base !== 'f32' && a.base !== 'f16') throw new UsageError(`--base: f32 or f16, got '${a.base}'`);
const out = resolve(a.out ?? join(repoRoot(), 'runs', 'bench-q4-sync.json'));

const C: MlcModelConfig = {
  hidden_size: 1536,
  intermediate_size: 8960,
  num_hidden_layers: 1,
  num_attention_heads: 12,
  num_key_value_heads: 2,
  vocab_size: 151936,
};
const TENSORS: [string, number, number][] = [
  ['model.layers.0.self_attn.c_attn.weight', (12 + 2 * 2) * 128, 1536],
  ['model.layers.0.self_attn.o_proj.weight', 1536, 1536],
  ['model.layers.0.mlp.gate_up_proj.weight', 2 * 8960, 1536],
  ['model.layers.0.mlp.down_proj.weight', 1536, 8960],
];

const ctx = await createGpuContext();
const rng = new Rng(1);
const host = new Map<string, Float32Array>();
const dest = new Map<string, Q4Destination>();
for (const [name, rows, cols] of TENSORS) {
  const w = new Float32Array(rows * cols);
  for (let i = 0; i < w.length; i++) w[i] = (2 * rng.next() - 1) * 0.04;
  host.set(name, w);
  dest.set(name, {
    rows,
    cols,
    words: allocTensor(ctx, rows * q4WordsPerRow(cols), 'i32', false, true),
    scales: allocTensor(ctx, rows * q4Groups(cols), 'f16', false, true),
  });
}
const sync = createQ4Sync(
  ctx,
  (n) => dest.get(n)!,
  (n) => host.get(n)!,
  { baseDtype: a.base, verifyRows },
);
const modules = [
  'self_attn.q_proj',
  'self_attn.k_proj',
  'self_attn.v_proj',
  'self_attn.o_proj',
  'mlp.gate_proj',
  'mlp.up_proj',
  'mlp.down_proj',
].map((module) => ({ layer: 0, module }));
const names = TENSORS.map(([n]) => n);
// Warm-up: uploads W0 and compiles the kernels (once per engine, not per step).
await writeQ4Verified(sync, names, new Map(), null, { quantizeMs: 0, verifyMs: 0, bytes: 0, rowsVerified: 0 });

interface Row {
  step: number;
  totalMs: number;
  quantizeMs: number;
  verifyMs: number;
  mib: number;
  rowsVerified: number;
  failed: number;
}
const rows: Row[] = [];
for (let step = 1; step <= steps; step++) {
  const snap = makeTestAdapter(C, step, step, { r: 32, alpha: 128, modules, bScale: 0.01 });
  const plan = planAdapter(snap, C);
  const t = { quantizeMs: 0, verifyMs: 0, bytes: 0, rowsVerified: 0 };
  const t0 = performance.now();
  let failed = 0;
  for (let l = 0; l < layers; l++)
    failed += (await writeQ4Verified(sync, names, plan, { ...snap, version: step * 1000 + l }, t)).length;
  rows.push({
    step,
    totalMs: performance.now() - t0,
    quantizeMs: t.quantizeMs,
    verifyMs: t.verifyMs,
    mib: t.bytes / 2 ** 20,
    rowsVerified: t.rowsVerified,
    failed,
  });
}

console.log(
  `q4f16_1 sync, 1.5B shape × ${layers} layer(s), r 32 on all seven modules, W0 ${a.base} on the GPU; adapter ${ctx.info.adapter}`,
);
console.log('step | sync ms | merge+quantize ms | verify ms | q4 MiB written | rows verified | failed');
for (const r of rows)
  console.log(
    `${r.step} | ${r.totalMs.toFixed(0)} | ${r.quantizeMs.toFixed(0)} | ${r.verifyMs.toFixed(0)} | ${r.mib.toFixed(1)} | ${r.rowsVerified} | ${r.failed}`,
  );
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  JSON.stringify(
    {
      bench: 'q4-sync',
      adapter: ctx.info.adapter,
      shape: '1.5b',
      layers,
      base: a.base,
      verifyRows,
      rows,
      gpuMemory: memoryStats(ctx),
    },
    null,
    2,
  ) + '\n',
);
console.log(`wrote ${out}`);
if (rows.some((r) => r.failed)) process.exit(1);

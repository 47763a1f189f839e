// node dist/tools/roofline.js [--shape 1.5b] [--sequences 48] [--prompt 512] [--completion 3584]
//   [--micro-batch 4] [--weights f16|f32] [--recompute on|off] [--json FILE]
// The learner step on paper: for every kernel, FLOPs and bytes per call, calls per step, and the
// time each implies on an H200 at its f32, non-tensor f16 and tensor bf16 peaks and at 4.8 TB/s.
// A kernel's time at a given peak is max(FLOPs / peak, bytes / bandwidth); the step is their sum.
import { writeFileSync } from 'node:fs';
import { LORA_MODULES } from '../src/model/lora.js';
import {
  baseParams,
  learnerMemory,
  learnerStepCosts,
  loraParams,
  type KernelCost,
  type StepShape,
} from '../src/model/cost.js';
import { H200, shapeConfig } from '../src/model/shapes.js';
import { scriptOptions } from '../src/cli/standard-flags.js';

const HELP = `usage: node dist/tools/roofline.js [--shape 1.5b|0.5b|quick] [--sequences N] [--prompt N] [--completion N] [--micro-batch N] [--weights f16|f32] [--recompute on|off] [--json FILE]
  The learner step on paper: FLOPs and bytes per kernel, calls per step, time at the H200's peaks.`;
const { values: a } = scriptOptions({
  name: 'roofline',
  help: HELP,
  options: {
    shape: { type: 'string', default: '1.5b' },
    sequences: { type: 'string', default: '48' },
    prompt: { type: 'string', default: '512' },
    completion: { type: 'string', default: '3584' },
    'micro-batch': { type: 'string', default: '4' },
    weights: { type: 'string', default: 'f16' },
    recompute: { type: 'string', default: 'on' },
    json: { type: 'string' },
  },
});
const shape: StepShape = {
  config: shapeConfig(a.shape!),
  sequences: +a.sequences!,
  promptLength: +a.prompt!,
  completionLength: +a.completion!,
  microBatchSequences: +a['micro-batch']!,
  loraR: 32,
  loraModules: LORA_MODULES,
  weightBytes: a.weights === 'f32' ? 4 : 2,
  reference: true,
  recompute: a.recompute !== 'off',
};
const costs = learnerStepCosts(shape);
const time = (k: KernelCost, peak: number): number =>
  k.callsPerStep * Math.max(k.flops / peak, k.bytes / H200.bytesPerS);
// Matrix products may use tensor cores; elementwise kernels run at the f32 rate either way.
const tensorPeak = (k: KernelCost): number => (k.matrix ? H200.bf16Tensor : H200.f32);
const f16Peak = (k: KernelCost): number => (k.matrix ? H200.f16NonTensor : H200.f32);
const rows = costs.map((k) => ({
  kernel: k.kernel,
  gflopPerCall: k.flops / 1e9,
  mbPerCall: k.bytes / 2 ** 20,
  calls: k.callsPerStep,
  tflopPerStep: (k.flops * k.callsPerStep) / 1e12,
  gbPerStep: (k.bytes * k.callsPerStep) / 1e9,
  intensity: k.flops / k.bytes,
  msF32: 1e3 * time(k, H200.f32),
  msF16: 1e3 * time(k, f16Peak(k)),
  msTensor: 1e3 * time(k, tensorPeak(k)),
}));
const total = (key: 'msF32' | 'msF16' | 'msTensor' | 'tflopPerStep' | 'gbPerStep') =>
  rows.reduce((s, r) => s + r[key], 0);
const fmt = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toPrecision(2));
const cols = [
  'kernel',
  'gflopPerCall',
  'mbPerCall',
  'calls',
  'tflopPerStep',
  'gbPerStep',
  'intensity',
  'msF32',
  'msF16',
  'msTensor',
] as const;
const table = [
  cols.map(String),
  ...rows.map((r) => cols.map((c) => (typeof r[c] === 'number' ? fmt(r[c] as number) : String(r[c])))),
];
table.push([
  'TOTAL',
  '',
  '',
  '',
  fmt(total('tflopPerStep')),
  fmt(total('gbPerStep')),
  '',
  fmt(total('msF32')),
  fmt(total('msF16')),
  fmt(total('msTensor')),
]);
const widths = cols.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
const c = shape.config;
console.log(
  `Learner step, ${a.shape} (${(baseParams(c) / 1e9).toFixed(3)} B params, LoRA r 32 on 7 modules: ${(loraParams(shape) / 1e6).toFixed(2)} M), ${shape.sequences} × (${shape.promptLength} + ${shape.completionLength}) tokens, micro-batches of ${shape.microBatchSequences}, weights ${a.weights}, recompute ${a.recompute}`,
);
console.log(
  `H200 peaks: f32 ${H200.f32 / 1e12} TFLOP/s, f16 non-tensor ${H200.f16NonTensor / 1e12}, bf16 tensor ${H200.bf16Tensor / 1e12}, HBM ${H200.bytesPerS / 1e12} TB/s`,
);
for (const r of table)
  console.log(r.map((s, i) => (i === 0 ? s.padEnd(widths[i]!) : s.padStart(widths[i]!))).join('  '));
const bound = [...rows]
  .sort((x, y) => y.msF16 - x.msF16)
  .slice(0, 4)
  .map((r) => `${r.kernel} ${fmt((100 * r.msF16) / total('msF16'))}%`);
console.log(`Bounding kernels (share of the f16 non-tensor estimate): ${bound.join('; ')}`);
for (const recompute of [true, false]) {
  const m = learnerMemory({ ...shape, recompute }, { dropout: true, chunkLogitsBytes: 256 * 2 ** 20 });
  console.log(
    `Memory, recompute ${recompute ? 'on ' : 'off'}: weights ${(m.weights / 2 ** 30).toFixed(2)} GiB + LoRA state ${(m.lora / 2 ** 30).toFixed(2)} + activations ${(m.activations / 2 ** 30).toFixed(2)} + working ${(m.working / 2 ** 30).toFixed(2)} = ${(m.total / 2 ** 30).toFixed(2)} GiB`,
  );
}
if (a.json)
  writeFileSync(
    a.json,
    JSON.stringify(
      {
        shape: { ...shape, config: c },
        peaks: H200,
        rows,
        totals: { msF32: total('msF32'), msF16: total('msF16'), msTensor: total('msTensor') },
      },
      null,
      2,
    ),
  );

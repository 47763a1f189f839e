// npm run bench:gpu-learner [-- --quick] — a learner step on the WebGPU adapter Dawn finds: the
// reference forward, the policy forward (per-layer recomputation on or off), the backward into the
// LoRA block and AdamW (with the read-back of adapter and moments the learner does every step), on
// random weights of real model shapes (DeepSeek-R1-Distill-Qwen-1.5B and Qwen2.5-0.5B, LoRA r 32 /
// alpha 128 on all seven modules). Prints a table and writes JSON: seconds per phase, tokens/s,
// achieved TFLOP/s (analytic FLOPs of src/model/cost.ts over the measured time) and peak GPU memory.
//   --shapes 1.5b,0.5b   --sequences 8 --prompt 512 --completion 3584 --micro-batch 1
//   --weights f16|f32    --recompute on|off|both   --reps 2   --out FILE   --quick (SwiftShader shapes)
//   --kernels            also time the kernels alone (matmul variants, attention, elementwise)
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { loraScale, LORA_MODULES } from '../src/model/lora.js';
import type { TrainBatch } from '../src/model/train.js';
import { learnerStepCosts, type StepShape } from '../src/model/cost.js';
import type { Qwen2Config } from '../src/model/config.js';
import { createWebGpuLearnerDevice } from '../src/rl/learner-device-webgpu.js';
import { createAdamWState, DEFAULT_ADAMW } from '../src/rl/optimizer.js';
import { Rng } from '../src/util/rng.js';
import { repoRoot } from '../src/util/paths.js';
import { shapeConfig } from '../src/model/shapes.js';
import { scriptOptions } from '../src/cli/standard-flags.js';
import { createGpuContext } from '../src/ops/webgpu/context.js';
import {
  benchMatmul,
  formatMatmulTable,
  MATMUL_SHAPES_1P5B,
  MATMUL_SHAPES_QUICK,
} from '../src/ops/webgpu/bench-matmul.js';
import { prepareMatmul } from '../src/ops/webgpu/matmul-check.js';
import {
  ATTENTION_BENCH_FULL,
  ATTENTION_BENCH_QUICK,
  benchAttention,
  formatAttentionBench,
} from '../src/ops/webgpu/bench-attention.js';
import {
  benchElementwise,
  elementwiseBenchShapes,
  formatElementwiseTable,
} from '../src/ops/webgpu/bench-elementwise.js';
import { randomAdapter, randomModel } from '../src/model/random-weights.js';

const HELP = `usage: node dist/tools/bench-gpu-learner.js [--quick] [--shapes 1.5b,0.5b|none] [--sequences N] [--prompt N] [--completion N] [--micro-batch N]
                  [--weights f16|f32] [--recompute on|off|both] [--kernels] [--profile] [--reps N] [--out FILE]
  A learner step on the WebGPU adapter Dawn finds (random weights of real shapes): seconds per phase,
  tokens/s, achieved TFLOP/s, peak GPU memory; --kernels adds the kernels alone; --profile times every kernel of one step (timestamp queries). Table + JSON.`;
const { values: a } = scriptOptions({
  name: 'bench-gpu-learner',
  help: HELP,
  options: {
    quick: { type: 'boolean', default: false },
    shapes: { type: 'string' },
    sequences: { type: 'string' },
    prompt: { type: 'string' },
    completion: { type: 'string' },
    'micro-batch': { type: 'string', default: '1' },
    weights: { type: 'string', default: 'f16' },
    recompute: { type: 'string', default: 'both' },
    kernels: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    reps: { type: 'string', default: '2' },
    out: { type: 'string' },
  },
});
const quick = a.quick!;
const shapes = (a.shapes ?? (quick ? 'quick' : '1.5b,0.5b')).split(',').filter((x) => x && x !== 'none');
const sequences = +(a.sequences ?? (quick ? 4 : 8));
const promptLen = +(a.prompt ?? (quick ? 16 : 512));
const completionLen = +(a.completion ?? (quick ? 48 : 3584));
const microBatch = +a['micro-batch']!;
const weightDtype = a.weights === 'f32' ? 'f32' : 'f16';
const recomputeModes = a.recompute === 'both' ? [true, false] : [a.recompute !== 'off'];
const reps = +a.reps!;
const out = resolve(
  a.out ?? join(repoRoot(), 'runs', quick ? 'bench-gpu-learner-quick.json' : 'bench-gpu-learner.json'),
);

function randomBatch(c: Qwen2Config, n: number, rng: Rng): TrainBatch {
  const T = promptLen + completionLen;
  const ids = new Int32Array(n * T);
  for (let i = 0; i < ids.length; i++) ids[i] = rng.int(c.vocabSize);
  return { ids, lengths: new Int32Array(n).fill(T), seqLen: T, scoreFrom: new Int32Array(n).fill(promptLen) };
}

interface Row {
  shape: string;
  weights: string;
  recompute: boolean;
  stepS: number;
  referenceS: number;
  policyS: number;
  backwardS: number;
  optimizerS: number;
  tokensPerS: number;
  tflops: number;
  peakGiB: number;
}

type LearnerDevice = Awaited<ReturnType<typeof createWebGpuLearnerDevice>>;

/** Milliseconds per phase of one step. */
interface PhaseMs {
  reference: number;
  policy: number;
  backward: number;
  optimizer: number;
}

const totalMs = (t: PhaseMs): number => t.reference + t.policy + t.backward + t.optimizer;

/** What one learner step runs over: the device, its micro-batches, LoRA scale, optimizer state, dropout rng. */
interface StepInputs {
  dev: LearnerDevice;
  micro: TrainBatch[];
  scale: number;
  opt: ReturnType<typeof createAdamWState>;
  dropRng: Rng;
}

async function timeStep({ dev, micro, scale, opt, dropRng }: StepInputs): Promise<PhaseMs> {
  const t = { reference: 0, policy: 0, backward: 0, optimizer: 0 };
  dev.zeroGrad();
  for (const batch of micro) {
    let s = performance.now();
    await dev.logprobs(batch, 0, { temperature: 0.7 });
    t.reference += performance.now() - s;
    s = performance.now();
    const fwd = await dev.forward(batch, scale, { temperature: 0.7 }, dropRng);
    t.policy += performance.now() - s;
    s = performance.now();
    const dlp = new Float32Array(fwd.lp.length).map((_, i) => (i % 7 === 0 ? 1e-3 : -1e-4));
    await fwd.backward(dlp);
    t.backward += performance.now() - s;
  }
  const s = performance.now();
  await dev.optimizerStep(opt, DEFAULT_ADAMW, 1e-6);
  t.optimizer = performance.now() - s;
  return t;
}

/** The fastest of reps steps (after a warm-up one) and the peak GPU memory over them. */
async function bestStep(inputs: StepInputs): Promise<{ best: PhaseMs; peak: number }> {
  await timeStep(inputs); // warm-up: pipelines compiled, pool filled
  inputs.dev.takePeakBytes();
  let best: PhaseMs | null = null;
  for (let r = 0; r < reps; r++) {
    const t = await timeStep(inputs);
    if (!best || totalMs(t) < totalMs(best)) best = t;
  }
  return { best: best!, peak: inputs.dev.takePeakBytes() ?? 0 };
}

/** --profile: GPU time per kernel over one more step, the top 25. */
async function printKernelProfile(inputs: StepInputs, name: string, recompute: boolean): Promise<void> {
  const p = inputs.dev.profileKernels!();
  await timeStep(inputs);
  const rows = await p.stop();
  console.log(`\n${name} recompute ${recompute}: GPU time per kernel over one step (passes serialised)`);
  for (const r of rows.slice(0, 25))
    console.log(
      `${r.kernel.padEnd(48)} ${String(r.calls).padStart(6)} calls ${r.ms.toFixed(1).padStart(10)} ms ${(r.ms / r.calls).toFixed(3).padStart(9)} ms/call ${(100 * r.share).toFixed(1).padStart(5)}%`,
    );
}

/** The table row of one shape and recompute mode: seconds per phase, throughput against analytic FLOPs. */
function stepRow(name: string, c: Qwen2Config, recompute: boolean, best: PhaseMs, peak: number): Row {
  const stepS = totalMs(best) / 1e3;
  const shape: StepShape = {
    config: c,
    sequences,
    promptLength: promptLen,
    completionLength: completionLen,
    microBatchSequences: microBatch,
    loraR: 32,
    loraModules: LORA_MODULES,
    weightBytes: weightDtype === 'f16' ? 2 : 4,
    reference: true,
    recompute,
  };
  const flops = learnerStepCosts(shape).reduce((s, k) => s + k.flops * k.callsPerStep, 0);
  const tokens = sequences * (promptLen + completionLen);
  return {
    shape: name,
    weights: weightDtype,
    recompute,
    stepS,
    referenceS: best.reference / 1e3,
    policyS: best.policy / 1e3,
    backwardS: best.backward / 1e3,
    optimizerS: best.optimizer / 1e3,
    tokensPerS: tokens / stepS,
    tflops: flops / stepS / 1e12,
    peakGiB: peak / 2 ** 30,
  };
}

/** One recompute mode of a shape: upload, time the step, profile it (--profile), release the device. */
async function benchMode(
  name: string,
  c: Qwen2Config,
  weights: { model: ReturnType<typeof randomModel>; adapter: ReturnType<typeof randomAdapter> },
  recompute: boolean,
): Promise<Row> {
  const { model, adapter } = weights;
  const t1 = performance.now();
  const dev = await createWebGpuLearnerDevice(model, adapter, { weightDtype, recompute });
  console.error(`${name}: ${dev.description}, uploaded in ${((performance.now() - t1) / 1e3).toFixed(1)} s`);
  const rng = new Rng(3);
  const inputs: StepInputs = {
    dev,
    micro: Array.from({ length: Math.ceil(sequences / microBatch) }, (_, i) =>
      randomBatch(c, Math.min(microBatch, sequences - i * microBatch), rng),
    ),
    scale: loraScale(adapter.settings),
    opt: createAdamWState(adapter.params.length),
    dropRng: new Rng(4),
  };
  const { best, peak } = await bestStep(inputs);
  if (a.profile && dev.profileKernels) await printKernelProfile(inputs, name, recompute);
  dev.dispose();
  const row = stepRow(name, c, recompute, best, peak);
  console.error(`${name} recompute ${recompute}: ${row.stepS.toFixed(2)} s/step`);
  return row;
}

async function benchShape(name: string): Promise<Row[]> {
  const c = shapeConfig(name);
  const t0 = performance.now();
  const model = randomModel(c, 1);
  const adapter = randomAdapter(c, 2);
  console.error(`${name}: random weights in ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
  const rows: Row[] = [];
  for (const recompute of recomputeModes) rows.push(await benchMode(name, c, { model, adapter }, recompute));
  return rows;
}

/** The kernels alone at the shapes of the 1.5B step (or --quick ones): where the step's time goes. */
async function benchKernels(): Promise<Record<string, unknown>> {
  const ctx = await createGpuContext();
  const prepared = await prepareMatmul(ctx, { tune: !quick, quick });
  const matmul = await benchMatmul(ctx, {
    shapes: quick ? MATMUL_SHAPES_QUICK : MATMUL_SHAPES_1P5B,
    variants: prepared.verified,
    reps: quick ? 1 : 5,
  });
  console.log(
    `\nMatmul (${ctx.info.adapter}; verified variants: ${prepared.verified.join(', ')})\n${formatMatmulTable(matmul)}`,
  );
  const attention = await benchAttention(
    ctx,
    quick ? ATTENTION_BENCH_QUICK.slice(0, 1) : ATTENTION_BENCH_FULL,
    quick ? 1 : 3,
  );
  console.log(`\nAttention\n${formatAttentionBench(attention)}`);
  const elementwise = await benchElementwise(ctx, elementwiseBenchShapes(quick), quick ? 2 : 10);
  console.log(`\nElementwise\n${formatElementwiseTable(elementwise)}`);
  ctx.device.destroy();
  return {
    adapter: ctx.info.adapter,
    features: ctx.info.features,
    matmulChecks: prepared.checks,
    matmulTimings: prepared.timings,
    matmul,
    attention,
    elementwise,
  };
}

const COLUMNS: (keyof Row)[] = [
  'shape',
  'weights',
  'recompute',
  'stepS',
  'referenceS',
  'policyS',
  'backwardS',
  'optimizerS',
  'tokensPerS',
  'tflops',
  'peakGiB',
];

function printRows(rows: Row[]): void {
  const fmt = (v: unknown): string =>
    typeof v === 'number' ? (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toPrecision(3)) : String(v);
  const table = [COLUMNS.map(String), ...rows.map((r) => COLUMNS.map((k) => fmt(r[k])))];
  const w = COLUMNS.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  console.log(
    `\nLearner step on WebGPU: ${sequences} sequences × (${promptLen} + ${completionLen}) tokens, micro-batches of ${microBatch}, LoRA r 32 / alpha 128 on 7 modules`,
  );
  for (const r of table) console.log(r.map((s, i) => s.padStart(w[i]!)).join('  '));
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const s of shapes) rows.push(...(await benchShape(s)));
  printRows(rows);
  const kernels = a.kernels ? await benchKernels() : undefined;
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      { sequences, promptLen, completionLen, microBatch, rows, ...(kernels ? { kernels } : {}) },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nwrote ${out}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench-gpu-learner: ${(err as Error).message}`);
    process.exit(1);
  },
);

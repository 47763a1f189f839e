// npm run bench:tina-step [-- --quick] — one whole GRPO step at open_rs3 shapes on one GPU, in one
// process: DeepSeek-R1-Distill-Qwen-1.5B shapes (random weights), 8 prompts × G 6 = 48 completions
// forced to 3,584 tokens (EOS ignored: random weights), LoRA r 32 / alpha 128 on all seven modules.
// The webgpu engine and the GPU learner share ONE context and ONE copy of the base weights
// (uploadModel once; both take it as `shared`). Phases, in the order a step runs them:
//   generate     the engine: 48 sequences, continuous batching, T 0.7 (open_rs3), LoRA unmerged
//   score        advantages from per-completion rewards (random rewards: text of random weights is
//                noise, and the reward pool has its own bench, bench:rewards), GRPO group norm
//   reference    reference log-probs (adapter off) over prompt + completion, micro-batches
//   policy+bwd   policy forward with per-layer recomputation and the backward into the LoRA block
//   optimizer    grad-norm, clip, AdamW, and the read-back of adapter and moments (every step)
//   sync         the new adapter version into the engine: upload, read back, checksum
// Prints seconds per phase and writes JSON. --quick: SwiftShader shapes.
//   --shape 1.5b  --prompts 8 --g 6 --prompt 256 --completion 3584 --micro-batch 4 --weights f16 --out FILE
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createWebGpuEngine } from '../src/engines/webgpu/engine.js';
import { createGpuContext, memoryStats, resetPeaks } from '../src/ops/webgpu/context.js';
import { uploadModel } from '../src/ops/webgpu/model-upload.js';
import { createWebGpuLearnerDevice } from '../src/rl/learner-device-webgpu.js';
import { createAdamWState, DEFAULT_ADAMW } from '../src/rl/optimizer.js';
import { loraScale } from '../src/model/lora.js';
import { computeGroupAdvantages } from '../src/rl/advantages.js';
import type { TrainBatch } from '../src/model/train.js';
import type { Completion, PromptInput } from '../src/engines/types.js';
import { Rng } from '../src/util/rng.js';
import { repoRoot } from '../src/util/paths.js';
import { shapeConfig } from '../src/model/shapes.js';
import { scriptOptions } from '../src/cli/standard-flags.js';
import { randomAdapter, randomModel } from '../src/model/random-weights.js';

const HELP = `usage: node dist/tools/bench-tina-step.js [--quick] [--shape 1.5b] [--prompts 8] [--g 6] [--prompt 256] [--completion 3584] [--micro-batch 4] [--weights f16|f32] [--out FILE]
  One whole GRPO step at open_rs3 shapes on one GPU (webgpu engine and GPU learner sharing one copy of the
  base weights): seconds per phase (generate, score, reference, policy+bwd, optimizer, sync). Table + JSON.`;

/** The step's shapes from the flags; --quick gives SwiftShader-sized defaults. */
function parseOptions() {
  const { values: a } = scriptOptions({
    name: 'bench-tina-step',
    help: HELP,
    options: {
      quick: { type: 'boolean', default: false },
      shape: { type: 'string' },
      prompts: { type: 'string' },
      g: { type: 'string' },
      prompt: { type: 'string' },
      completion: { type: 'string' },
      'micro-batch': { type: 'string' },
      weights: { type: 'string', default: 'f16' },
      out: { type: 'string' },
    },
  });
  const quick = a.quick!;
  return {
    shapeName: a.shape ?? (quick ? 'quick' : '1.5b'),
    P: +(a.prompts ?? (quick ? 2 : 8)),
    G: +(a.g ?? (quick ? 2 : 6)),
    promptLen: +(a.prompt ?? (quick ? 8 : 256)),
    completionLen: +(a.completion ?? (quick ? 16 : 3584)),
    micro: +(a['micro-batch'] ?? (quick ? 2 : 4)),
    weightDtype: a.weights === 'f32' ? ('f32' as const) : ('f16' as const),
    out: resolve(a.out ?? join(repoRoot(), 'runs', quick ? 'bench-tina-step-quick.json' : 'bench-tina-step.json')),
  };
}
const { shapeName, P, G, promptLen, completionLen, micro, weightDtype, out } = parseOptions();
const TEMPERATURE = 0.7;

/** The engine and the GPU learner on one context, sharing ONE upload of the base weights. */
async function setUp() {
  const c = shapeConfig(shapeName);
  const t0 = performance.now();
  const host = randomModel(c, 1);
  const adapter = randomAdapter(c, 2);
  const ctx = await createGpuContext();
  const { model: gmodel, report } = uploadModel(ctx, host, { weightDtype });
  const shared = { ctx, model: gmodel };
  const learner = await createWebGpuLearnerDevice(host, adapter, { weightDtype, recompute: true, shared });
  const tokenizer = { decode: (ids: ArrayLike<number>) => `${ids.length} tokens`, eosTokenIds: [c.vocabSize - 1] };
  const engine = await createWebGpuEngine({
    model: host,
    tokenizer,
    shared,
    maxBatch: P * G,
    maxContext: promptLen + completionLen,
    residentVersions: 2,
  });
  const setupS = (performance.now() - t0) / 1000;
  console.error(
    `setup ${setupS.toFixed(1)} s: weights ${(report.bytes / 2 ** 30).toFixed(2)} GiB once; learner ${learner.description}; engine ${engine.description}`,
  );
  return { c, adapter, ctx, report, learner, engine, setupS };
}

type Setup = Awaited<ReturnType<typeof setUp>>;

/** The adapter as version `version` for the engine (a copy: the learner keeps training its own). */
function snapshot(s: Setup, version: number) {
  return {
    version,
    settings: s.adapter.settings,
    layout: s.adapter.layout,
    params: Float32Array.from(s.adapter.params),
  };
}

const SAMPLING = { temperature: TEMPERATURE, top_p: 1, top_k: 0, seed: 11, ignore_eos: true };

/** Seconds of the warm-up; the peak memory counters restart after it. */
async function warmUp(s: Setup, prompts: PromptInput[]): Promise<number> {
  // Warm-up: pipelines of every pass compiled before the clock runs (a real run pays this once).
  const tw = performance.now();
  const warm = await s.engine.generate(prompts.slice(0, 1), 2, { ...SAMPLING, max_tokens: 2 });
  await learnerPhases(s.learner, batchesOf(prompts, warm.slice(0, 1)), loraScale(s.adapter.settings), true);
  const warmS = (performance.now() - tw) / 1000;
  resetPeaks(s.ctx);
  return warmS;
}

/** One step, phase by phase, in the order a step runs them; seconds per phase. */
async function measureStep(s: Setup, prompts: PromptInput[], rng: Rng) {
  const phases: Record<string, number> = {};
  const time = async <T>(name: string, f: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    const r = await f();
    phases[name] = (performance.now() - t0) / 1000;
    return r;
  };
  const completions = await time('generate', () =>
    s.engine.generate(prompts, G, { ...SAMPLING, max_tokens: completionLen }),
  );
  const gen = { ...s.engine.lastStats };
  await time('score', () =>
    computeGroupAdvantages(
      completions.map(() => rng.next()),
      { groupSize: G, scaleRewards: 'group' },
    ),
  );
  const batches = batchesOf(prompts, completions);
  const lt = await learnerPhases(s.learner, batches, loraScale(s.adapter.settings), false);
  phases.reference = lt.reference;
  phases['policy+bwd'] = lt.policy;
  const opt = createAdamWState(s.adapter.params.length);
  await time('optimizer', () => s.learner.optimizerStep(opt, DEFAULT_ADAMW, 1e-6));
  await time('sync', () => s.engine.setAdapter(snapshot(s, 2)));
  return {
    phases,
    gen,
    syncKind: s.engine.lastSync!.kind,
    totalS: Object.values(phases).reduce((sum, x) => sum + x, 0),
    generatedTokens: completions.reduce((sum, x) => sum + x.tokenIds.length, 0),
    learnerTokens: batches.reduce((sum, b) => sum + b.lengths.reduce((x, y) => x + y, 0), 0),
    peakGiB: memoryStats(s.ctx).peakBytes / 2 ** 30,
  };
}

type StepMeasurement = Awaited<ReturnType<typeof measureStep>>;

function printStepTable(s: Setup, m: StepMeasurement, warmS: number): void {
  const { phases, gen } = m;
  console.log(
    `\nTina-shaped GRPO step (${shapeName}, ${P} prompts × G ${G}, prompt ${promptLen} + completion ${completionLen} tokens, weights ${weightDtype} shared by engine and learner, micro-batches of ${micro}); ${s.ctx.info.adapter}`,
  );
  const w = Math.max(...Object.keys(phases).map((k) => k.length), 5);
  for (const [k, v] of Object.entries(phases)) console.log(`${k.padEnd(w)}  ${v.toFixed(2).padStart(9)} s`);
  console.log(`${'total'.padEnd(w)}  ${m.totalS.toFixed(2).padStart(9)} s`);
  console.log(
    `generate: ${m.generatedTokens} tokens, ${(m.generatedTokens / phases.generate!).toFixed(0)} tokens/s overall, ${gen.iterations} iterations, time to first tokens ${gen.prefillSeconds.toFixed(2)} s; learner: ${m.learnerTokens} tokens; sync: ${m.syncKind}; peak GPU memory ${m.peakGiB.toFixed(2)} GiB; setup ${s.setupS.toFixed(1)} s, warm-up ${warmS.toFixed(1)} s`,
  );
}

function writeStepJson(s: Setup, m: StepMeasurement, warmS: number): void {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      {
        time: new Date().toISOString(),
        device: s.ctx.info.adapter,
        features: s.ctx.info.features,
        shape: shapeName,
        prompts: P,
        g: G,
        promptLen,
        completionLen,
        microBatch: micro,
        weights: weightDtype,
        phases: m.phases,
        totalS: m.totalS,
        generatedTokens: m.generatedTokens,
        learnerTokens: m.learnerTokens,
        generation: m.gen,
        peakGiB: m.peakGiB,
        setupS: s.setupS,
        warmS,
        weightsGiB: s.report.bytes / 2 ** 30,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`wrote ${out}`);
}

async function main(): Promise<void> {
  const s = await setUp();
  await s.engine.setAdapter(snapshot(s, 1));
  const rng = new Rng(7);
  const prompts: PromptInput[] = Array.from({ length: P }, (_, i) => ({
    ids: Int32Array.from({ length: promptLen }, () => rng.int(s.c.vocabSize - 1)),
    seedKey: i,
  }));
  const warmS = await warmUp(s, prompts);
  const m = await measureStep(s, prompts, rng);
  printStepTable(s, m, warmS);
  writeStepJson(s, m, warmS);
  await s.engine.close();
  s.learner.dispose();
  s.ctx.device.destroy();
}

/** Learner micro-batches: prompt + completion of each sequence, scored from the prompt's end. */
function batchesOf(prompts: PromptInput[], completions: Completion[]): TrainBatch[] {
  const out: TrainBatch[] = [];
  for (let i = 0; i < completions.length; i += micro) {
    const part = completions.slice(i, i + micro);
    const seqs = part.map((x) => Int32Array.from([...prompts[x.promptIndex]!.ids, ...x.tokenIds]));
    const T = Math.max(...seqs.map((s) => s.length));
    const ids = new Int32Array(part.length * T);
    seqs.forEach((s, k) => {
      ids.set(s, k * T);
    });
    out.push({
      ids,
      lengths: Int32Array.from(seqs.map((s) => s.length)),
      seqLen: T,
      scoreFrom: Int32Array.from(part.map((x) => prompts[x.promptIndex]!.ids.length)),
    });
  }
  return out;
}

/** Reference log-probs, then policy forward + backward, per micro-batch; seconds of each. */
async function learnerPhases(
  learner: Awaited<ReturnType<typeof createWebGpuLearnerDevice>>,
  batches: TrainBatch[],
  scale: number,
  warm: boolean,
): Promise<{ reference: number; policy: number }> {
  const dropRng = new Rng(4);
  let reference = 0,
    policy = 0;
  learner.zeroGrad();
  for (const b of batches) {
    let s = performance.now();
    await learner.logprobs(b, 0, { temperature: TEMPERATURE });
    reference += (performance.now() - s) / 1000;
    s = performance.now();
    const f = await learner.forward(b, scale, { temperature: TEMPERATURE }, dropRng);
    await f.backward(new Float32Array(f.lp.length).map((_, i) => (i % 7 === 0 ? 1e-3 : -1e-4)));
    policy += (performance.now() - s) / 1000;
    if (warm) break;
  }
  return { reference, policy };
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench-tina-step: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);

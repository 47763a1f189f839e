// npm run bench:learner — speed of the learner's numerics on this machine:
//   1. matmul GFLOP/s (NN/NT/TN, one thread and all threads) on learner-sized products;
//   2. model forward and forward+backward throughput (tokens/s, GFLOP/s) for stated shapes;
//   3. the anchor: one Qwen2 block (d256, 4q/2kv heads, MLP 1024, B8×T128, LoRA r16 on q,k,v,o,
//      LoRA-only gradients) forward+backward in ms, with the per-op time breakdown.
// Prints tables and writes JSON (runs/bench-learner.json, or --out PATH).
// Options: --out PATH, --threads N (default: all), --quick (fewer repetitions), --no-plain (skip
// the slow plain-loop baselines).
// Timings are the best of several repetitions (the minimum is the least disturbed by other load on
// a shared machine); the load average at start is recorded next to them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import {
  configureMatmulKernel,
  configureMatmulThreads,
  matmulNN,
  matmulNT,
  matmulTN,
  shutdownMatmulThreads,
  warmUpMatmulThreads,
} from '../src/ops/matmul.js';
import { cpuOps } from '../src/ops/cpu/index.js';
import type { FloatArray, Ops } from '../src/ops/types.js';
import type { Qwen2Config } from '../src/model/config.js';
import { defaultLoraSettings, initLoraAdapter, loraScale } from '../src/model/lora.js';
import { backwardTrain, forwardTrain, type TrainBatch } from '../src/model/train.js';
import { layerForward, type LayerBuffers } from '../src/model/layer.js';
import { layerBackward } from '../src/model/layer-backward.js';
import { createRandomModel } from '../src/model/weights.js';
import { Rng } from '../src/util/rng.js';
import { repoRoot } from '../src/util/paths.js';
import { isMainScript, scriptArgs, UsageError } from '../src/cli/standard-flags.js';

const USAGE = `usage: node dist/tools/bench-learner.js [--out PATH] [--threads N] [--quick] [--no-plain]   (npm run bench:learner)

Speed of the learner's numerics on this machine: matmul GFLOP/s, model forward and forward+backward
throughput, and the anchor block with its per-op breakdown. Prints tables and writes JSON.
  --out PATH     JSON report (default runs/bench-learner.json)
  --threads N    matmul threads (default: all cores)
  --quick        fewer repetitions
  --no-plain     skip the slow plain-loop baselines`;

interface Args {
  out: string;
  threads: number;
  quick: boolean;
  plain: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    out: join(repoRoot(), 'runs', 'bench-learner.json'),
    threads: availableParallelism(),
    quick: false,
    plain: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    if (a === '--out' || a.startsWith('--out=')) args.out = resolve(value());
    else if (a === '--threads' || a.startsWith('--threads=')) {
      args.threads = Number(value());
      if (!Number.isInteger(args.threads) || args.threads < 1)
        throw new UsageError(`--threads must be an integer >= 1`);
    } else if (a === '--quick') args.quick = true;
    else if (a === '--no-plain') args.plain = false;
    else throw new UsageError(`unknown argument "${a}" (expected --out PATH, --threads N, --quick, --no-plain)`);
  }
  return args;
}

/**
 * Best and median wall time (ms) of fn over reps runs after one warm-up run, and the least process
 * CPU time (ms, all threads) of a run: on a machine shared with other work, CPU time is the closer
 * estimate of what a run costs on idle cores.
 */
function time(fn: () => void, reps: number): { bestMs: number; medianMs: number; cpuMs: number } {
  fn();
  const ts: number[] = [];
  let cpuMs = Infinity;
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
    const dc = process.cpuUsage(c0);
    cpuMs = Math.min(cpuMs, (dc.user + dc.system) / 1e3);
  }
  ts.sort((x, y) => x - y);
  return { bestMs: ts[0]!, medianMs: ts[Math.floor(ts.length / 2)]!, cpuMs };
}

function randArray(rng: Rng, n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.next() - 0.5;
  return x;
}

const variants = { NN: matmulNN, NT: matmulNT, TN: matmulTN };

function benchMatmul(args: Args, rng: Rng): Record<string, unknown>[] {
  const shapes: [number, number, number][] = [
    [1024, 256, 256],
    [1024, 256, 1024],
    [1024, 1024, 256],
  ];
  const rows: Record<string, unknown>[] = [];
  for (const threads of [...new Set([1, args.threads])]) {
    configureMatmulThreads({ threads });
    for (const [m, k, n] of shapes) {
      for (const [name, fn] of Object.entries(variants)) {
        const a = randArray(rng, m * k),
          b = randArray(rng, k * n),
          c = new Float32Array(m * n);
        const t = time(() => fn(c, a, b, m, k, n), args.quick ? 5 : 20);
        const flops = 2 * m * n * k;
        rows.push({
          variant: name,
          m,
          k,
          n,
          threads,
          bestMs: t.bestMs,
          medianMs: t.medianMs,
          gflops: flops / t.bestMs / 1e6,
          gflopsMedian: flops / t.medianMs / 1e6,
          gflopsPerCpuS: flops / t.cpuMs / 1e6,
        });
      }
    }
  }
  if (args.plain) {
    // the plain loops, for scale (one product, one thread)
    configureMatmulKernel({ enabled: false });
    const [m, k, n] = shapes[0]!;
    const a = randArray(rng, m * k),
      b = randArray(rng, k * n),
      c = new Float32Array(m * n);
    const t = time(() => matmulNT(c, a, b, m, k, n), 1);
    rows.push({
      variant: 'NT (plain loops)',
      m,
      k,
      n,
      threads: 1,
      bestMs: t.bestMs,
      medianMs: t.medianMs,
      gflops: (2 * m * n * k) / t.bestMs / 1e6,
    });
    configureMatmulKernel({ enabled: true });
  }
  return rows;
}

function qwenConfig(
  d: number,
  layers: number,
  heads: number,
  kvHeads: number,
  inter: number,
  vocab: number,
): Qwen2Config {
  return {
    hiddenSize: d,
    numLayers: layers,
    numHeads: heads,
    numKvHeads: kvHeads,
    headDim: d / heads,
    intermediateSize: inter,
    ropeTheta: 1e6,
    rmsNormEps: 1e-6,
    tieWordEmbeddings: false,
    vocabSize: vocab,
    maxPositionEmbeddings: 4096,
    bosTokenId: null,
    eosTokenIds: [0],
  };
}

interface ModelShape {
  name: string;
  config: Qwen2Config;
  batch: number;
  seqLen: number;
  loraR: number;
  targets: string[];
}

/** Analytic FLOPs of forward and of the LoRA-only backward (every token scored, full-length rows). */
function modelFlops(s: ModelShape): { forward: number; backward: number } {
  const c = s.config,
    D = c.hiddenSize,
    Q = c.numHeads * c.headDim,
    KV = c.numKvHeads * c.headDim,
    I = c.intermediateSize;
  const tokens = s.batch * s.seqLen;
  const dims: Record<string, [number, number]> = {
    q_proj: [Q, D],
    k_proj: [KV, D],
    v_proj: [KV, D],
    o_proj: [D, Q],
    gate_proj: [I, D],
    up_proj: [I, D],
    down_proj: [D, I],
  };
  let linear = 0,
    lora = 0;
  for (const [m, [o, i]] of Object.entries(dims)) {
    linear += 2 * o * i;
    if (s.targets.includes(m)) lora += 2 * s.loraR * (o + i);
  }
  // causal attention: QKᵀ and P·V over on average (T+1)/2 keys, per query head
  const attn = 2 * 2 * c.numHeads * c.headDim * ((s.seqLen + 1) / 2);
  const head = 2 * D * c.vocabSize;
  const fwdTok = c.numLayers * (linear + lora + attn) + head;
  // backward: dX through every linear (= forward linear), LoRA dA/dB/dX (~2× its forward),
  // attention dQ/dK/dV (2× its forward), dHidden through the head (= forward head)
  const bwdTok = c.numLayers * (linear + 2 * lora + 2 * attn) + head;
  return { forward: fwdTok * tokens, backward: bwdTok * tokens };
}

/** Ops whose every entry point adds its wall time into totals[name] (a breakdown of where time goes). */
function timedOps(totals: Record<string, number>): Ops {
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(cpuOps)) {
    if (typeof v !== 'function') {
      out[name] = v;
      continue;
    }
    const f = v as (...xs: unknown[]) => unknown;
    out[name] = (...xs: unknown[]) => {
      const t0 = performance.now();
      const r = f(...xs);
      totals[name] = (totals[name] ?? 0) + performance.now() - t0;
      return r;
    };
  }
  return out as unknown as Ops;
}

function benchModel(s: ModelShape, reps: number): Record<string, unknown> {
  const c = s.config;
  const model = createRandomModel(c, 17);
  const settings = defaultLoraSettings({ r: s.loraR, alpha: 2 * s.loraR, targetModules: s.targets });
  const rng = new Rng(3);
  const adapter = initLoraAdapter(c, settings, rng);
  for (let i = 0; i < adapter.params.length; i++) adapter.params[i] = 0.01 * rng.normal(); // B≠0: LoRA branch active
  const B = s.batch,
    T = s.seqLen;
  const ids = new Int32Array(B * T);
  for (let i = 0; i < ids.length; i++) ids[i] = rng.int(c.vocabSize);
  const batch: TrainBatch = {
    ids,
    lengths: new Int32Array(B).fill(T),
    seqLen: T,
    scoreFrom: new Int32Array(B).fill(1),
  };
  const scale = loraScale(settings);
  const dLogp = new Float32Array(B * T).fill(-1 / (B * T));
  const grad = new Float32Array(adapter.params.length);
  const ops = cpuOps;
  const fwd = time(() => {
    forwardTrain(model, adapter, scale, batch, { ops });
  }, reps);
  const fb = time(() => {
    const { saved } = forwardTrain(model, adapter, scale, batch, { saveForBackward: true, ops });
    backwardTrain(saved!, dLogp, { lora: grad });
  }, reps);
  const flops = modelFlops(s);
  const tokens = B * T;
  return {
    name: s.name,
    hidden: c.hiddenSize,
    layers: c.numLayers,
    heads: `${c.numHeads}q/${c.numKvHeads}kv`,
    mlp: c.intermediateSize,
    vocab: c.vocabSize,
    batch: B,
    seqLen: T,
    lora: `r${s.loraR} on ${s.targets.join(',')}`,
    forwardMs: fwd.bestMs,
    forwardMedianMs: fwd.medianMs,
    forwardTokensPerS: tokens / (fwd.bestMs / 1e3),
    forwardGflops: flops.forward / fwd.bestMs / 1e6,
    forwardCpuMs: fwd.cpuMs,
    fwdBwdMs: fb.bestMs,
    fwdBwdMedianMs: fb.medianMs,
    fwdBwdCpuMs: fb.cpuMs,
    fwdBwdTokensPerS: tokens / (fb.bestMs / 1e3),
    fwdBwdGflops: (flops.forward + flops.backward) / fb.bestMs / 1e6,
  };
}

/**
 * One decoder block alone: layerForward + layerBackward on the buffers a 1-layer training forward
 * saved (the embedding, final norm and head are not timed). Returns best/median ms and, with
 * breakdown, the per-op ms of one forward+backward.
 */
function benchBlock(s: ModelShape, reps: number): Record<string, unknown> {
  const c = s.config;
  const model = createRandomModel(c, 17);
  const settings = defaultLoraSettings({ r: s.loraR, alpha: 2 * s.loraR, targetModules: s.targets });
  const rng = new Rng(4);
  const adapter = initLoraAdapter(c, settings, rng);
  for (let i = 0; i < adapter.params.length; i++) adapter.params[i] = 0.01 * rng.normal();
  const B = s.batch,
    T = s.seqLen;
  const ids = new Int32Array(B * T);
  for (let i = 0; i < ids.length; i++) ids[i] = rng.int(c.vocabSize);
  const batch: TrainBatch = {
    ids,
    lengths: new Int32Array(B).fill(T),
    seqLen: T,
    scoreFrom: new Int32Array(B).fill(1),
  };
  const totals: Record<string, number> = {};
  const ops = timedOps(totals);
  const { saved } = forwardTrain(model, adapter, loraScale(settings), batch, { saveForBackward: true, ops });
  const sv = saved!;
  const ctx = sv.ctx,
    buf = sv.layers[0]!,
    rows = sv.rows;
  const heads = { nHeads: c.numHeads, nKvHeads: c.numKvHeads, headDim: c.headDim };
  const attend = (b: LayerBuffers<FloatArray>): void =>
    ops.attentionForward(b.attn, b.lse, b.q, b.k, b.v, sv.rowStart, heads);
  const dOut = randArray(rng, rows * c.hiddenSize).map((x) => x * 1e-3);
  const dh = new Float32Array(dOut.length);
  const grad = new Float32Array(adapter.params.length);
  const x0 = buf.x.slice();
  let fwdMs = 0,
    bwdMs = 0;
  const run = (): void => {
    buf.x.set(x0);
    const t0 = performance.now();
    layerForward(ctx, model.weights.layers[0]!, sv.slots![0]!, adapter.params, buf, rows, sv.positions, attend);
    const t1 = performance.now();
    dh.set(dOut);
    layerBackward(
      {
        ctx,
        lw: model.weights.layers[0]!,
        S: buf,
        slots: sv.slots![0]!,
        params: adapter.params,
        loraGrad: grad,
        maxR: settings.r,
        baseGrad: null,
        rows,
        rowStart: sv.rowStart,
        positions: sv.positions,
      },
      dh,
    );
    fwdMs = Math.min(fwdMs, t1 - t0);
    bwdMs = Math.min(bwdMs, performance.now() - t1);
  };
  run();
  for (const k of Object.keys(totals)) delete totals[k];
  fwdMs = bwdMs = Infinity;
  const t = time(run, reps);
  return {
    blockFwdBwdMs: t.bestMs,
    blockFwdBwdMedianMs: t.medianMs,
    blockFwdBwdCpuMs: t.cpuMs,
    blockForwardMs: fwdMs,
    blockBackwardMs: bwdMs,
    opMsPerRun: Object.fromEntries(
      Object.entries(totals)
        .sort((x, y) => y[1] - x[1])
        .map(([k, v]) => [k, +(v / (reps + 1)).toFixed(2)]),
    ),
  };
}

function printTable(title: string, rows: Record<string, unknown>[], cols: string[]): void {
  console.log(`\n${title}`);
  const fmt = (v: unknown) =>
    typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(v >= 100 ? 0 : 2)) : String(v ?? '');
  const cells = [cols, ...rows.map((r) => cols.map((c) => fmt(r[c])))];
  const widths = cols.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  for (const r of cells) console.log(r.map((v, i) => v.padStart(widths[i]!)).join('  '));
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const started = new Date().toISOString();
  const load = loadavg();
  configureMatmulThreads({ threads: args.threads });
  await warmUpMatmulThreads();
  const rng = new Rng(42);
  console.log(
    `bench-learner: ${cpus()[0]?.model ?? 'cpu'}, ${availableParallelism()} cores, threads=${args.threads}, load average ${load.map((x) => x.toFixed(1)).join(' ')}`,
  );

  const matmul = benchMatmul(args, rng);
  printTable('matmul (best of reps)', matmul, [
    'variant',
    'm',
    'k',
    'n',
    'threads',
    'bestMs',
    'gflops',
    'gflopsMedian',
    'gflopsPerCpuS',
  ]);

  configureMatmulThreads({ threads: args.threads });
  const reps = args.quick ? 2 : 5;
  const attnLora = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];
  const models: ModelShape[] = [
    {
      name: 'd256 L4',
      config: qwenConfig(256, 4, 4, 2, 1024, 4096),
      batch: 8,
      seqLen: 128,
      loraR: 16,
      targets: attnLora,
    },
    {
      name: 'd896 L2',
      config: qwenConfig(896, 2, 14, 2, 4864, 4096),
      batch: 8,
      seqLen: 128,
      loraR: 16,
      targets: attnLora,
    },
  ];
  const modelRows = models.map((s) => benchModel(s, reps));
  printTable('model forward / forward+backward (LoRA-only grads, all tokens scored)', modelRows, [
    'name',
    'vocab',
    'batch',
    'seqLen',
    'lora',
    'forwardMs',
    'forwardTokensPerS',
    'forwardGflops',
    'fwdBwdMs',
    'fwdBwdCpuMs',
    'fwdBwdTokensPerS',
    'fwdBwdGflops',
  ]);

  // Anchor: one block alone (layer forward + backward; embedding and head not timed).
  const anchorShape: ModelShape = {
    name: 'anchor',
    config: qwenConfig(256, 1, 4, 2, 1024, 256),
    batch: 8,
    seqLen: 128,
    loraR: 16,
    targets: attnLora,
  };
  const anchorReps = args.quick ? 3 : 10;
  const anchor: Record<string, unknown> = {
    description:
      'one Qwen2 block d256, 4q/2kv heads, MLP 1024, B8xT128, LoRA r16 on q,k,v,o, LoRA-only gradients, forward+backward',
    threads: args.threads,
    ...benchBlock(anchorShape, anchorReps),
  };
  if (args.threads > 1) {
    configureMatmulThreads({ threads: 1 });
    const single = benchBlock(anchorShape, anchorReps);
    anchor.singleThreadBlockFwdBwdMs = single.blockFwdBwdMs;
    anchor.singleThreadBlockFwdBwdCpuMs = single.blockFwdBwdCpuMs;
    configureMatmulThreads({ threads: args.threads });
  }
  if (args.plain) {
    configureMatmulKernel({ enabled: false });
    anchor.plainLoopsBlockFwdBwdMs = benchBlock(anchorShape, 1).blockFwdBwdMs;
    configureMatmulKernel({ enabled: true });
  }
  console.log('\nanchor block:');
  for (const [k, v] of Object.entries(anchor))
    console.log(`  ${k}: ${typeof v === 'number' ? v.toFixed(1) : JSON.stringify(v)}`);

  const report = {
    started,
    cpu: cpus()[0]?.model,
    cores: availableParallelism(),
    loadAverageAtStart: load,
    args,
    matmul,
    models: modelRows,
    anchor,
  };
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, JSON.stringify(report, null, 2) + '\n');
  console.log(`\nwrote ${args.out}`);
  await shutdownMatmulThreads();
}

if (isMainScript(import.meta.url)) await main(scriptArgs({ name: 'bench-learner', help: USAGE }));

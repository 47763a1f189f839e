// The learner benchmarks of bench-learner (tools/bench-learner.ts) that run the model: the whole
// model's forward and forward+backward, and one decoder block alone with its per-op breakdown; and
// the timing both they and the matmul bench use.
import { cpuOps } from '../../src/ops/cpu/index.js';
import type { FloatArray, Ops } from '../../src/ops/types.js';
import type { Qwen2Config } from '../../src/model/config.js';
import { defaultLoraSettings, initLoraAdapter, loraScale } from '../../src/model/lora.js';
import { backwardTrain, forwardTrain, type TrainBatch } from '../../src/model/train.js';
import { layerForward, type LayerBuffers } from '../../src/model/layer.js';
import { layerBackward } from '../../src/model/layer-backward.js';
import { createRandomModel } from '../../src/model/weights.js';
import { Rng } from '../../src/util/rng.js';

/**
 * Best and median wall time (ms) of fn over reps runs after one warm-up run, and the least process
 * CPU time (ms, all threads) of a run: on a machine shared with other work, CPU time is the closer
 * estimate of what a run costs on idle cores.
 */
export function time(fn: () => void, reps: number): { bestMs: number; medianMs: number; cpuMs: number } {
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

export function randArray(rng: Rng, n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.next() - 0.5;
  return x;
}

export function qwenConfig(
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

export interface ModelShape {
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

/** Random weights (seed 17) and, from Rng(seed), a LoRA adapter and a batch of full-length rows of random ids. */
function randomTrainSetup(s: ModelShape, seed: number) {
  const c = s.config;
  const model = createRandomModel(c, 17);
  const settings = defaultLoraSettings({ r: s.loraR, alpha: 2 * s.loraR, targetModules: s.targets });
  const rng = new Rng(seed);
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
  return { model, settings, adapter, rng, batch };
}

export function benchModel(s: ModelShape, reps: number): Record<string, unknown> {
  const c = s.config;
  const { model, settings, adapter, batch } = randomTrainSetup(s, 3);
  const B = s.batch,
    T = s.seqLen;
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
export function benchBlock(s: ModelShape, reps: number): Record<string, unknown> {
  const c = s.config;
  const { model, settings, adapter, rng, batch } = randomTrainSetup(s, 4);
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
    opMsPerRun: msPerRun(totals, reps + 1),
  };
}

/** Each op's total ms over `runs` runs as ms per run, slowest first. */
function msPerRun(totals: Record<string, number>, runs: number): Record<string, number> {
  return Object.fromEntries(
    Object.entries(totals)
      .sort((x, y) => y[1] - x[1])
      .map(([k, v]) => [k, +(v / runs).toFixed(2)]),
  );
}

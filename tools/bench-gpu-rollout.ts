// npm run bench:gpu-rollout [-- --quick] — aggregate decode tokens/s of the webgpu engine against the
// batch size (sequences decoding together) on random weights of real shapes (DeepSeek-R1-Distill-
// Qwen-1.5B, Qwen2.5-0.5B; src/model/shapes.ts) with a Tina-sized adapter (r 32 on all seven
// modules) applied unmerged, sampling at temperature 1 on the GPU and EOS ignored; and, when
// LORACTOR_MLC_LIB is set, WebLLM's aggregate tokens/s against the number of rollout actors.
// Prints tables and writes JSON.
//   --shapes 1.5b,0.5b  --batches 1,2,4,8,16,32,48,64  --prompt 512  --tokens 64  --weights f16|f32
//   --webllm-actors 1,2,4,8  --webllm-sequences 16  --webllm-tokens 64  --out FILE  --quick
//   --serial-batch 48: that batch again with overlap off (each iteration read back before the next is
//   encoded), to show what encoding while the GPU works gains (0: skip)
//   --route-batch 48: that batch again on the other decode route (few-row kernels for every layer, or
//   the tiled GEMM with the LoRA B product in its epilogue; engine option skinnyRows), to show which
//   suits this GPU (0: skip)
//   --unfused-batch 48: that batch again with q,k,v and gate,up as separate projections, the SwiGLU and
//   the norms apart (engine options fuseQkv, fuseGateUp, foldNorm off), with only the SwiGLU fold switched
//   (foldSwiglu: on GPUs by default, off on CPU adapters) and with only the norms apart (foldNorm off),
//   to show what each gains on this GPU (0: skip)
//   --unrecorded-batch 48: that batch again with every decode step encoded (engine option recordDecode
//   off), to show what replaying recorded steps saves in host time (0: skip)
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { createWebGpuEngine, type WebGpuEngine, type WebGpuEngineOptions } from '../src/engines/webgpu/engine.js';
import type { Qwen2Config } from '../src/model/config.js';
import type { PromptInput } from '../src/engines/types.js';
import { uploadModel } from '../src/ops/webgpu/model-upload.js';
import { createGpuContext, memoryStats } from '../src/ops/webgpu/context.js';
import { decodeRoofline } from '../src/model/decode-cost.js';
import { Rng } from '../src/util/rng.js';
import { repoRoot } from '../src/util/paths.js';
import { shapeConfig, H200 } from '../src/model/shapes.js';
import { randomAdapter, randomModel } from '../src/model/random-weights.js';
import { scriptOptions } from '../src/cli/standard-flags.js';
import { defaultSkinnyRows } from '../src/engines/webgpu/decode-ops.js';
import { benchWebLlmScaling, type WebLlmScalingRow } from './webllm-scaling.js';

const HELP = `usage: node dist/tools/bench-gpu-rollout.js [--quick] [--shapes 1.5b,0.5b] [--batches 1,2,4,...] [--prompt N] [--tokens N] [--weights f16|f32]
                   [--webllm-actors 1,2,4,8] [--webllm-sequences N] [--webllm-tokens N] [--serial-batch N] [--route-batch N]
                   [--unfused-batch N] [--unrecorded-batch N] [--out FILE]
  Aggregate decode tokens/s of the webgpu engine against the batch size (random weights of real shapes,
  Tina-sized adapter unmerged, EOS ignored), and WebLLM against its actors when LORACTOR_MLC_LIB is set. Table + JSON.`;
const { values: a } = scriptOptions({
  name: 'bench-gpu-rollout',
  help: HELP,
  options: {
    quick: { type: 'boolean', default: false },
    shapes: { type: 'string' },
    batches: { type: 'string' },
    prompt: { type: 'string' },
    tokens: { type: 'string' },
    weights: { type: 'string', default: 'f16' },
    'webllm-actors': { type: 'string', default: '1,2,4,8' },
    'webllm-sequences': { type: 'string', default: '16' },
    'webllm-tokens': { type: 'string', default: '64' },
    'serial-batch': { type: 'string' },
    'route-batch': { type: 'string' },
    'unfused-batch': { type: 'string' },
    'unrecorded-batch': { type: 'string' },
    out: { type: 'string' },
  },
});
const quick = a.quick!;
const list = (s: string): number[] =>
  s.split(',').map((x) => {
    const v = Number(x);
    if (!Number.isInteger(v) || v < 1) throw new Error(`expected positive integers, got '${x}'`);
    return v;
  });
const shapes = (a.shapes ?? (quick ? 'quick' : '1.5b,0.5b')).split(',');
const batches = list(a.batches ?? (quick ? '1,2,4' : '1,2,4,8,16,32,48,64'));
const promptLen = +(a.prompt ?? (quick ? 8 : 512));
const tokens = +(a.tokens ?? (quick ? 6 : 64));
const weightDtype = a.weights === 'f32' ? 'f32' : 'f16';
const serialBatch = +(a['serial-batch'] ?? (quick ? 4 : 48));
const routeBatch = +(a['route-batch'] ?? (quick ? 4 : 48));
const unfusedBatch = +(a['unfused-batch'] ?? (quick ? 4 : 48));
const unrecordedBatch = +(a['unrecorded-batch'] ?? (quick ? 4 : 48));
const out = resolve(
  a.out ?? join(repoRoot(), 'runs', quick ? 'bench-gpu-rollout-quick.json' : 'bench-gpu-rollout.json'),
);

type DecodeRoute = 'skinny' | 'gemm';

interface Row {
  shape: string;
  weights: string;
  batch: number;
  decodeTokensPerS: number;
  /** Encoding overlapped with the GPU's work (the engine's default), or each iteration read back first. */
  overlap: boolean;
  /** 'skinny': every linear layer on the few-row kernel; 'gemm': the tiled GEMM (decode-ops.ts). */
  route: DecodeRoute;
  /** The fusions the engine ran (fusionsOf): 'all', 'none', or what it left apart ('apart: SwiGLU'). */
  fused: string;
  /** Decode steps replayed from recordings (recordDecode, the default), or every step encoded. */
  recorded: boolean;
  replayedSteps: number;
  msPerStep: number;
  /** Host time encoding one decode step (iterations with a prefill left out). */
  hostMsPerStep: number;
  /** Host time waiting for one decode step's read-back: the GPU time encoding did not hide. */
  waitMsPerStep: number;
  dispatchesPerStep: number;
  prefillS: number;
  rooflineTokensPerS: number;
  ofRoofline: number;
  iterations: number;
}

interface ShapeResult {
  rows: Row[];
  /** serialBatch with overlap off, beside its overlapped row (null when that batch is not measured). */
  serial: Row | null;
  /** routeBatch on the route the default did not take, beside its default row (null when not measured). */
  otherRoute: Row | null;
  /** unfusedBatch with the projections apart, beside its fused row (null when not measured). */
  unfused: Row | null;
  /** unfusedBatch with the SwiGLU fold switched from its default (null when not measured). */
  otherFold: Row | null;
  /** unfusedBatch with each norm apart from the stacked A product after it (null when not measured). */
  normsApart: Row | null;
  /** unrecordedBatch with every decode step encoded, beside its default row (null when not measured). */
  unrecorded: Row | null;
  device: string;
  syncMs: { upload: number; flip: number };
}

async function benchShape(name: string): Promise<ShapeResult> {
  const c = shapeConfig(name);
  const t0 = performance.now();
  const model = randomModel(c, 1);
  const adapter = randomAdapter(c, 2);
  const ctx = await createGpuContext();
  const { model: gmodel } = uploadModel(ctx, model, { weightDtype });
  const tokenizer = { decode: (ids: ArrayLike<number>) => `${ids.length} tokens`, eosTokenIds: [c.vocabSize - 1] };
  const skinnyRows = defaultSkinnyRows(ctx);
  type Fusions = Pick<WebGpuEngineOptions, 'fuseQkv' | 'fuseGateUp' | 'foldSwiglu' | 'foldNorm' | 'recordDecode'>;
  const engineWith = (overlap: boolean, maxBatch: number, skinny = skinnyRows, fusions: Fusions = {}) =>
    createWebGpuEngine({
      model,
      tokenizer,
      shared: { ctx, model: gmodel },
      maxBatch,
      maxContext: promptLen + tokens + 8,
      overlap,
      skinnyRows: skinny,
      ...fusions,
    });
  const routeOf = (B: number, skinny: number): DecodeRoute => (B <= skinny ? 'skinny' : 'gemm');
  const engine = await engineWith(true, Math.max(...batches));
  console.error(`${name}: ${engine.description}; ready in ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
  const snap = (version: number) => ({
    version,
    settings: adapter.settings,
    layout: adapter.layout,
    params: adapter.params,
  });
  await engine.setAdapter(snap(1));
  const upload = engine.lastSync!.ms;
  await engine.setAdapter(snap(2));
  await engine.setAdapter(snap(1));
  const flip = engine.lastSync!.ms;
  const rows: Row[] = [];
  for (const B of batches) rows.push(await measure(name, c, engine, B, routeOf(B, skinnyRows)));
  const once = async (B: number, overlap: boolean, skinny: number, fusions: Fusions = {}): Promise<Row> => {
    const one = await engineWith(overlap, B, skinny, fusions);
    await one.setAdapter(snap(1));
    const row = await measure(name, c, one, B, routeOf(B, skinny));
    await one.close();
    return row;
  };
  const serial = batches.includes(serialBatch) ? await once(serialBatch, false, skinnyRows) : null;
  const other = routeOf(routeBatch, skinnyRows) === 'skinny' ? 0 : Infinity;
  const otherRoute = batches.includes(routeBatch) ? await once(routeBatch, true, other) : null;
  const fusionRuns = batches.includes(unfusedBatch);
  const apart = { fuseQkv: false, fuseGateUp: false, foldNorm: false };
  const unfused = fusionRuns ? await once(unfusedBatch, true, skinnyRows, apart) : null;
  const foldOther = { foldSwiglu: !engine.fused.swiglu };
  const otherFold = fusionRuns ? await once(unfusedBatch, true, skinnyRows, foldOther) : null;
  const normsApart = fusionRuns ? await once(unfusedBatch, true, skinnyRows, { foldNorm: false }) : null;
  const encodeAll = { recordDecode: false };
  const unrecorded = batches.includes(unrecordedBatch)
    ? await once(unrecordedBatch, true, skinnyRows, encodeAll)
    : null;
  const device = `${ctx.info.adapter}; features ${ctx.info.features.join(' ') || 'none'}; GPU memory held ${(memoryStats(ctx).peakBytes / 2 ** 30).toFixed(2)} GiB`;
  await engine.close();
  ctx.device.destroy();
  return { rows, serial, otherRoute, unfused, otherFold, normsApart, unrecorded, device, syncMs: { upload, flip } };
}

/** Decode tokens/s of B sequences (random prompts, EOS ignored) after a call that builds the pipelines. */
async function measure(
  name: string,
  c: Qwen2Config,
  engine: WebGpuEngine,
  B: number,
  route: DecodeRoute,
): Promise<Row> {
  const rng = new Rng(5);
  const prompts: PromptInput[] = Array.from({ length: B }, () => ({
    ids: Int32Array.from({ length: promptLen }, () => rng.int(c.vocabSize - 1)),
  }));
  const sampling = { temperature: 1, top_p: 1, top_k: 0, seed: 3, ignore_eos: true };
  await engine.generate(prompts, 1, { ...sampling, max_tokens: 2 }); // pipelines for this batch size
  await engine.generate(prompts, 1, { ...sampling, max_tokens: tokens });
  const s = engine.lastStats;
  const decodeTokens = s.tokens - B,
    decodeS = s.seconds - s.prefillSeconds;
  const tps = decodeTokens / decodeS;
  const roof = decodeRoofline(
    c,
    {
      batch: B,
      context: promptLen + tokens / 2,
      weightBytes: weightDtype === 'f16' ? 2 : 4,
      kvBytes: engine.kvDtype === 'f16' ? 2 : 4,
      loraR: 32,
    },
    H200,
  );
  const overlap = engine.overlap;
  const recorded = s.replayedSteps > 0;
  const msPerStep = (1000 * decodeS) / (s.iterations - 1);
  console.error(
    `${name} batch ${B} (${route} route${overlap ? '' : ', overlap off'}${fusionsOf(engine) === 'all' ? '' : `, fused: ${fusionsOf(engine)}`}${recorded ? '' : ', every step encoded'}): ${tps.toFixed(1)} decode tokens/s (${msPerStep.toFixed(2)} ms/step), prefill ${s.prefillSeconds.toFixed(2)} s`,
  );
  return {
    shape: name,
    weights: weightDtype,
    batch: B,
    decodeTokensPerS: tps,
    overlap,
    route,
    fused: fusionsOf(engine),
    recorded,
    replayedSteps: s.replayedSteps,
    msPerStep,
    hostMsPerStep: (1000 * s.decodeEncodeSeconds) / s.decodeSteps,
    waitMsPerStep: (1000 * s.decodeWaitSeconds) / s.decodeSteps,
    dispatchesPerStep: s.dispatches / s.iterations,
    prefillS: s.prefillSeconds,
    rooflineTokensPerS: roof.tokensPerS,
    ofRoofline: tps / roof.tokensPerS,
    iterations: s.iterations,
  };
}

/** Which fusions an engine runs: q,k,v and gate,up as one projection each, the SwiGLU in down_proj. */
function fusionsOf(e: WebGpuEngine): string {
  const { qkv, gateUp, swiglu, norm } = e.fused;
  const apart = [!qkv && 'q,k,v', !gateUp && 'gate,up', !swiglu && 'SwiGLU', !norm && 'norms'].filter(Boolean);
  return apart.length === 0 ? 'all' : apart.length === 4 ? 'none' : `apart: ${apart.join(' ')}`;
}

function table(title: string, cols: string[], rows: (string | number)[][]): void {
  const fmt = (v: string | number): string =>
    typeof v === 'number' ? (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toPrecision(3)) : v;
  const cells = [cols, ...rows.map((r) => r.map(fmt))];
  const w = cols.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  console.log(`\n${title}`);
  for (const r of cells) console.log(r.map((s, i) => s.padStart(w[i]!)).join('  '));
}

async function main(): Promise<void> {
  const results: ({ shape: string } & ShapeResult)[] = [];
  for (const s of shapes) results.push({ shape: s, ...(await benchShape(s)) });
  const rows = results.flatMap((r) => [
    ...r.rows,
    ...(r.serial ? [r.serial] : []),
    ...(r.otherRoute ? [r.otherRoute] : []),
    ...(r.unfused ? [r.unfused] : []),
    ...(r.otherFold ? [r.otherFold] : []),
    ...(r.normsApart ? [r.normsApart] : []),
    ...(r.unrecorded ? [r.unrecorded] : []),
  ]);
  table(
    `webgpu engine: aggregate decode tokens/s (prompt ${promptLen}, ${tokens} tokens per sequence, T 1, LoRA r 32 unmerged on 7 modules; roofline: H200 4.8 TB/s, decode-cost.ts)`,
    [
      'shape',
      'weights',
      'batch',
      'overlap',
      'route',
      'fused',
      'replayed',
      'decode tok/s',
      'ms/step',
      'host ms/step',
      'wait ms/step',
      'dispatches/step',
      'prefill s',
      'roofline tok/s',
      'of roofline',
    ],
    rows.map((r) => [
      r.shape,
      r.weights,
      String(r.batch),
      r.overlap ? 'on' : 'off',
      r.route,
      r.fused,
      String(r.replayedSteps),
      r.decodeTokensPerS,
      r.msPerStep,
      r.hostMsPerStep,
      r.waitMsPerStep,
      r.dispatchesPerStep,
      r.prefillS,
      r.rooflineTokensPerS,
      r.ofRoofline,
    ]),
  );
  for (const r of results) {
    const on = r.rows.find((x) => x.batch === r.serial?.batch);
    if (r.serial && on)
      console.log(
        `${r.shape} batch ${on.batch}: overlap on ${on.decodeTokensPerS.toPrecision(4)} tok/s, off ${r.serial.decodeTokensPerS.toPrecision(4)} tok/s (×${(on.decodeTokensPerS / r.serial.decodeTokensPerS).toFixed(2)})`,
      );
    const dflt = r.rows.find((x) => x.batch === r.otherRoute?.batch);
    if (r.otherRoute && dflt)
      console.log(
        `${r.shape} batch ${dflt.batch}: ${dflt.route} route (default) ${dflt.decodeTokensPerS.toPrecision(4)} tok/s, ${dflt.dispatchesPerStep.toFixed(0)} dispatches/step; ${r.otherRoute.route} route ${r.otherRoute.decodeTokensPerS.toPrecision(4)} tok/s, ${r.otherRoute.dispatchesPerStep.toFixed(0)} dispatches/step`,
      );
  }
  for (const r of results) {
    const f = r.rows.find((x) => x.batch === r.unfused?.batch);
    if (!r.unfused || !r.otherFold || !r.normsApart || !f) continue;
    const per = (x: Row): string =>
      `${x.decodeTokensPerS.toPrecision(4)} tok/s, host ${x.hostMsPerStep.toFixed(2)} ms/step, ${x.dispatchesPerStep.toFixed(0)} dispatches/step`;
    console.log(
      `${r.shape} batch ${f.batch}: fused (${f.fused}) ${per(f)}; unfused ${per(r.unfused)} (×${(f.decodeTokensPerS / r.unfused.decodeTokensPerS).toFixed(2)}); ${r.otherFold.fused} ${per(r.otherFold)} (×${(f.decodeTokensPerS / r.otherFold.decodeTokensPerS).toFixed(2)}); ${r.normsApart.fused} ${per(r.normsApart)} (×${(f.decodeTokensPerS / r.normsApart.decodeTokensPerS).toFixed(2)})`,
    );
  }
  for (const r of results) {
    const d = r.rows.find((x) => x.batch === r.unrecorded?.batch);
    if (!r.unrecorded || !d) continue;
    const host = (x: Row): string =>
      `${x.decodeTokensPerS.toPrecision(4)} tok/s, host ${x.hostMsPerStep.toFixed(2)} ms/step`;
    console.log(
      `${r.shape} batch ${d.batch}: recorded steps replayed (default) ${host(d)}; every step encoded ${host(r.unrecorded)} (host ×${(r.unrecorded.hostMsPerStep / d.hostMsPerStep).toFixed(2)})`,
    );
  }
  for (const r of results)
    console.log(
      `${r.shape}: ${r.device}; adapter sync (r 32, 7 modules): upload + verify ${r.syncMs.upload.toFixed(1)} ms, switch to a resident version ${r.syncMs.flip.toFixed(3)} ms`,
    );
  let webllm: WebLlmScalingRow[] | null = null;
  const lib = process.env.LORACTOR_MLC_LIB;
  if (lib) {
    webllm = await benchWebLlmScaling({
      lib,
      cache: process.env.LORACTOR_WEBLLM_CACHE ?? join(tmpdir(), 'loractor-webllm-cache'),
      actors: list(a['webllm-actors']!),
      sequences: +a['webllm-sequences']!,
      tokens: +a['webllm-tokens']!,
      log: (l) => console.error(l),
    });
    table(
      `WebLLM (${basename(lib)}, synthetic weights in its shape): aggregate tokens/s against rollout actors (${a['webllm-sequences']} sequences × ${a['webllm-tokens']} tokens)`,
      ['actors', 'tokens/s', 'speedup', 'wall s', 'start s', 'peak RSS MiB', 'RSS/actor MiB', 'error'],
      webllm.map((r) => [
        String(r.actors),
        r.tokensPerS,
        r.speedup,
        r.wallS,
        r.startS,
        r.rssMiB,
        r.rssPerActorMiB,
        r.error ?? '',
      ]),
    );
  } else {
    console.log(
      '\nWebLLM scaling: skipped (set LORACTOR_MLC_LIB to the compiled Qwen2-0.5B q0f32 library; docs/webllm.md)',
    );
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      { time: new Date().toISOString(), promptLen, tokens, weights: weightDtype, results, webllm },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nwrote ${out}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench-gpu-rollout: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);

// node dist/tools/device-compare-rollout.js ROLLOUT.json TORCH_ROLLOUT.json TINA.json
//   [--webllm-scaling SCALING.json] [--webllm-single WEBLLM.json] [--webllm-q4-check CHECK.json]
// The rollout side of a device run (tools/device/run.sh) in one table: the webgpu engine's aggregate
// decode tokens/s against transformers' batched generate (bf16) on the same shapes and batch sizes,
// the decode roofline, WebLLM against its number of actors (webllm-scaling), WebLLM's single stream
// (bench-webllm), the q4 end-to-end check's tally (webllm-q4-check), the Tina-shaped step per phase,
// each bench variant beside its default (overlap off, the other route, fusions switched, steps encoded),
// and the issue's targets (≥ 5,000 tokens/s for 48 sequences of the 1.5B model, ≥ 10× WebLLM's
// single stream, a step ≤ 60 s, a version switch ≤ 5 ms). Any file may be missing (a phase that did
// not run); what it would show is left out.
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { scriptOptions } from '../src/cli/standard-flags.js';

type RolloutRow = {
  shape: string;
  batch: number;
  decodeTokensPerS: number;
  msPerStep: number;
  hostMsPerStep?: number;
  waitMsPerStep?: number;
  /** 'skinny' or 'gemm' (absent before the routes were compared). */
  route?: string;
  dispatchesPerStep?: number;
  /** The fusions the engine ran: 'all', 'none', or what it left apart (absent before fusions were compared). */
  fused?: string;
  rooflineTokensPerS?: number;
  error?: string;
};
type ScalingRow = { actors: number; tokensPerS: number; speedup: number; error?: string };
type Rollout = {
  results: {
    shape: string;
    device: string;
    syncMs: { upload: number; flip: number };
    rows: RolloutRow[];
    /** One batch again with overlap off (absent in results made before overlap). */
    serial?: RolloutRow | null;
    /** One batch again on the other decode route (absent in results made before the routes were compared). */
    otherRoute?: RolloutRow | null;
    /** One batch again with nothing fused, with the SwiGLU fold switched, with the norms apart (absent before). */
    unfused?: RolloutRow | null;
    otherFold?: RolloutRow | null;
    normsApart?: RolloutRow | null;
    /** One batch again with every decode step encoded (absent before recorded steps). */
    unrecorded?: RolloutRow | null;
  }[];
  webllm: ScalingRow[] | null;
};
type Torch = { info: Record<string, unknown>; rows: RolloutRow[] };
type Tina = {
  shape: string;
  phases: Record<string, number>;
  totalS: number;
  generatedTokens: number;
  peakGiB: number;
  device: string;
};
/** tools/webllm-q4-check.ts --out. */
type Q4Check = { error?: string; assertions: { ok: boolean; message: string }[] };
/** tools/webllm-scaling.ts --out. */
type Scaling = { lib: string; rows: ScalingRow[] };
/** tools/bench-webllm.ts --out (one prompt, one completion: WebLLM's single stream). */
type WebLlmBench = {
  device: string;
  model?: { shape: string; quantization: string };
  loadSeconds: number;
  generation: { decodeTokensPerS: number; completionTokens: number; prompts: number; n: number };
  syncs: { adapter: string; stats: { totalMs: number; bytes: number } }[];
};

const read = <T>(p: string | undefined): T | null =>
  p && existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as T) : null;
const { positionals, values } = scriptOptions({
  name: 'device-compare-rollout',
  options: {
    'webllm-scaling': { type: 'string' },
    'webllm-single': { type: 'string' },
    'webllm-q4-check': { type: 'string' },
  },
  allowPositionals: true,
  help: 'usage: node dist/tools/device-compare-rollout.js ROLLOUT.json TORCH_ROLLOUT.json TINA.json [--webllm-scaling FILE] [--webllm-single FILE] [--webllm-q4-check FILE]\n  The rollout side of a device run in one table, beside the transformers anchor, WebLLM and the targets',
});
const ours = read<Rollout>(positionals[0]),
  torch = read<Torch>(positionals[1]),
  tina = read<Tina>(positionals[2]),
  scaling = read<Scaling>(values['webllm-scaling']),
  single = read<WebLlmBench>(values['webllm-single']),
  q4check = read<Q4Check>(values['webllm-q4-check']);
/** d decimals; values below 1 (SwiftShader's tokens/s) keep 3 significant digits instead of reading as 0. */
const f = (x: number | undefined, d = 1): string =>
  x === undefined || !Number.isFinite(x) ? '—' : x !== 0 && Math.abs(x) < 1 ? x.toPrecision(3) : x.toFixed(d);
const print = (lines: string[][]): void => {
  const w = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  for (const l of lines) console.log(l.map((s, i) => s.padStart(w[i]!)).join('  '));
};

if (ours) {
  console.log(
    'Decode tokens/s: loractor webgpu engine vs transformers generate (bf16), same shapes, LoRA r 32 unmerged',
  );
  const lines = [
    [
      'shape',
      'batch',
      'loractor tok/s',
      'transformers tok/s',
      'loractor ÷ transformers',
      'loractor ms/step',
      'roofline tok/s',
    ],
  ];
  for (const r of ours.results.flatMap((x) => x.rows)) {
    const t = torch?.rows.find((x) => x.shape === r.shape && x.batch === r.batch);
    lines.push([
      r.shape,
      String(r.batch),
      f(r.decodeTokensPerS),
      t?.error ? 'OOM' : f(t?.decodeTokensPerS),
      t?.decodeTokensPerS ? f(r.decodeTokensPerS / t.decodeTokensPerS, 2) : '—',
      f(r.msPerStep, 2),
      f(r.rooflineTokensPerS, 0),
    ]);
  }
  print(lines);
  if (!torch) console.log('(no transformers anchor in this run)');
  for (const x of ours.results) printOverlap(x.shape, x.rows, x.serial);
  for (const x of ours.results) printRoutes(x.shape, x.rows, x.otherRoute);
  for (const x of ours.results) printVariants(x);
  for (const x of ours.results)
    console.log(
      `${x.shape}: adapter upload + verify ${f(x.syncMs.upload)} ms, switch to a resident version ${f(x.syncMs.flip, 3)} ms (target ≤ 5 ms)`,
    );
  const at48 = ours.results.find((x) => x.shape === '1.5b')?.rows.find((r) => r.batch === 48);
  if (at48)
    console.log(
      `\nTarget: ≥ 5,000 decode tokens/s for 48 sequences of the 1.5B model: ${f(at48.decodeTokensPerS)} (${at48.decodeTokensPerS >= 5000 ? 'met' : 'not met'})`,
    );
  printTenfold(ours, scaling?.rows ?? ours.webllm, single);
} else {
  console.log(`device-compare-rollout: no rollout results (${positionals[0] || 'no file given'})`);
}
printWebLlm(scaling?.rows ?? ours?.webllm ?? null, scaling?.lib, single);
if (q4check) {
  const failed = q4check.assertions.filter((a) => !a.ok);
  console.log(
    `\nWebLLM q4f16_1 end-to-end check (tokens against the CPU on the same q4 weights, before and after a q4 sync): ${q4check.assertions.length - failed.length} passed, ${failed.length} failed${q4check.error ? `; stopped: ${q4check.error}` : ''}`,
  );
  for (const a of failed) console.log(`  not ok: ${a.message}`);
}
if (tina) {
  console.log(`\nTina-shaped GRPO step (${tina.shape}; ${tina.device}): seconds per phase`);
  print([
    ['phase', 'seconds'],
    ...Object.entries(tina.phases).map(([k, v]) => [k, f(v, 2)]),
    ['total', f(tina.totalS, 2)],
  ]);
  console.log(
    `Target: a step ≤ 60 s: ${f(tina.totalS, 1)} s (${tina.totalS <= 60 ? 'met' : 'not met'}); ${tina.generatedTokens} tokens generated; peak GPU memory ${f(tina.peakGiB, 2)} GiB`,
  );
}

/** The overlapped row beside the same batch run one iteration at a time: what hiding the host's encoding gains. */
function printOverlap(shape: string, rows: RolloutRow[], serial: RolloutRow | null | undefined): void {
  const on = serial && rows.find((r) => r.batch === serial.batch);
  if (!serial || !on) return;
  const ms = (r: RolloutRow) =>
    `${f(r.msPerStep, 2)} ms/step (host ${f(r.hostMsPerStep, 2)}, wait ${f(r.waitMsPerStep, 2)})`;
  console.log(
    `${shape} batch ${on.batch}: overlap on ${f(on.decodeTokensPerS)} tok/s, ${ms(on)}; off ${f(serial.decodeTokensPerS)} tok/s, ${ms(serial)}: ×${f(on.decodeTokensPerS / serial.decodeTokensPerS, 2)}`,
  );
}

/** The default decode route beside the other one at the same batch: whether the skinnyRows default suits this GPU. */
function printRoutes(shape: string, rows: RolloutRow[], other: RolloutRow | null | undefined): void {
  const dflt = other && rows.find((r) => r.batch === other.batch);
  if (!other || !dflt) return;
  const at = (r: RolloutRow) =>
    `${r.route} route ${f(r.decodeTokensPerS)} tok/s, ${f(r.msPerStep, 2)} ms/step, ${f(r.dispatchesPerStep, 0)} dispatches/step`;
  console.log(
    `${shape} batch ${dflt.batch}: ${at(dflt)} (default); ${at(other)}: ×${f(other.decodeTokensPerS / dflt.decodeTokensPerS, 2)}`,
  );
}

/** The default row beside the same batch with fusions switched and with every step encoded: what each gains. */
function printVariants(x: Rollout['results'][number]): void {
  const variants: [string, RolloutRow | null | undefined][] = [
    ['every decode step encoded', x.unrecorded],
    ['nothing fused', x.unfused],
    [`SwiGLU fold switched (${x.otherFold?.fused ?? ''})`, x.otherFold],
    [`norms apart (${x.normsApart?.fused ?? ''})`, x.normsApart],
  ];
  const at = (r: RolloutRow) =>
    `${f(r.decodeTokensPerS)} tok/s, host ${f(r.hostMsPerStep, 2)} ms/step, ${f(r.dispatchesPerStep, 0)} dispatches/step`;
  for (const [what, v] of variants) {
    const dflt = v && x.rows.find((r) => r.batch === v.batch);
    if (!v || !dflt) continue;
    console.log(
      `${x.shape} batch ${dflt.batch}: default ${at(dflt)}; ${what} ${at(v)}: default ×${f(dflt.decodeTokensPerS / v.decodeTokensPerS, 2)}`,
    );
  }
}

/** WebLLM's aggregate tokens/s against its actors, and its single stream with the sync it paid. */
function printWebLlm(rows: ScalingRow[] | null, lib: string | undefined, one: WebLlmBench | null): void {
  if (rows) {
    console.log(
      `\nWebLLM aggregate tokens/s against rollout actors (${lib ? basename(lib) : 'Qwen2-0.5B q0f32'}, synthetic weights)`,
    );
    print([
      ['actors', 'tokens/s', 'speedup'],
      ...rows.map((w) => [
        String(w.actors),
        w.error ? `error: ${w.error.slice(0, 60)}` : f(w.tokensPerS),
        f(w.speedup, 2),
      ]),
    ]);
  }
  if (one) {
    const model = one.model ? `${one.model.shape} ${one.model.quantization}` : '0.5b q0f32';
    console.log(
      `\nWebLLM single stream (${model}; ${one.device}): ${f(one.generation.decodeTokensPerS)} decode tokens/s over ${one.generation.completionTokens} tokens; load ${f(one.loadSeconds)} s`,
    );
    for (const x of one.syncs)
      console.log(
        `  sync ${x.adapter}: ${f(x.stats.totalMs)} ms for ${f(x.stats.bytes / 2 ** 20)} MiB written and verified`,
      );
  }
}

/**
 * The ≥ 10× target: the webgpu engine at 48 sequences against WebLLM's single stream, at the 1.5B shape
 * when the single-stream bench ran a 1.5B library, else at 0.5B against one scaling actor.
 */
function printTenfold(r: Rollout, rows: ScalingRow[] | null, one: WebLlmBench | null): void {
  const shapeOf = one?.model?.shape === '1536x28' ? '1.5b' : one?.model?.shape === '0.5b' ? '0.5b' : undefined;
  const atShape = (shape: string) => r.results.find((x) => x.shape === shape)?.rows.find((x) => x.batch === 48);
  const fromBench =
    shapeOf && one
      ? { shape: shapeOf, tps: one.generation.decodeTokensPerS, what: `${one.model!.quantization} single stream` }
      : null;
  const oneActor = rows?.find((w) => w.actors === 1 && !w.error);
  const base = fromBench ?? (oneActor ? { shape: '0.5b', tps: oneActor.tokensPerS, what: 'one actor' } : null);
  const ours48 = base && atShape(base.shape);
  if (!base || !ours48) return;
  const x = ours48.decodeTokensPerS / base.tps;
  console.log(
    `Target: ≥ 10× WebLLM's single stream: ${base.shape} webgpu engine at 48 sequences ${f(ours48.decodeTokensPerS)} vs WebLLM ${base.what} ${f(base.tps)} = ${f(x, 1)}× (${x >= 10 ? 'met' : 'not met'})`,
  );
}

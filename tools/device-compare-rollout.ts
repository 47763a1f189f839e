// node dist/tools/device-compare-rollout.js ROLLOUT.json TORCH_ROLLOUT.json TINA.json — the rollout
// side of a device run (tools/device/run.sh) in one table: the webgpu engine's aggregate decode
// tokens/s against transformers' batched generate (bf16) on the same shapes and batch sizes, the
// decode roofline, WebLLM against its number of actors, the Tina-shaped step per phase, and the
// issue's targets (≥ 5,000 tokens/s for 48 sequences of the 1.5B model, ≥ 10× WebLLM's single
// stream, a step ≤ 60 s, a version switch ≤ 5 ms).
import { existsSync, readFileSync } from 'node:fs';
import { scriptOptions } from '../src/cli/standard-flags.js';

type RolloutRow = {
  shape: string;
  batch: number;
  decodeTokensPerS: number;
  msPerStep: number;
  rooflineTokensPerS?: number;
  error?: string;
};
type Rollout = {
  results: { shape: string; device: string; syncMs: { upload: number; flip: number }; rows: RolloutRow[] }[];
  webllm: { actors: number; tokensPerS: number; speedup: number; error?: string }[] | null;
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

const read = <T>(p: string | undefined): T | null =>
  p && existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as T) : null;
const { positionals } = scriptOptions({
  name: 'device-compare-rollout',
  options: {},
  allowPositionals: true,
  help: 'usage: node dist/tools/device-compare-rollout.js ROLLOUT.json TORCH_ROLLOUT.json TINA.json\n  The rollout side of a device run in one table, beside the transformers anchor and the targets',
});
const ours = read<Rollout>(positionals[0]),
  torch = read<Torch>(positionals[1]),
  tina = read<Tina>(positionals[2]);
const f = (x: number | undefined, d = 1): string => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d));
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
  for (const x of ours.results)
    console.log(
      `${x.shape}: adapter upload + verify ${f(x.syncMs.upload)} ms, switch to a resident version ${f(x.syncMs.flip, 3)} ms (target ≤ 5 ms)`,
    );
  if (ours.webllm) {
    console.log('\nWebLLM (0.5B q0f32) aggregate tokens/s against rollout actors');
    print([
      ['actors', 'tokens/s', 'speedup'],
      ...ours.webllm.map((w) => [String(w.actors), w.error ? 'error' : f(w.tokensPerS), f(w.speedup, 2)]),
    ]);
  }
  const at48 = ours.results.find((x) => x.shape === '1.5b')?.rows.find((r) => r.batch === 48);
  if (at48)
    console.log(
      `\nTarget: ≥ 5,000 decode tokens/s for 48 sequences of the 1.5B model: ${f(at48.decodeTokensPerS)} (${at48.decodeTokensPerS >= 5000 ? 'met' : 'not met'})`,
    );
  const single = ours.webllm?.find((w) => w.actors === 1 && !w.error);
  const half48 = ours.results.find((x) => x.shape === '0.5b')?.rows.find((r) => r.batch === 48);
  if (single && half48)
    console.log(
      `Target: ≥ 10× WebLLM's single stream: 0.5B webgpu engine at 48 sequences ${f(half48.decodeTokensPerS)} vs WebLLM one actor ${f(single.tokensPerS)} = ${f(half48.decodeTokensPerS / single.tokensPerS, 1)}×`,
    );
} else {
  console.log(`device-compare-rollout: no rollout results (${positionals[0] ?? 'no file given'})`);
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

// node dist/tools/device-compare.js LORACTOR.json PYTORCH.json — one table of a learner benchmark
// beside its PyTorch anchor (tools/device/run.sh): seconds per step, tokens/s, the ratio, peak memory.
import { existsSync, readFileSync } from 'node:fs';
import { scriptOptions } from '../src/cli/standard-flags.js';

type Row = {
  shape: string;
  recompute: boolean;
  stepS?: number;
  tokensPerS?: number;
  tflops?: number;
  peakGiB?: number;
  error?: string;
};
const read = (p: string | undefined): { rows: Row[] } | null =>
  p && existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as { rows: Row[] }) : null;
const { positionals } = scriptOptions({
  name: 'device-compare',
  help: 'usage: node dist/tools/device-compare.js LORACTOR.json PYTORCH.json\n  A learner benchmark beside its PyTorch anchor',
  options: {},
  allowPositionals: true,
});
const [ours, theirs] = [read(positionals[0]), read(positionals[1])];
if (!ours) {
  console.log(`device-compare: no loractor results (${positionals[0] ?? 'no file given'})`);
  process.exit(0);
}
const f = (x: number | undefined, d = 2): string => (x === undefined ? '—' : x.toFixed(d));
const lines = [
  [
    'shape',
    'recompute',
    'loractor s/step',
    'pytorch s/step',
    'loractor ÷ pytorch',
    'loractor tok/s',
    'pytorch tok/s',
    'loractor TFLOP/s',
    'loractor GiB',
    'pytorch GiB',
  ],
];
for (const r of ours.rows) {
  const p = theirs?.rows.find((x) => x.shape === r.shape && x.recompute === r.recompute);
  lines.push([
    r.shape,
    String(r.recompute),
    f(r.stepS, 3),
    p?.error ? 'OOM' : f(p?.stepS, 3),
    p?.stepS && r.stepS ? f(r.stepS / p.stepS) : '—',
    f(r.tokensPerS, 0),
    f(p?.tokensPerS, 0),
    f(r.tflops),
    f(r.peakGiB),
    f(p?.peakGiB),
  ]);
}
const w = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
for (const l of lines) console.log(l.map((s, i) => s.padStart(w[i]!)).join('  '));
if (!theirs) console.log('(no PyTorch anchor in this run)');

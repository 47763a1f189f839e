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
import { Rng } from '../src/util/rng.js';
import { repoRoot } from '../src/util/paths.js';
import { isMainScript, scriptArgs, UsageError } from '../src/cli/standard-flags.js';
import { benchBlock, benchModel, type ModelShape, qwenConfig, randArray, time } from './bench-learner/model-bench.js';

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

function printTable(title: string, rows: Record<string, unknown>[], cols: string[]): void {
  console.log(`\n${title}`);
  const fmt = (v: unknown) =>
    typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(v >= 100 ? 0 : 2)) : String(v ?? '');
  const cells = [cols, ...rows.map((r) => cols.map((c) => fmt(r[c])))];
  const widths = cols.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  for (const r of cells) console.log(r.map((v, i) => v.padStart(widths[i]!)).join('  '));
}

function printHeader(args: Args, load: number[]): void {
  console.log(
    `bench-learner: ${cpus()[0]?.model ?? 'cpu'}, ${availableParallelism()} cores, threads=${args.threads}, load average ${load.map((x) => x.toFixed(1)).join(' ')}`,
  );
}

const MATMUL_COLUMNS = ['variant', 'm', 'k', 'n', 'threads', 'bestMs', 'gflops', 'gflopsMedian', 'gflopsPerCpuS'];

const ATTENTION_LORA = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];

/** The whole models timed: a small one (d256, 4 layers) and Qwen2.5-0.5B's width (d896, 2 layers). */
function modelShapes(): ModelShape[] {
  return [
    {
      name: 'd256 L4',
      config: qwenConfig(256, 4, 4, 2, 1024, 4096),
      batch: 8,
      seqLen: 128,
      loraR: 16,
      targets: ATTENTION_LORA,
    },
    {
      name: 'd896 L2',
      config: qwenConfig(896, 2, 14, 2, 4864, 4096),
      batch: 8,
      seqLen: 128,
      loraR: 16,
      targets: ATTENTION_LORA,
    },
  ];
}

const MODEL_COLUMNS = [
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
];

/** The anchor block with all threads, and for scale with one thread and (unless --no-plain) plain loops. */
function benchAnchor(args: Args): Record<string, unknown> {
  // Anchor: one block alone (layer forward + backward; embedding and head not timed).
  const anchorShape: ModelShape = {
    name: 'anchor',
    config: qwenConfig(256, 1, 4, 2, 1024, 256),
    batch: 8,
    seqLen: 128,
    loraR: 16,
    targets: ATTENTION_LORA,
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
  return anchor;
}

function printAnchor(anchor: Record<string, unknown>): void {
  console.log('\nanchor block:');
  for (const [k, v] of Object.entries(anchor))
    console.log(`  ${k}: ${typeof v === 'number' ? v.toFixed(1) : JSON.stringify(v)}`);
}

function writeReport(out: string, report: Record<string, unknown>): void {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  console.log(`\nwrote ${out}`);
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const started = new Date().toISOString();
  const load = loadavg();
  configureMatmulThreads({ threads: args.threads });
  await warmUpMatmulThreads();
  const rng = new Rng(42);
  printHeader(args, load);

  const matmul = benchMatmul(args, rng);
  printTable('matmul (best of reps)', matmul, MATMUL_COLUMNS);

  configureMatmulThreads({ threads: args.threads });
  const reps = args.quick ? 2 : 5;
  const modelRows = modelShapes().map((s) => benchModel(s, reps));
  printTable('model forward / forward+backward (LoRA-only grads, all tokens scored)', modelRows, MODEL_COLUMNS);

  const anchor = benchAnchor(args);
  printAnchor(anchor);

  writeReport(args.out, {
    started,
    cpu: cpus()[0]?.model,
    cores: availableParallelism(),
    loadAverageAtStart: load,
    args,
    matmul,
    models: modelRows,
    anchor,
  });
  await shutdownMatmulThreads();
}

if (isMainScript(import.meta.url)) await main(scriptArgs({ name: 'bench-learner', help: USAGE }));

// Remote roles over NATS JetStream, measured on this machine against a private nats-server:
//  1. adapter versions through the object store: put (coordinator) and fetch + verify into a worker's
//     WeightStore, ms and ms/MiB, for the tiny model's adapter and larger sizes up to a Tina-sized one;
//  2. training steps per minute of the default config (max_steps cut) with its rollout role on 1, 2, 4
//     `loractor worker` processes (items of roles.rollout.prompts_per_item prompts spread over them),
//     next to the single-process run. Every process shares this machine's cores, so more workers only
//     help where there are idle cores: the table says how many there are.
// Prints a table and writes JSON (runs/bench-nats.json, or --out PATH).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { scriptOptions, UsageError } from '../src/cli/standard-flags.js';
import { repoRoot } from '../src/util/paths.js';
import { WeightStore } from '../src/runtime/weight-store.js';
import { startNatsServer, type NatsServer } from '../src/transport/nats/local-server.js';
import { connectNats } from '../src/transport/nats/connect.js';
import {
  adapterFetcher,
  adapterPublisher,
  openAdapterBucket,
  ADAPTER_CHUNK_BYTES,
} from '../src/transport/nats/adapters.js';

const USAGE = `usage: node dist/tools/bench-nats.js [--workers 1,2,4] [--steps N] [--prompts-per-item K] [--sizes-mib LIST] [--out PATH]   (npm run bench:nats)

Remote roles over NATS JetStream on this machine (a private nats-server is started and stopped):
adapter fetch through the object store (ms, ms/MiB) and training steps per minute with the rollout
role on 1, 2, 4 worker processes next to the single-process run.
  --workers LIST        rollout worker processes per run (default 1,2,4; 0 = skip the runs)
  --steps N             training steps per run (default 3; steps/min is measured from step 2 on)
  --prompts-per-item K  roles.rollout.prompts_per_item of the remote runs (default 4: 4 items per step)
  --sizes-mib LIST      adapter sizes for the object store (default: the tiny adapter, 16, 141 = Tina's 148 MB in f32)
  --out PATH            JSON report (default runs/bench-nats.json)`;

const { values: opts } = scriptOptions({
  name: 'bench-nats',
  help: USAGE,
  options: {
    workers: { type: 'string', default: '1,2,4' },
    steps: { type: 'string', default: '3' },
    'prompts-per-item': { type: 'string', default: '4' },
    'sizes-mib': { type: 'string' },
    out: { type: 'string' },
  },
});

const root = repoRoot();
const TINY_ADAPTER = 149_504; // float32 values of configs/default.json's LoRA on models/tiny
const ints = (s: string, name: string): number[] => {
  const v = s.split(',').map(Number);
  if (!v.every((x) => Number.isInteger(x) && x >= 0))
    throw new UsageError(`--${name}: expected a comma-separated list of integers, got '${s}'`);
  return v;
};
const workerCounts = ints(opts.workers, 'workers').filter((k) => k > 0);
const steps = Number(opts.steps);
if (!Number.isInteger(steps) || steps < 2)
  throw new UsageError(`--steps: expected an integer ≥ 2, got '${opts.steps}'`);
const perItem = Number(opts['prompts-per-item']);
if (!Number.isInteger(perItem) || perItem < 0)
  throw new UsageError(`--prompts-per-item: expected an integer ≥ 0, got '${opts['prompts-per-item']}'`);
const sizes = opts['sizes-mib']
  ? opts['sizes-mib'].split(',').map((s) => Math.round((Number(s) * 2 ** 20) / 4))
  : [TINY_ADAPTER, 4 * 2 ** 20, Math.round(148e6 / 4)];
if (!sizes.every((n) => Number.isInteger(n) && n > 0))
  throw new UsageError(`--sizes-mib: expected positive sizes in MiB, got '${opts['sizes-mib']}'`);
const out = resolve(opts.out ?? join(root, 'runs', 'bench-nats.json'));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Put each size once per round and fetch it into a second store, as a worker does (SHA-256 and checksum checked). */
async function benchObjectStore(server: NatsServer): Promise<Record<string, number>[]> {
  const nc = await connectNats({ url: server.url });
  const os = await openAdapterBucket(nc);
  const rows: Record<string, number>[] = [];
  for (const size of sizes) {
    const puts: number[] = [],
      gets: number[] = [];
    const rounds = size > 8 * 2 ** 20 ? 2 : 3;
    for (let round = 0; round < rounds; round++) {
      const src = WeightStore.create(size),
        dst = WeightStore.create(size);
      const params = new Float32Array(size);
      for (let i = 0; i < size; i++) params[i] = Math.sin(i + round);
      src.publish(params, 1);
      const run = `bench${round}-${size}`;
      const pub = adapterPublisher(os, run, src);
      let t0 = performance.now();
      await pub.publishLatest(1, 1000);
      puts.push(performance.now() - t0);
      t0 = performance.now();
      await adapterFetcher(os, run, dst).ensure(1);
      gets.push(performance.now() - t0);
      if (!WeightStore.verify(dst.snapshot())) throw new Error('fetched adapter failed its checksum');
      await pub.removeAll();
    }
    const mib = (size * 4) / 2 ** 20;
    rows.push({
      mib: +mib.toFixed(2),
      put_ms: +median(puts).toFixed(1),
      fetch_ms: +median(gets).toFixed(1),
      put_ms_per_mib: +(median(puts) / mib).toFixed(1),
      fetch_ms_per_mib: +(median(gets) / mib).toFixed(1),
      rounds,
    });
  }
  await nc.close();
  return rows;
}

interface Proc {
  exit: Promise<number | null>;
  kill(sig: NodeJS.Signals): void;
  text: () => string;
}
function start(args: string[]): Proc {
  const p = spawn(process.execPath, [join(root, 'dist', 'main.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  p.stdout.on('data', (d) => (text += d));
  p.stderr.on('data', (d) => (text += d));
  return { exit: new Promise((r) => p.on('close', r)), kill: (s) => p.kill(s), text: () => text };
}

/** One training run: steps/min from step 2's record to the last (start-up and the first step's warm-up left out). */
async function benchRun(
  dir: string,
  label: string,
  workers: number,
  server: NatsServer,
): Promise<Record<string, number | string>> {
  const cfg = JSON.parse(readFileSync(join(root, 'configs', 'default.json'), 'utf8')) as Record<
    string,
    Record<string, unknown>
  >;
  delete cfg.$schema;
  cfg.model!.path = join(root, 'models', 'tiny');
  cfg.run = { ...cfg.run, max_steps: steps, checkpoint_every: 0 };
  cfg.eval = { ...cfg.eval, eval_steps: 0, eval_before_training: false };
  if (workers > 0) cfg.roles = { rollout: { transport: 'nats', prompts_per_item: perItem } };
  const cfgPath = join(dir, `${label}.json`);
  writeFileSync(cfgPath, JSON.stringify(cfg));
  const ws = Array.from({ length: workers }, () => start(['worker', '--nats', server.url, '--role', 'rollout']));
  const t0 = performance.now();
  const run = start([`--actors=${cfgPath}`, '--out', join(dir, label), ...(workers > 0 ? ['--nats', server.url] : [])]);
  const code = await run.exit;
  const wall = (performance.now() - t0) / 1000;
  for (const w of ws) w.kill('SIGTERM');
  await Promise.all(ws.map((w) => w.exit));
  if (code !== 0) throw new Error(`${label}: the run exited ${code}:\n${run.text().slice(-1500)}`);
  const ms = readFileSync(join(dir, label, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number>);
  const span = ms.at(-1)!.elapsed_s! - ms[0]!.elapsed_s!;
  const mean = (k: string): number => ms.slice(1).reduce((a, m) => a + (m[k] ?? 0), 0) / (ms.length - 1);
  return {
    setup: label,
    rollout_workers: workers,
    steps: ms.length,
    steps_per_min: +((60 * (ms.length - 1)) / span).toFixed(2),
    wall_s: +wall.toFixed(1),
    rollout_s: +mean('time/rollout').toFixed(2),
    reward_s: +mean('time/reward').toFixed(2),
    learner_s: +mean('time/learner').toFixed(2),
    sync_s: +mean('time/sync').toFixed(3),
  };
}

function table(rows: Record<string, unknown>[]): string {
  const keys = Object.keys(rows[0] ?? {});
  const w = keys.map((k) => Math.max(k.length, ...rows.map((r) => String(r[k]).length)));
  return [
    keys.map((k, i) => k.padStart(w[i]!)).join('  '),
    ...rows.map((r) => keys.map((k, i) => String(r[k]).padStart(w[i]!)).join('  ')),
  ].join('\n');
}

const server = await startNatsServer();
const dir = mkdtempSync(join(tmpdir(), 'loractor-bench-nats-'));
try {
  console.log(
    `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}; nats-server on ${server.url}\n`,
  );
  const objectStore = await benchObjectStore(server);
  console.log(
    `adapter versions through the object store (chunks of ${ADAPTER_CHUNK_BYTES / 2 ** 20} MiB; fetch = get + SHA-256 + copy into the worker's WeightStore):`,
  );
  console.log(table(objectStore) + '\n');
  const runs: Record<string, number | string>[] = [];
  if (workerCounts.length) {
    for (const [label, k] of [
      ['single-process', 0] as const,
      ...workerCounts.map((k) => [`${k}-rollout-worker${k > 1 ? 's' : ''}`, k] as const),
    ]) {
      console.error(`running ${label} (${steps} steps)...`);
      runs.push(await benchRun(dir, label, k, server));
    }
    console.log('training steps per minute (from step 2 on; mean seconds per step in each phase):');
    console.log(table(runs));
    console.log(
      `\n(${steps} steps of configs/default.json, no evaluation; remote runs: rollout on the workers in items of ${perItem || 'all'} prompts, reward local. ${cpus().length} cores shared by the coordinator and every worker.)`,
    );
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        cores: cpus().length,
        loadavg: loadavg(),
        node: process.version,
        steps,
        prompts_per_item: perItem,
        object_store: objectStore,
        runs,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nwrote ${out}`);
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

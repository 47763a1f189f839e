// The 5-stage pipeline contenders of the stress benchmark (tools/stress.ts): ask chains through
// ActorSystem, PortPipeline (stages wired worker to worker), and a main-thread relay over the same
// wire as ask's lanes but without the runtime (no supervision, envelopes or lane protocol). The relay
// splits the ask chain's cost: relay vs PortPipeline is the cost of routing every hop through the
// main thread (as an ask chain must: each ask returns to its caller); ask vs relay is the cost of the
// runtime itself. Each contender is started once, warmed up and timed round after round.
import { existsSync, readFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { join } from 'node:path';
import { ActorSystem } from '../../src/runtime/actor-system.js';
import { PortPipeline } from '../../src/runtime/port-pipeline.js';
import type { Transport } from '../../protocols/codec.js';
import { repoRoot } from '../../src/util/paths.js';

/** The synthetic stage actor every contender runs. */
export const SYNTH = join(repoRoot(), 'examples/actors/synthetic.ts');

/** The p-th percentile of xs (nearest rank). */
export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export const STAGES = ['rollout', 'reward', 'advantage', 'learner', 'publish'];

/** CPU time of the main thread so far, µs (Linux: /proc; elsewhere null). Clock ticks are 10 ms: use over seconds. */
function mainThreadCpuUs(): number | null {
  const f = `/proc/self/task/${process.pid}/stat`;
  if (!existsSync(f)) return null;
  const fields = readFileSync(f, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/**
 * CPU per message, which load from other processes changes far less than throughput: the main
 * thread's (every ask hop's supervision runs there, so 1e6 / main µs bounds the ask chain on one
 * free core) and all threads'. Also the main thread's GC pauses per message: a chain that leaves
 * young objects reachable from old garbage (as a Map of in-flight attempts once did) shows here first.
 */
async function cpuPerMessage<T>(
  n: number,
  fn: () => Promise<T>,
): Promise<{ result: T; main_cpu_us: number | string; all_cpu_us: number; main_gc_us: number }> {
  let gcMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  });
  gc.observe({ entryTypes: ['gc'] });
  const m0 = mainThreadCpuUs();
  const c0 = process.cpuUsage();
  const result = await fn();
  const c = process.cpuUsage(c0);
  const m1 = mainThreadCpuUs();
  for (const e of gc.takeRecords()) gcMs += e.duration;
  gc.disconnect();
  return {
    result,
    main_cpu_us: m0 === null || m1 === null ? '-' : Math.round(((m1 - m0) / n) * 10) / 10,
    all_cpu_us: Math.round(((c.user + c.system) / n) * 10) / 10,
    main_gc_us: Math.round(((gcMs * 1000) / n) * 100) / 100,
  };
}

/** A pipeline kept up across rounds: started once, warmed up, then timed round after round. */
export interface Contender {
  run(n: number): Promise<PipeRun>;
  close(): Promise<void>;
}

export async function askChain(
  work: number,
  concurrency: number,
  atomics: 'sync' | 'async',
  deadlineMs = 0,
  transport: Transport = 'msgpack',
): Promise<Contender> {
  // deadlineMs > 0: every ask carries a deadline, so each message runs alone on its worker (the
  // supervisor can then terminate the worker for it without touching others): no pipelining.
  const sys = await ActorSystem.start(
    Object.fromEntries(
      STAGES.map((s) => [s, { module: SYNTH, atomics, maxQueue: concurrency * 2, deadlineMs, transport }]),
    ),
  );
  const run = (n: number): Promise<PipeRun> =>
    timedChain(n, concurrency, async (id) => {
      let m: { id: number; h: number; t: number } = { id, h: 0, t: 0 };
      for (const s of STAGES) m = await sys.ask(s, 'stage', { id: m.id, work });
    });
  return { run, close: () => sys.shutdown() };
}

export type PipeRun = {
  msgs_per_s: number;
  p50_ms: number | string;
  p99_ms: number | string;
  main_cpu_us: number | string;
  all_cpu_us: number;
  /** Main-thread GC pauses per message, µs. */
  main_gc_us: number;
};

export async function portChain(work: number, batch: number): Promise<Contender> {
  const p = await PortPipeline.start(STAGES.map(() => ({ module: SYNTH, handler: 'stage' })));
  const run = async (n: number): Promise<PipeRun> => {
    const batches = Array.from({ length: Math.ceil(n / batch) }, (_, k) =>
      Array.from({ length: Math.min(batch, n - k * batch) }, (_, i) => ({ id: k * batch + i, work })),
    );
    const t0 = performance.now();
    const cpu = await cpuPerMessage(n, () => p.stream(batches, 8));
    const secs = (performance.now() - t0) / 1000;
    if (cpu.result !== n) throw new Error(`port pipeline lost messages: ${cpu.result} of ${n}`);
    return {
      msgs_per_s: Math.round(n / secs),
      p50_ms: '-',
      p99_ms: '-',
      main_cpu_us: cpu.main_cpu_us,
      all_cpu_us: cpu.all_cpu_us,
      main_gc_us: cpu.main_gc_us,
    };
  };
  return { run, close: () => p.close() };
}

/** One stage of the relay: a one-stage PortPipeline, so both its ends are on the main thread. */
interface RelayStage {
  pipe: PortPipeline;
  outbox: unknown[];
  waiting: ((r: unknown) => void)[];
}

async function startRelayStage(): Promise<RelayStage> {
  const stage: RelayStage = {
    pipe: await PortPipeline.start([{ module: SYNTH, handler: 'stage' }]),
    outbox: [],
    waiting: [],
  };
  // Replies come back in order, one batch per batch sent.
  stage.pipe.onResults((results) => {
    const waiting = stage.waiting.splice(0, results.length);
    for (let i = 0; i < results.length; i++) waiting[i]!(results[i]);
  });
  return stage;
}

/**
 * The main-thread relay: the ask chain's traffic pattern (every hop to a worker and back to the main
 * thread, messages sent in one turn batched into one postMessage per worker, as the lanes do), with
 * a plain promise per hop and nothing else.
 */
export async function relayChain(work: number, concurrency: number): Promise<Contender> {
  const stages: RelayStage[] = [];
  for (let k = 0; k < STAGES.length; k++) stages.push(await startRelayStage());
  const dirty = new Set<RelayStage>();
  let flushScheduled = false;
  const flush = (): void => {
    flushScheduled = false;
    for (const s of dirty) {
      const batch = s.outbox;
      s.outbox = [];
      s.pipe.send(batch);
    }
    dirty.clear();
  };
  const hop = <R>(k: number, msg: unknown): Promise<R> =>
    new Promise<R>((resolve) => {
      const s = stages[k]!;
      s.outbox.push(msg);
      s.waiting.push(resolve as (r: unknown) => void);
      dirty.add(s);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    });
  const run = (n: number): Promise<PipeRun> =>
    timedChain(n, concurrency, async (id) => {
      let m: { id: number } = { id };
      for (let k = 0; k < stages.length; k++) m = await hop<{ id: number }>(k, { id: m.id, work });
    });
  return { run, close: async () => void (await Promise.all(stages.map((s) => s.pipe.close()))) };
}

/** n messages through a chain, `concurrency` at a time: throughput, latency percentiles and CPU per message. */
async function timedChain(n: number, concurrency: number, one: (id: number) => Promise<void>): Promise<PipeRun> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  const cpu = await cpuPerMessage(n, () =>
    Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) {
          const s0 = performance.now();
          await one(next++);
          lat.push(performance.now() - s0);
        }
      }),
    ),
  );
  const secs = (performance.now() - t0) / 1000;
  return {
    msgs_per_s: Math.round(n / secs),
    p50_ms: Math.round(pct(lat, 50) * 1000) / 1000,
    p99_ms: Math.round(pct(lat, 99) * 1000) / 1000,
    main_cpu_us: cpu.main_cpu_us,
    all_cpu_us: cpu.all_cpu_us,
    main_gc_us: cpu.main_gc_us,
  };
}

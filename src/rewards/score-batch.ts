// Main-thread side of reward scoring: fan a batch out to the reward pool one completion per task,
// each under its own deadline, so a single pathological completion (or a hung custom function) can
// cost at most one deadline and one worker restart, never the batch. Failed items get the configured
// failure value and are written, with their text, to a quarantine log for later inspection.
import { createHash } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { ScoreItemMessage, ScoreItemResult } from '../../protocols/reward.js';
import { rewardKwargsOf, rewardWeightsOf, type RewardsConfig } from './config.js';
import { computeL1ExactRewards, computeL1MaxRewards, computeLengthRewards } from './length.js';
import type { FaultDrill } from '../runtime/fault-drill.js';
import { absolutizeSpec, nansumWeighted, rewardFuncName, type RewardFuncSpec } from './registry.js';

/**
 * The slice of a pool scoreBatch needs: piscina's run(). The runtime's ActorSystem can provide the
 * same shape (ask with a deadline signal), which is how this moves onto it later.
 */
export interface RewardTaskRunner {
  run(task: unknown, options: { name: string; signal?: AbortSignal; transferList?: readonly MessagePort[] }): Promise<unknown>;
  /** false when tasks are serialized (msgpack envelopes) and cannot carry a MessagePort. Default true. */
  readonly transfersPorts?: boolean;
}

/** The slice of the runtime's ActorSystem used here (ask with an abort signal). */
export interface AskingSystem {
  ask(role: string, handler: string, msg: unknown, opts?: { signal?: AbortSignal; deadlineMs?: number }): Promise<unknown>;
}

/**
 * Run scoring on an ActorSystem role over actors/reward.ts. Spawn the role with `retries: 0` (a
 * completion that hung or crashed a worker must not be retried) and threads = reward_num_workers.
 * Deadlines then run from dispatch (messages cannot carry the start port).
 */
export function rewardRunnerOnActorSystem(system: AskingSystem, role = 'reward'): RewardTaskRunner {
  return {
    transfersPorts: false,
    run: (task, o) => system.ask(role, o.name, task, { deadlineMs: 0, ...(o.signal ? { signal: o.signal } : {}) }),
  };
}

export interface RewardItem {
  completion: string;
  solution: string;
  prompt?: string;
  /** Items sharing a group id form one group for group-scoped rewards (length); absent = one group. */
  group?: number | string;
  columns?: Record<string, unknown>;
}

export type RewardFailureReason = 'timeout' | 'crash' | 'error';

export interface RewardItemFailure {
  index: number;
  reason: RewardFailureReason;
  message: string;
  elapsedMs: number;
}

export interface RewardBatchScores {
  /** Function names in config order. */
  names: string[];
  weights: number[];
  /** rewards[name][i]: that function's score for item i (null = skipped, TRL's NaN). */
  rewards: Record<string, (number | null)[]>;
  /** nansum of weight · score per item. */
  total: number[];
  failures: RewardItemFailure[];
  /** Items whose worker crashed and that were scored again (a crash on the retry is in `failures` too). */
  retried: RewardItemFailure[];
  wallMs: number;
}

export interface ScoreBatchOptions {
  /** Tasks in flight at once; keep ≤ pool threads so deadlines measure work, not queueing. */
  concurrency: number;
  /** Folder relative custom-module and quarantine paths resolve against. Default: process.cwd(). */
  baseDir?: string;
  /**
   * Start each deadline when the worker reports it began the item (a transferred MessagePort), so a
   * replacement worker's start-up after a kill is not charged to the next item. Runners that cannot
   * transfer ports set false: the deadline then runs from dispatch. Default true.
   */
  startSignal?: boolean;
  /** Longest an item may wait for a worker to begin it before it fails as a timeout. Default max(10 s, 3 × deadline). */
  startTimeoutMs?: number;
}

/** Path of the compiled reward actor module next to this file's compiled location. */
export function rewardActorFile(): string {
  return fileURLToPath(new URL('../../actors/reward.js', import.meta.url));
}

/** A piscina pool over actors/reward.ts, every thread warmed (functions and verifier loaded). */
export async function createRewardPool(cfg: RewardsConfig, baseDir = process.cwd(), drills: FaultDrill[] = []): Promise<Piscina> {
  const n = cfg.reward_num_workers;
  // Fault drills reach the pool's workers in workerData (actors/reward.ts fires them in scoreItem).
  const pool = new Piscina({ filename: rewardActorFile(), minThreads: n, maxThreads: n, idleTimeout: 2 ** 31 - 1, ...(drills.length ? { workerData: { __faults: drills } } : {}) });
  const funcs = cfg.reward_funcs.map((s) => absolutizeSpec(s as RewardFuncSpec, baseDir));
  await Promise.all(Array.from({ length: n }, () => pool.run({ funcs, kwargs: rewardKwargsOf(cfg) }, { name: 'warmup' })));
  return pool;
}

function classify(err: unknown): { reason: RewardFailureReason; message: string } {
  const e = err as { name?: string; message?: string };
  const message = String(e?.message ?? err);
  if (e?.name === 'AbortError' || /abort/i.test(message)) return { reason: 'timeout', message };
  if (/worker.*(exit|terminat)|terminated|exited/i.test(message)) return { reason: 'crash', message };
  return { reason: 'error', message };
}

/** Score a batch. Never rejects because of an item: each failure becomes a quarantined failure value. */
export async function scoreBatch(runner: RewardTaskRunner, items: readonly RewardItem[], cfg: RewardsConfig, opts: ScoreBatchOptions): Promise<RewardBatchScores> {
  const t0 = performance.now();
  const baseDir = opts.baseDir ?? process.cwd();
  const funcs = cfg.reward_funcs.map((s) => absolutizeSpec(s as RewardFuncSpec, baseDir));
  const names = funcs.map(rewardFuncName);
  const weights = rewardWeightsOf(cfg);
  const kwargs = rewardKwargsOf(cfg);
  const deadlineMs = cfg.reward_timeout_s * 1000;
  const results: (ScoreItemResult | null)[] = new Array(items.length).fill(null);
  const failures: RewardItemFailure[] = [];
  const quarantinePath = resolve(baseDir, cfg.reward_quarantine_path);
  let quarantineChain: Promise<void> = Promise.resolve();

  const quarantine = (index: number, f: RewardItemFailure): void => {
    const item = items[index]!;
    const text = typeof item.completion === 'string' ? item.completion : String(item.completion);
    const record = {
      time: new Date().toISOString(), index, group: item.group ?? null, reason: f.reason, error: f.message,
      elapsed_ms: Math.round(f.elapsedMs), deadline_ms: deadlineMs, funcs: names, solution: item.solution,
      completion_chars: text.length, completion_sha256: createHash('sha256').update(text).digest('hex'),
      completion: text.slice(0, cfg.reward_quarantine_max_chars),
    };
    const line = JSON.stringify(record) + '\n';
    quarantineChain = quarantineChain
      .then(() => mkdir(dirname(quarantinePath), { recursive: true }))
      .then(() => appendFile(quarantinePath, line))
      .catch((err) => { process.emitWarning(`reward quarantine: cannot write ${quarantinePath}: ${(err as Error).message}`); });
  };

  const startSignal = opts.startSignal ?? runner.transfersPorts ?? true;
  const startTimeoutMs = opts.startTimeoutMs ?? Math.max(10_000, 3 * deadlineMs);

  // A worker that died under an item (process.exit, an uncaught error, out of memory) may have died
  // of something else than the item: it is scored once more on a fresh worker. A timeout or a thrown
  // error is the item's own verdict (math_verify semantics) and is not retried.
  const retried: RewardItemFailure[] = [];
  const scoreOne = async (index: number): Promise<void> => {
    const first = await attempt(index);
    if (first?.reason !== 'crash') return record(first);
    retried.push(first);
    record(await attempt(index));
  };
  const record = (f: RewardItemFailure | null): void => {
    if (!f) return;
    failures.push(f);
    quarantine(f.index, f);
  };

  /** Score item `index` once; its failure, or null when it scored. */
  const attempt = async (index: number): Promise<RewardItemFailure | null> => {
    const item = items[index]!;
    const msg: ScoreItemMessage = { completion: item.completion, solution: item.solution, funcs, kwargs };
    if (item.prompt !== undefined) msg.prompt = item.prompt;
    if (item.columns) msg.columns = item.columns;
    const ac = new AbortController();
    let started = performance.now();
    let abortReason: string | null = null;
    const timers: NodeJS.Timeout[] = [];
    let channel: MessageChannel | null = null;
    let rejectBackstop: (e: Error) => void = () => {};
    const backstopP = new Promise<never>((_, reject) => { rejectBackstop = reject; });
    const armDeadline = (): void => {
      started = performance.now();
      timers.push(setTimeout(() => { abortReason = `deadline ${deadlineMs} ms exceeded`; ac.abort(new Error(abortReason)); }, deadlineMs));
      // If a runner ever ignores the abort, the backstop still frees this lane: no batch can stall.
      timers.push(setTimeout(() => rejectBackstop(Object.assign(new Error('reward task ignored its abort signal'), { name: 'AbortError' })), deadlineMs + 2000));
    };
    try {
      const runOpts: Parameters<RewardTaskRunner['run']>[1] = { name: 'scoreItem', signal: ac.signal };
      if (startSignal) {
        channel = new MessageChannel();
        msg.started = channel.port2 as unknown as ScoreItemMessage['started'];
        runOpts.transferList = [channel.port2];
        channel.port1.once('message', armDeadline);
        timers.push(setTimeout(() => {
          if (abortReason === null) { abortReason = `not started by a worker within ${startTimeoutMs} ms`; ac.abort(new Error(abortReason)); }
        }, startTimeoutMs));
        timers.push(setTimeout(() => rejectBackstop(Object.assign(new Error('reward task ignored its abort signal'), { name: 'AbortError' })), startTimeoutMs + deadlineMs + 2000));
      } else {
        armDeadline();
      }
      const out = (await Promise.race([runner.run(msg, runOpts), backstopP])) as ScoreItemResult;
      results[index] = out;
      return null;
    } catch (err) {
      const { reason, message } = abortReason !== null ? { reason: 'timeout' as const, message: abortReason } : classify(err);
      return { index, reason, message, elapsedMs: performance.now() - started };
    } finally {
      for (const tm of timers) clearTimeout(tm);
      channel?.port1.close();
    }
  };

  // A fixed number of lanes pull the next index: at most `concurrency` tasks are ever in flight.
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(opts.concurrency, items.length)) }, async () => {
    while (next < items.length) await scoreOne(next++);
  });
  await Promise.all(lanes);

  const rewards: Record<string, (number | null)[]> = {};
  for (const name of names) rewards[name] = items.map(() => cfg.reward_failure_value);
  for (let i = 0; i < items.length; i++) {
    const r = results[i];
    if (!r) continue;
    for (const name of names) if (name in r.scores) rewards[name]![i] = r.scores[name]!;
  }
  for (const name of ['length', 'length_l1_exact', 'length_l1_max'] as const) {
    if (funcs.includes(name)) applyGroupLength(name, items, results, rewards[name]!);
  }

  const total = items.map((_, i) => nansumWeighted(names.map((n) => rewards[n]![i]!), weights));
  // A weighted total that is not finite (a function returned ±Infinity) would turn its whole group's
  // advantages into NaN: the item fails like a crashed one, scores the failure value, is quarantined.
  total.forEach((v, i) => {
    if (Number.isFinite(v)) return;
    record({ index: i, reason: 'error', message: `non-finite total reward ${v} (${names.map((n) => `${n}=${rewards[n]![i]}`).join(', ')})`, elapsedMs: 0 });
    for (const n of names) rewards[n]![i] = cfg.reward_failure_value;
    total[i] = nansumWeighted(names.map((n) => rewards[n]![i]!), weights);
  });
  failures.sort((a, b) => a.index - b.index);
  await quarantineChain;
  return { names, weights, rewards, total, failures, retried, wallMs: performance.now() - t0 };
}

/** A group-scoped length reward per group over the items that scored; failed items keep the failure value. */
function applyGroupLength(name: 'length' | 'length_l1_exact' | 'length_l1_max', items: readonly RewardItem[], results: readonly (ScoreItemResult | null)[], out: (number | null)[]): void {
  const groups = new Map<string, number[]>();
  items.forEach((item, i) => {
    if (!results[i]?.group) return;
    const key = item.group === undefined ? '\u0000batch' : String(item.group);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(i);
  });
  for (const idx of groups.values()) {
    const chars = idx.map((i) => results[i]!.group!.chars);
    const correct = idx.map((i) => results[i]!.group!.lengthCorrect);
    const vals = name === 'length' ? computeLengthRewards(chars, correct)
      : (name === 'length_l1_exact' ? computeL1ExactRewards : computeL1MaxRewards)(chars, correct, idx.map((i) => targetLengthOf(items[i]!, name)));
    idx.forEach((i, j) => { out[i] = vals[j]!; });
  }
}

function targetLengthOf(item: RewardItem, fn: string): number {
  const t = item.columns?.target_length;
  if (typeof t !== 'number') throw new Error(`${fn}: the item has no numeric target_length column (got ${JSON.stringify(t)}); set data.l1_target_length so each prompt gets a target length`);
  return t;
}

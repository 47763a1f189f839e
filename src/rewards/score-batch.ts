// Main-thread side of reward scoring: fan a batch out to the reward role (actors/reward.ts on the
// ActorSystem) one completion per message, each under its own deadline, so a single pathological
// completion (or a hung custom function) can cost at most one deadline and one worker restart, never
// the batch. The runtime supervises: the deadline counts from when a worker starts the item (its
// start signal), a hung worker is terminated and replaced, and a worker that crashed under an item is
// replaced and the item scored once more (the role retries crashes only) — all on events$. Failed
// items get the configured failure value and are written, with their text, to a quarantine log.
import { createHash } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ScoreItemMessage, ScoreItemResult } from '../../protocols/reward.js';
import type { CallOptions, RoleSpec } from '../runtime/actor-system.js';
import { ActorTimeoutError, DeadLetterError, WorkerCrashError } from '../runtime/errors.js';
import type { FaultDrill } from '../runtime/fault-drill.js';
import { rewardKwargsOf, rewardWeightsOf, type RewardsConfig } from './config.js';
import { computeL1ExactRewards, computeL1MaxRewards, computeLengthRewards } from './length.js';
import { absolutizeSpec, nansumWeighted, rewardFuncName, type RewardFuncSpec } from './registry.js';

/** How scoreBatch sends one item: ActorSystem.ask on the reward role (rewardRunnerOnActorSystem). */
export interface RewardTaskRunner {
  run(
    task: ScoreItemMessage,
    options: { name: string; deadlineMs: number; signal: AbortSignal; onStart: () => void },
  ): Promise<unknown>;
}

/** The slice of the runtime's ActorSystem used here. */
export interface AskingSystem {
  ask(role: string, handler: string, msg: unknown, opts?: CallOptions): Promise<unknown>;
}

/** Score on an ActorSystem role spawned with rewardRoleSpec: the deadline runs from the item's start signal. */
export function rewardRunnerOnActorSystem(system: AskingSystem, role = 'reward'): RewardTaskRunner {
  return {
    run: (task, o) =>
      system.ask(role, o.name, task, {
        deadlineMs: o.deadlineMs,
        deadlineFrom: 'start',
        signal: o.signal,
        onStart: o.onStart,
      }),
  };
}

/**
 * The reward role: reward_num_workers threads over actors/reward.ts, each warmed by init (functions
 * and the verifier loaded before the first deadline). A crash is retried once on a fresh worker; a
 * thrown error or a timeout is the item's own verdict (math_verify semantics) and is not retried.
 */
export function rewardRoleSpec(cfg: RewardsConfig, baseDir = process.cwd(), drills: FaultDrill[] = []): RoleSpec {
  const funcs = cfg.reward_funcs.map((s) => absolutizeSpec(s as RewardFuncSpec, baseDir));
  return {
    module: rewardActorFile(),
    threads: cfg.reward_num_workers,
    retries: 1,
    retryErrors: false,
    retryTimeouts: false,
    config: { funcs, kwargs: rewardKwargsOf(cfg), ...(drills.length ? { __faults: drills } : {}) },
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
  wallMs: number;
}

export interface ScoreBatchOptions {
  /** Items in flight at once; keep ≤ the role's threads so items do not wait behind each other. */
  concurrency: number;
  /** Folder relative custom-module and quarantine paths resolve against. Default: process.cwd(). */
  baseDir?: string;
  /** Longest an item may wait for a worker to begin it before it fails as a timeout. Default max(10 s, 3 × deadline). */
  startTimeoutMs?: number;
}

/** Path of the compiled reward actor module next to this file's compiled location. */
export function rewardActorFile(): string {
  return fileURLToPath(new URL('../../actors/reward.js', import.meta.url));
}

/** What became of an item that did not score: the runtime's error, by type. */
function classify(err: unknown, deadlineMs: number): { reason: RewardFailureReason; message: string } {
  if (err instanceof ActorTimeoutError) return { reason: 'timeout', message: `deadline ${deadlineMs} ms exceeded` };
  const cause = err instanceof DeadLetterError ? err.cause : err;
  const message = cause instanceof Error ? cause.message : String(cause);
  return { reason: cause instanceof WorkerCrashError ? 'crash' : 'error', message };
}

/** What every item of one batch shares: the resolved functions, the runner and the deadlines. */
interface BatchContext {
  runner: RewardTaskRunner;
  items: readonly RewardItem[];
  cfg: RewardsConfig;
  funcs: RewardFuncSpec[];
  names: string[];
  kwargs: ReturnType<typeof rewardKwargsOf>;
  deadlineMs: number;
  startTimeoutMs: number;
}

/** Score a batch. Never rejects because of an item: each failure becomes a quarantined failure value. */
export async function scoreBatch(
  runner: RewardTaskRunner,
  items: readonly RewardItem[],
  cfg: RewardsConfig,
  opts: ScoreBatchOptions,
): Promise<RewardBatchScores> {
  const t0 = performance.now();
  const baseDir = opts.baseDir ?? process.cwd();
  const funcs = cfg.reward_funcs.map((s) => absolutizeSpec(s as RewardFuncSpec, baseDir));
  const names = funcs.map(rewardFuncName);
  const weights = rewardWeightsOf(cfg);
  const kwargs = rewardKwargsOf(cfg);
  const deadlineMs = cfg.reward_timeout_s * 1000;
  const results: (ScoreItemResult | null)[] = new Array(items.length).fill(null);
  const failures: RewardItemFailure[] = [];
  const quarantine = createQuarantine(items, cfg, names, deadlineMs, resolve(baseDir, cfg.reward_quarantine_path));
  const startTimeoutMs = opts.startTimeoutMs ?? Math.max(10_000, 3 * deadlineMs);
  const record = (f: RewardItemFailure | null): void => {
    if (!f) return;
    failures.push(f);
    quarantine.write(f.index, f);
  };
  const ctx: BatchContext = { runner, items, cfg, funcs, names, kwargs, deadlineMs, startTimeoutMs };
  await runLanes(items.length, opts.concurrency, (index) => scoreOne(ctx, index, results), record);

  const rewards = collectRewards(ctx, results);
  const total = items.map((_, i) => weightedTotalOf(names, weights, rewards, i));
  failNonFinite(ctx, weights, rewards, total, record);
  failures.sort((a, b) => a.index - b.index);
  await quarantine.flushed();
  return { names, weights, rewards, total, failures, wallMs: performance.now() - t0 };
}

/** The quarantine log: one JSON line per failed item, appended in order, never failing the batch. */
function createQuarantine(
  items: readonly RewardItem[],
  cfg: RewardsConfig,
  names: string[],
  deadlineMs: number,
  quarantinePath: string,
): { write(index: number, f: RewardItemFailure): void; flushed(): Promise<void> } {
  let quarantineChain: Promise<void> = Promise.resolve();
  const write = (index: number, f: RewardItemFailure): void => {
    const item = items[index]!;
    const text = typeof item.completion === 'string' ? item.completion : String(item.completion);
    const record = {
      time: new Date().toISOString(),
      index,
      group: item.group ?? null,
      reason: f.reason,
      error: f.message,
      elapsed_ms: Math.round(f.elapsedMs),
      deadline_ms: deadlineMs,
      funcs: names,
      solution: item.solution,
      completion_chars: text.length,
      completion_sha256: createHash('sha256').update(text).digest('hex'),
      completion: text.slice(0, cfg.reward_quarantine_max_chars),
    };
    const line = JSON.stringify(record) + '\n';
    quarantineChain = quarantineChain
      .then(() => mkdir(dirname(quarantinePath), { recursive: true }))
      .then(() => appendFile(quarantinePath, line))
      .catch((err) => {
        process.emitWarning(`reward quarantine: cannot write ${quarantinePath}: ${(err as Error).message}`);
      });
  };
  return { write, flushed: () => quarantineChain };
}

/** The message that scores item `index`: its text, the functions and their keyword arguments. */
function scoreMessageOf(ctx: BatchContext, index: number): ScoreItemMessage {
  const item = ctx.items[index]!;
  const msg: ScoreItemMessage = {
    completion: item.completion,
    solution: item.solution,
    funcs: ctx.funcs,
    kwargs: ctx.kwargs,
  };
  if (item.prompt !== undefined) msg.prompt = item.prompt;
  if (item.columns) msg.columns = item.columns;
  return msg;
}

/** Score item `index` into `results`; its failure, or null when it scored. */
async function scoreOne(
  ctx: BatchContext,
  index: number,
  results: (ScoreItemResult | null)[],
): Promise<RewardItemFailure | null> {
  const { deadlineMs, startTimeoutMs } = ctx;
  const msg = scoreMessageOf(ctx, index);
  const ac = new AbortController();
  let started = performance.now();
  let begun = false;
  let abortReason: string | null = null;
  // A safety net: an item no worker begins (every worker stuck starting) fails instead of stalling the batch.
  const startTimer = setTimeout(() => {
    if (begun) return;
    abortReason = `not started by a worker within ${startTimeoutMs} ms`;
    ac.abort(new Error(abortReason));
  }, startTimeoutMs);
  const onStart = (): void => {
    begun = true;
    started = performance.now();
  };
  try {
    results[index] = (await ctx.runner.run(msg, {
      name: 'scoreItem',
      deadlineMs,
      signal: ac.signal,
      onStart,
    })) as ScoreItemResult;
    return null;
  } catch (err) {
    const { reason, message } =
      abortReason !== null ? { reason: 'timeout' as const, message: abortReason } : classify(err, deadlineMs);
    return { index, reason, message, elapsedMs: performance.now() - started };
  } finally {
    clearTimeout(startTimer);
  }
}

/** Run `work` on indices 0..count-1 in order, at most `concurrency` at once, passing each outcome to `done`. */
async function runLanes<T>(
  count: number,
  concurrency: number,
  work: (index: number) => Promise<T>,
  done: (outcome: T) => void,
): Promise<void> {
  // A fixed number of lanes pull the next index: at most `concurrency` tasks are ever in flight.
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, async () => {
    while (next < count) done(await work(next++));
  });
  await Promise.all(lanes);
}

/** rewards[name][i] from the items that scored (the failure value otherwise), then the group-scoped lengths. */
function collectRewards(
  ctx: BatchContext,
  results: readonly (ScoreItemResult | null)[],
): Record<string, (number | null)[]> {
  const { items, names, funcs, cfg } = ctx;
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
  return rewards;
}

/** nansum of weight · score for item `i`. */
function weightedTotalOf(
  names: readonly string[],
  weights: number[],
  rewards: Record<string, (number | null)[]>,
  i: number,
): number {
  return nansumWeighted(
    names.map((n) => rewards[n]![i]!),
    weights,
  );
}

/** Fail the items whose weighted total is not finite, in place: failure value, recomputed total, quarantined. */
function failNonFinite(
  ctx: BatchContext,
  weights: number[],
  rewards: Record<string, (number | null)[]>,
  total: number[],
  record: (f: RewardItemFailure) => void,
): void {
  const { names, cfg } = ctx;
  // A weighted total that is not finite (a function returned ±Infinity) would turn its whole group's
  // advantages into NaN: the item fails like a crashed one, scores the failure value, is quarantined.
  total.forEach((v, i) => {
    if (Number.isFinite(v)) return;
    record({
      index: i,
      reason: 'error',
      message: `non-finite total reward ${v} (${names.map((n) => `${n}=${rewards[n]![i]}`).join(', ')})`,
      elapsedMs: 0,
    });
    for (const n of names) rewards[n]![i] = cfg.reward_failure_value;
    total[i] = weightedTotalOf(names, weights, rewards, i);
  });
}

/** A group-scoped length reward per group over the items that scored; failed items keep the failure value. */
function applyGroupLength(
  name: 'length' | 'length_l1_exact' | 'length_l1_max',
  items: readonly RewardItem[],
  results: readonly (ScoreItemResult | null)[],
  out: (number | null)[],
): void {
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
    const vals =
      name === 'length'
        ? computeLengthRewards(chars, correct)
        : (name === 'length_l1_exact' ? computeL1ExactRewards : computeL1MaxRewards)(
            chars,
            correct,
            idx.map((i) => targetLengthOf(items[i]!, name)),
          );
    idx.forEach((i, j) => {
      out[i] = vals[j]!;
    });
  }
}

function targetLengthOf(item: RewardItem, fn: string): number {
  const t = item.columns?.target_length;
  if (typeof t !== 'number')
    throw new Error(
      `${fn}: the item has no numeric target_length column (got ${JSON.stringify(t)}); set data.l1_target_length so each prompt gets a target length`,
    );
  return t;
}

// Reward scoring throughput: completions scored per second per thread, on realistic completions
// (1–3k characters of reasoning built from MATH-500 worked solutions + a boxed answer, half right).
// Usage: npm run bench:rewards [-- --n 300 --threads 1,2 --json out.json]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonl } from '../src/data/jsonl.js';
import { parseRewardsConfig } from '../src/rewards/config.js';
import { BUILTIN_REWARD_NAMES, resolveRewardFunc } from '../src/rewards/registry.js';
import { rewardRoleSpec, rewardRunnerOnActorSystem, scoreBatch, type RewardItem } from '../src/rewards/score-batch.js';
import { ActorSystem } from '../src/runtime/actor-system.js';
import { benchmarksDir } from '../src/util/paths.js';
import { Rng } from '../src/util/rng.js';
import { scriptOptions, UsageError } from '../src/cli/standard-flags.js';

const USAGE = `usage: node dist/tools/bench-rewards.js [--n N] [--threads 1,2,...] [--json FILE]   (npm run bench:rewards)

Reward scoring throughput (completions/s per function, and through the reward pool per thread count)
on realistic completions built from MATH-500 solutions.
  --n N            completions to score (default 240)
  --threads LIST   reward pool sizes to measure (default 1,2)
  --json FILE      also write the report as JSON`;

const { values: opts } = scriptOptions({
  name: 'bench-rewards',
  help: USAGE,
  options: {
    n: { type: 'string', default: '240' },
    threads: { type: 'string', default: '1,2' },
    json: { type: 'string' },
  },
});

async function buildItems(n: number): Promise<RewardItem[]> {
  const { rows } = await readJsonl(join(benchmarksDir(), 'math-evaluation-harness', 'math500_test.jsonl'), {
    strict: true,
  });
  const rng = new Rng(1234);
  const items: RewardItem[] = [];
  for (let i = 0; i < n; i++) {
    const row = rows[i % rows.length]!;
    const target = 1000 + rng.int(2001);
    let reasoning = String(row.solution);
    while (reasoning.length < target)
      reasoning += '\n\nLet me double-check. ' + String(rows[rng.int(rows.length)]!.solution);
    reasoning = reasoning.slice(0, target);
    const answer = rng.next() < 0.5 ? String(row.answer) : String(rows[(i + 7) % rows.length]!.answer);
    items.push({
      completion: `${reasoning}\n</think>\n<answer>\nThe final answer is $\\boxed{${answer}}$.\n</answer>`,
      solution: String(row.solution),
      group: Math.floor(i / 8),
    });
  }
  return items;
}

/** --n and --threads as numbers, checked. */
function parseCounts(): { n: number; threadCounts: number[] } {
  const n = Number(opts.n);
  const threadCounts = opts.threads.split(',').map(Number);
  if (!(Number.isInteger(n) && n > 0)) throw new UsageError(`--n must be a positive integer, got '${opts.n}'`);
  if (!threadCounts.every((k) => Number.isInteger(k) && k > 0))
    throw new UsageError(`--threads must be a comma-separated list of positive integers, got '${opts.threads}'`);
  return { n, threadCounts };
}

/** Completions/s of each builtin reward function, called in-process on groups of 8. */
async function benchFunctions(items: RewardItem[], n: number): Promise<Record<string, number>> {
  const perFunction: Record<string, number> = {};
  console.log('function              completions/s (1 thread, in-process)');
  for (const name of BUILTIN_REWARD_NAMES) {
    const f = await resolveRewardFunc(name, { cosine_max_len: 3584 });
    // the L1 rewards read a target length per completion (Tina samples one per row)
    const ctxOf = (g: RewardItem[]) => ({
      solution: g.map((x) => x.solution),
      target_length: g.map((_, k) => 500 + 400 * k),
    });
    f.fn([items[0]!.completion], ctxOf([items[0]!])); // warm the verifier / JIT
    const t0 = performance.now();
    for (let i = 0; i < n; i += 8) {
      const g = items.slice(i, i + 8);
      f.fn(
        g.map((x) => x.completion),
        ctxOf(g),
      );
    }
    const rate = n / ((performance.now() - t0) / 1000);
    perFunction[name] = Math.round(rate);
    console.log(`${name.padEnd(22)}${rate.toFixed(0).padStart(10)}`);
  }
  return perFunction;
}

/** Tina's open_r1 recipe: all seven functions. */
const POOL_FUNCS = [
  'accuracy',
  'format',
  'tag_count',
  'length',
  'reasoning_steps',
  'cosine',
  'repetition_penalty',
] as const;

/** The reward role on a pool of `threads` workers: completions/s over all items, after a warm-up batch. */
async function benchPoolSize(items: RewardItem[], threads: number) {
  const cfg = parseRewardsConfig({
    reward_funcs: [...POOL_FUNCS],
    cosine_max_len: 3584,
    reward_num_workers: threads,
    reward_quarantine_path: 'bench-quarantine.jsonl',
  });
  const system = await ActorSystem.start({ reward: rewardRoleSpec(cfg) });
  const pool = rewardRunnerOnActorSystem(system);
  await scoreBatch(pool, items.slice(0, 16), cfg, { concurrency: threads }); // warm every worker
  const t0 = performance.now();
  const res = await scoreBatch(pool, items, cfg, { concurrency: threads });
  const rate = items.length / ((performance.now() - t0) / 1000);
  await system.shutdown();
  console.log(
    `${String(threads).padStart(7)}${rate.toFixed(1).padStart(16)}${(rate / threads).toFixed(1).padStart(13)}${String(res.failures.length).padStart(11)}`,
  );
  return {
    threads,
    completionsPerSec: Math.round(rate * 10) / 10,
    perThread: Math.round((rate / threads) * 10) / 10,
    failures: res.failures.length,
  };
}

async function benchPool(items: RewardItem[], threadCounts: number[]): Promise<unknown[]> {
  // 2. The reward role (ActorSystem) with Tina's open_r1 recipe (all seven functions), per-item messages with deadlines.
  console.log(`\npool, funcs = ${POOL_FUNCS.join(',')}`);
  console.log('threads   completions/s   per thread   failures');
  const rows: unknown[] = [];
  for (const threads of threadCounts) rows.push(await benchPoolSize(items, threads));
  return rows;
}

async function main(): Promise<void> {
  const { n, threadCounts } = parseCounts();
  const items = await buildItems(n);
  const meanChars = items.reduce((s, it) => s + it.completion.length, 0) / n;

  // 1. Each function on the main thread (batch-level call per group of 8, as GRPO groups).
  console.log(`completions: ${n}, mean ${meanChars.toFixed(0)} chars\n`);
  const perFunction = await benchFunctions(items, n);
  const pool = await benchPool(items, threadCounts);
  const report = { n, meanChars: Math.round(meanChars), node: process.version, perFunction, pool };
  const json = JSON.stringify(report, null, 2);
  const out = opts.json;
  if (out) writeFileSync(out, json + '\n');
  console.log('\n' + json);
}

await main();

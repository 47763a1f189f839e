// The reward role for real: ActorSystem worker threads over dist/actors/reward.js, per-item deadlines
// counted from each item's start signal, adversarial completions, custom modules that hang or kill
// their thread (on events$: timeouts, crashes, the crash retried once), and the quarantine log.
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRewardsConfig } from '../../src/rewards/config.js';
import {
  rewardRoleSpec,
  rewardRunnerOnActorSystem,
  scoreBatch,
  type RewardItem,
} from '../../src/rewards/score-batch.js';
import type { RewardsConfig } from '../../src/rewards/config.js';
import { ActorSystem, WorkerCrashError, type ActorEvent } from '../../src/runtime/index.js';
import { lengthReward, accuracyReward } from '../../src/rewards/accuracy.js';
import { formatReward } from '../../src/rewards/format.js';

const dir = mkdtempSync(join(tmpdir(), 'loractor-rewards-'));
/** The reward role on its own ActorSystem, the events it emits, and the runner scoreBatch uses. */
async function rewardRole(tt: Test, cfg: RewardsConfig) {
  const system = await ActorSystem.start({ reward: rewardRoleSpec(cfg, dir) });
  tt.teardown(() => system.shutdown({ drain: false }));
  const events: ActorEvent[] = [];
  system.events$.subscribe((e) => events.push(e));
  return { system, events, pool: rewardRunnerOnActorSystem(system) };
}
const good = (ans: string) => `<think>\nStep 1: add.\nStep 2: check.\n</think>\n<answer>\n\\boxed{${ans}}\n</answer>`;

t.test('adversarial completions are scored or quarantined within the deadline; the pool keeps serving', async (tt) => {
  const cfg = parseRewardsConfig({
    reward_funcs: [
      'accuracy',
      'format',
      'format_open_r1',
      'format_566cfd1',
      'tag_count',
      'reasoning_steps',
      'cosine',
      'repetition_penalty',
      'length',
    ],
    reward_num_workers: 2,
    reward_quarantine_path: 'q-adversarial.jsonl',
  });
  const { pool } = await rewardRole(tt, cfg);
  const tenMB = 'Let x = 2. '.repeat(Math.ceil((10 * 1024 * 1024) / 11));
  const adversarial: RewardItem[] = [
    { completion: tenMB + '\n</think>\n\\boxed{4}', solution: '$4$' },
    { completion: '\\boxed{' + '{'.repeat(10000) + '1' + '}'.repeat(10000) + '}', solution: '$1$' },
    { completion: '<think>' + '</think>\t \n'.repeat(200000) + '<answer' + ' '.repeat(10000), solution: '$3$' },
    { completion: '<think>\n' + '\n</think>\n<answer>\n'.repeat(100000) + '\n</answer>x', solution: '$3$' },
    { completion: 'bad \ud800 surrogate \udfff and \\boxed{\ud83d} \n</think>\n', solution: '$2$' },
    { completion: '$' + '\\frac{'.repeat(5000) + '$', solution: '$\\frac{1}{2}$' },
  ];
  const t0 = performance.now();
  const res = await scoreBatch(pool, adversarial, cfg, { concurrency: 2, baseDir: dir });
  const wall = performance.now() - t0;
  tt.comment(
    `adversarial batch: ${wall.toFixed(0)} ms, failures: ${JSON.stringify(res.failures.map((f) => [f.index, f.reason, Math.round(f.elapsedMs)]))}`,
  );
  // 6 items over 2 lanes: at most 3 deadlines in a row per lane, plus worker restarts and I/O (about
  // 13 s); the bound is generous for a loaded CI machine: what it guards against is a batch that waits forever.
  tt.ok(wall < 40_000, `batch finished in ${wall.toFixed(0)} ms`);
  // Deadline 3 s from the item's start, plus room for timer lateness on a loaded machine (a missed
  // deadline would run to the end of the item's work, or forever).
  for (const f of res.failures)
    tt.ok(
      f.elapsedMs < 3000 + 4000,
      `item ${f.index} failed (${f.reason}) within its deadline: ${f.elapsedMs.toFixed(0)} ms`,
    );
  tt.equal(res.total.length, adversarial.length);
  for (const [i, v] of res.total.entries()) tt.ok(Number.isFinite(v), `item ${i} has a finite total ${v}`);
  const failed = new Set(res.failures.map((f) => f.index));
  // Scanner-only functions must have scored the format bait items unless the item as a whole failed.
  if (!failed.has(2)) tt.equal(res.rewards['format_open_r1']![2], 0, 'backtracking bait 1 → no match');
  if (!failed.has(3)) tt.equal(res.rewards['format_566cfd1']![3], 0, 'backtracking bait 2 ends in "x" → no match');
  if (!failed.has(4)) tt.equal(res.rewards['format']![4], 1, 'lone surrogates do not break scoring');
  if (failed.size > 0) {
    const lines = readFileSync(join(dir, 'q-adversarial.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    tt.equal(lines.length, failed.size, 'one quarantine record per failed item');
    for (const rec of lines) {
      tt.ok(
        failed.has(rec.index) &&
          typeof rec.completion === 'string' &&
          rec.completion_chars === adversarial[rec.index]!.completion.length,
        `record for item ${rec.index} carries its text`,
      );
    }
  }
  // The pool still serves normal work with correct scores.
  const normal = await scoreBatch(
    pool,
    [
      { completion: good('4'), solution: '$4$' },
      { completion: good('5'), solution: '$4$' },
    ],
    cfg,
    { concurrency: 2, baseDir: dir },
  );
  tt.same(normal.failures, []);
  tt.same(normal.rewards['accuracy'], [1, 0]);
  tt.same(normal.rewards['format_566cfd1'], [1, 1]);
});

t.test('custom modules that hang or call process.exit are killed at the deadline; others score', async (tt) => {
  writeFileSync(
    join(dir, 'hang.mjs'),
    `export default function hang(completions) {
  if (completions[0].includes('HANG')) { for (;;) {} }
  return completions.map(() => 0.25);
}\n`,
  );
  writeFileSync(
    join(dir, 'exiter.mjs'),
    `export function reward(completions) {
  if (completions[0].includes('EXIT')) process.exit(3);
  return completions.map((c) => c.length % 2);
}\n`,
  );
  const cfg = parseRewardsConfig({
    reward_funcs: ['format', { custom: 'hang.mjs' }, { custom: './exiter.mjs', name: 'parity', export: 'reward' }],
    reward_weights: [1, 2, 4],
    reward_timeout_s: 1,
    reward_failure_value: null,
    reward_num_workers: 2,
    reward_quarantine_path: 'sub/q-custom.jsonl',
  });
  const { pool, events } = await rewardRole(tt, cfg);
  const items: RewardItem[] = [
    { completion: 'ok\n</think>\n', solution: '$1$' },
    { completion: 'HANG', solution: '$1$' },
    { completion: 'EXIT', solution: '$1$' },
    { completion: 'HANG again', solution: '$1$' },
    { completion: 'fine', solution: '$1$' },
    { completion: 'EXIT again', solution: '$1$' },
    { completion: 'odd', solution: '$1$' },
  ];
  const t0 = performance.now();
  const res = await scoreBatch(pool, items, cfg, { concurrency: 2, baseDir: dir });
  const wall = performance.now() - t0;
  tt.comment(
    `custom batch ${wall.toFixed(0)} ms; failures ${JSON.stringify(res.failures.map((f) => [f.index, f.reason, Math.round(f.elapsedMs)]))}`,
  );
  tt.same(
    res.failures.map((f) => [f.index, f.reason]),
    [
      [1, 'timeout'],
      [2, 'crash'],
      [3, 'timeout'],
      [5, 'crash'],
    ],
  );
  // From the item's start: not from queueing (< 1 s), nor a second deadline late (≥ 2 s, with room
  // for timer lateness under load).
  for (const f of res.failures.filter((x) => x.reason === 'timeout'))
    tt.ok(f.elapsedMs >= 990 && f.elapsedMs < 3000, `timeout ${f.index} at ${f.elapsedMs.toFixed(0)} ms`);
  tt.same(res.names, ['format', 'hang', 'parity']);
  tt.same(res.rewards['hang'], [0.25, null, null, null, 0.25, null, 0.25]);
  tt.same(res.rewards['parity'], [0, null, null, null, 0, null, 1]);
  // format·1 + hang·2 + parity·4, with failed items' null terms skipped
  tt.same(res.total, [1 + 0.5 + 0, 0, 0, 0, 0 + 0.5 + 0, 0, 0 + 0.5 + 4], 'nansum skips the failed (null) terms');
  const q = readFileSync(join(dir, 'sub', 'q-custom.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  tt.same(q.map((r) => [r.index, r.reason, r.completion]).sort(), [
    [1, 'timeout', 'HANG'],
    [2, 'crash', 'EXIT'],
    [3, 'timeout', 'HANG again'],
    [5, 'crash', 'EXIT again'],
  ]);
  // Two deadlines (1 s) per worker lane plus four replacement workers, each of which loads and warms the
  // verifier's CAS before it takes an item (1-2 s on a 2-core machine, measured up to 4 s when the machine
  // is loaded): about 10-19 s. A stall waits forever, or 10 s per item for the start timeout.
  tt.ok(wall < 45_000, `never stalled: ${wall.toFixed(0)} ms`);
  // The runtime supervised all of it, on events$: each hang a timeout (not retried), each exit a crash
  // retried once on a fresh worker and then dead-lettered, every killed worker replaced.
  const of = (type: ActorEvent['type']) => events.filter((e) => e.type === type && 'role' in e && e.role === 'reward');
  tt.equal(of('timeout').length, 2, 'two timeouts');
  tt.equal(of('crash').length, 4, 'two exits, each crashed twice (the item and its one retry)');
  for (const e of of('crash'))
    tt.ok(
      (e as { error: Error }).error instanceof WorkerCrashError &&
        /exited with code: 3/.test((e as { error: Error }).error.message),
      'the crash names the exit code',
    );
  tt.equal(of('retry').length, 2, 'each crashed item retried once');
  tt.equal(of('dead-letter').length, 2, 'then dead-lettered');
  tt.equal(of('worker-created').length, 6, 'a fresh worker for each timeout and each crash');
  const again = await scoreBatch(pool, [{ completion: 'ab', solution: '' }], cfg, { concurrency: 2, baseDir: dir });
  tt.same(again.rewards['parity'], [0], 'the pool still serves after kills');
});

t.test(
  'length reward is applied per group on the main side, equal to the batch-level function per group',
  async (tt) => {
    const cfg = parseRewardsConfig({
      reward_funcs: ['length', 'accuracy'],
      reward_weights: [1, 2],
      reward_num_workers: 2,
      reward_quarantine_path: 'q-len.jsonl',
    });
    const { pool } = await rewardRole(tt, cfg);
    const groups = [
      ['\\boxed{4}', 'long long long \\boxed{4}', 'wrong \\boxed{5}'],
      ['\\boxed{7}', '\\boxed{7}'],
    ];
    const sols = ['$4$', '$7$'];
    const items: RewardItem[] = groups.flatMap((g, gi) =>
      g.map((c) => ({ completion: c, solution: sols[gi]!, group: gi })),
    );
    const res = await scoreBatch(pool, items, cfg, { concurrency: 2, baseDir: dir });
    const expected = groups.flatMap((g, gi) => lengthReward(g, { solution: g.map(() => sols[gi]!) }));
    tt.same(res.rewards['length'], expected);
    tt.same(res.rewards['length']!.slice(3), [0, 0], 'equal lengths → 0');
    const acc = accuracyReward(
      items.map((i) => i.completion),
      { solution: items.map((i) => i.solution) },
    );
    tt.same(
      res.total,
      items.map((_, i) => (expected[i] as number) + 2 * (acc[i] as number)),
    );
    tt.notOk(existsSync(join(dir, 'q-len.jsonl')), 'no failures, no quarantine file');
    tt.same(formatReward(['x'], { solution: [''] }), [0]);
  },
);

t.test('a deadline counts from when a worker starts the item, not while it waits for one', async (tt) => {
  writeFileSync(
    join(dir, 'slow.mjs'),
    `export default function slow(completions) {
  const end = Date.now() + 600;
  while (Date.now() < end) {}
  return completions.map(() => 1);
}\n`,
  );
  // One worker, three items in flight: the third waits ~1.2 s for the worker, past the 1 s deadline,
  // yet each item's own scoring (0.6 s) is within it.
  const cfg = parseRewardsConfig({
    reward_funcs: [{ custom: 'slow.mjs' }],
    reward_timeout_s: 1,
    reward_num_workers: 1,
    reward_quarantine_path: 'q-start.jsonl',
  });
  const { pool, events } = await rewardRole(tt, cfg);
  const items: RewardItem[] = [0, 1, 2].map((i) => ({ completion: `c${i}`, solution: '' }));
  const t0 = performance.now();
  const res = await scoreBatch(pool, items, cfg, { concurrency: 3, baseDir: dir });
  tt.ok(performance.now() - t0 >= 3 * 600, 'the three items ran one after another');
  tt.same(res.failures, [], 'no item was charged for its wait');
  tt.same(res.rewards['slow'], [1, 1, 1]);
  tt.notOk(
    events.some((e) => e.type === 'timeout'),
    'no timeout on events$',
  );
});

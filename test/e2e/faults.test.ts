// Fault drills: a rollout worker that exits mid-step, an advantage handler that throws, an evaluator
// that hangs past its deadline; then the learner crashing, throwing and hanging, a corrupted adapter
// publish and a rollout actor that never acknowledges a version. Each run completes, each fault is
// reported, and the results equal a clean run (every role is deterministic). Last, the abort policy.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import { defaultConfig } from '../helpers/cli-run.js';

const root = repoRoot();
const base = defaultConfig();
// The drills that are not about evaluation or later steps skip them: each run pays only what it tests.
const noEval = { eval: { ...base.eval, eval_steps: 0, eval_before_training: false } };
const TIMING = /^(time\/|elapsed_s$|.*tokens_per_s$|.*time_to_first_token_s$|sync\/latency_s$)/;

function runWith(
  dir: string,
  name: string,
  extra: Record<string, unknown>,
): { status: number | null; stderr: string; metrics: Record<string, unknown>[] } {
  const cfg = {
    ...base,
    run: { ...base.run, max_steps: 3, checkpoint_every: 0 },
    grpo: { ...base.grpo, max_steps: 3, prompts_per_step: 4, num_generations: 4, per_device_train_batch_size: 16 },
    // A small held-out set: the drills need evaluations to happen (and to hang), not to be large.
    eval: { ...base.eval, synthetic_count: 8, batch_size: 8, eval_steps: 2 },
    ...extra,
  };
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(cfg));
  const out = join(dir, name);
  const r = spawnSync(process.execPath, [join(root, 'dist/main.js'), `--actors=${path}`, '--out', out], {
    cwd: root,
    encoding: 'utf8',
    timeout: 300_000,
  });
  const metrics = existsSync(join(out, 'metrics.jsonl'))
    ? readFileSync(join(out, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => Object.fromEntries(Object.entries(JSON.parse(l)).filter(([k]) => !TIMING.test(k))))
    : [];
  return { status: r.status, stderr: r.stderr, metrics };
}

t.test(
  'the run survives crashing, throwing and hanging actors of every stateful role, a corrupted publish and a late reader',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'loractor-faults-'));
    const clean = runWith(dir, 'clean', {});
    t.equal(clean.status, 0, clean.stderr.slice(-300));
    const faulty = runWith(dir, 'faulty', {
      actors: { evaluator: { deadline_ms: 4000 } },
      faults: [
        { role: 'rollout', handler: 'generate', mode: 'exit', at: 2 },
        { role: 'advantage', handler: 'admitGroups', mode: 'throw', at: 1 },
        { role: 'evaluator', handler: 'evaluate', mode: 'hang', at: 2 },
        { role: 'reward', handler: 'scoreItem', mode: 'exit', at: 5 },
      ],
    });
    t.equal(faulty.status, 0, `run completes ${faulty.stderr.slice(-600)}`);
    t.match(faulty.stderr, /actor event: crash in rollout-0\.generate/, 'worker exit reported');
    t.match(
      faulty.stderr,
      /actor event: handler-error in advantage\.admitGroups: injected fault/,
      'thrown error reported',
    );
    t.match(faulty.stderr, /actor event: timeout in evaluator\.evaluate/, 'hang past the deadline reported');
    t.match(faulty.stderr, /actor event: retry in rollout-0\.generate/, 'retried');
    // The reward role is supervised like the others: its crash is an ActorSystem event, retried on a fresh worker.
    t.match(
      faulty.stderr,
      /actor event: crash in reward\.scoreItem: worker exited with code: 70/,
      'reward worker exit reported',
    );
    t.match(faulty.stderr, /actor event: retry in reward\.scoreItem/, 'and the item scored again');
    t.same(faulty.metrics, clean.metrics, 'same rewards, losses, versions as the clean run');
    const evals = (name: string) =>
      readFileSync(join(dir, name, 'eval-summary.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).average_pass_at_1);
    t.same(evals('faulty'), evals('clean'), 'same evaluations');

    // The learner, at every point of a step: step 1 dies after publishing (state not committed), step 2
    // throws after committing (its reply lost: replayed), step 3's worker exits before the handler, the
    // retry hangs past the deadline, the next retry throws after publishing (state half-updated: rolled
    // back in the same worker), the last retry succeeds. Step 1's final publish is corrupted in shared
    // memory; rollout-0 never answers the sync of version 2. The hang and the late reader each cost
    // their whole deadline in wall time: 10 s for a learner step (a normal one takes about 1 s on a
    // loaded 2-core machine) and 5 s for a sync (normally tens of ms).
    const learner = runWith(dir, 'learner', {
      run: { ...base.run, max_steps: 3, checkpoint_every: 0, sync_timeout_s: 5 },
      actors: { learner: { deadline_ms: 10000, retries: 3 } },
      faults: [
        { role: 'learner', handler: 'afterPublish', mode: 'exit', at: 1 },
        { role: 'learner', handler: 'afterCommit', mode: 'throw', at: 2 },
        { role: 'learner', handler: 'trainStep', mode: 'exit', at: 5 },
        { role: 'learner', handler: 'trainStep', mode: 'hang', at: 6 },
        { role: 'learner', handler: 'afterPublish', mode: 'throw', at: 4 },
        { role: 'learner', handler: 'publish', mode: 'corrupt', at: 2 },
        { role: 'rollout', handler: 'sync', mode: 'hang', at: 3 },
      ],
    });
    t.equal(learner.status, 0, `run completes ${learner.stderr.slice(-800)}`);
    t.equal(
      (learner.stderr.match(/actor event: crash in learner\.trainStep/g) ?? []).length,
      2,
      'both learner exits reported',
    );
    t.match(
      learner.stderr,
      /actor event: handler-error in learner\.trainStep: injected fault: learner\.afterCommit call 2/,
      'throw after the commit reported',
    );
    t.match(
      learner.stderr,
      /actor event: handler-error in learner\.trainStep: injected fault: learner\.afterPublish call 4/,
      'throw after the publish reported',
    );
    t.match(learner.stderr, /actor event: timeout in learner\.trainStep/, 'learner hang reported');
    t.match(
      learner.stderr,
      /weight sync: rollout-0 rejected version 1 \(rollout rollout-0: adapter version 1 failed checksum verification/,
      'corrupted version rejected by the reader',
    );
    t.match(learner.stderr, /weight sync: version 1 republished by the learner/, 'and republished');
    t.match(
      learner.stderr,
      /weight sync: rollout-0 did not acknowledge version 2 within 5000 ms \(last acknowledged v1\)/,
      'the late reader is named',
    );
    const rejected = learner.metrics.map((m) => m.sync_rejected);
    t.same(rejected, [1, 0, 0], 'the rejected sync is counted at step 1');
    const strip = (ms: Record<string, unknown>[]) => ms.map(({ sync_rejected: _, ...m }) => m);
    t.same(strip(learner.metrics), strip(clean.metrics), 'same rewards, losses, versions as the clean run');
    t.same(evals('learner'), evals('clean'), 'same evaluations');
  },
);

t.test('a reward that hangs past its deadline scores the failure value, is quarantined and reported', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loractor-reward-hang-'));
  const r = runWith(dir, 'hang', {
    ...noEval,
    run: { ...base.run, max_steps: 2, checkpoint_every: 0 },
    rewards: { ...base.rewards, reward_timeout_s: 2 },
    faults: [{ role: 'reward', handler: 'scoreItem', mode: 'hang', at: 20 }],
  });
  t.equal(r.status, 0, r.stderr.slice(-600));
  t.match(r.stderr, /actor event: timeout in reward\.scoreItem/);
  t.match(r.stderr, /reward: completion \d+ failed \(timeout: deadline 2000 ms exceeded\); scored 0 and quarantined/);
  // (On a badly overloaded machine another item may also miss the deadline: at least the drill's.)
  t.ok((r.metrics[1]?.reward_failures as number) >= 1, 'counted at step 2 (the 20th completion scored is in step 2)');
  const q = readFileSync(join(dir, 'hang', 'reward_quarantine.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.ok(q.length >= 1 && q.every((x) => x.reason === 'timeout'), 'quarantined as a timeout');
});

t.test('a run whose rewards cannot be scored aborts with a clear message', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loractor-abort-'));
  const broken = join(dir, 'broken-reward.mjs');
  writeFileSync(broken, 'export default function broken() { throw new Error("reward service unreachable"); }\n');
  const r = runWith(dir, 'abort', {
    ...noEval,
    rewards: { ...base.rewards, reward_funcs: ['format', { custom: broken }], reward_weights: [1, 2] },
  });
  t.equal(r.status, 1, 'exit code 1');
  t.match(
    r.stderr,
    /run aborted at step 1: 16 of 16 completions could not be scored \(100% > run\.max_reward_failure_rate 0\.5\)/,
    r.stderr.slice(-600),
  );
  t.equal(r.metrics.length, 0, 'no step was trained on unscored rollouts');
});

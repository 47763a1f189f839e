// Nothing lost: a run killed with SIGKILL and resumed from its newest checkpoint ends with the same
// adapter (byte for byte) and the same per-step metrics as an uninterrupted run, no step counted
// twice in the logs' current view (records are only appended: the redone steps' records supersede the
// interrupted attempt's, which stay in the file); a corrupted checkpoint is refused with a message and
// the previous one is used. Each staleness kills one run twice (early, then the resumed run late), so
// the final comparison also covers resuming a run that was itself resumed, with one run fewer. The
// async run (max_staleness 1) is also held up and slowed in every attempt, so the same comparison
// shows that timing cannot change an async run either (no run of its own for that).
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import { Rng } from '../../src/util/rng.js';
import { readLatestRecords, readRecordLines, readStepMetrics, recordKeys } from '../../src/report/records.js';
import { defaultConfig } from '../helpers/cli-run.js';

const root = repoRoot();
const main = join(root, 'dist/main.js');
const base = defaultConfig();
const STEPS = 6;

function writeConfig(dir: string, maxStaleness = 0): string {
  const cfg = {
    ...base,
    run: { ...base.run, max_steps: STEPS, checkpoint_every: 2 },
    grpo: {
      ...base.grpo,
      max_steps: STEPS,
      prompts_per_step: 4,
      num_generations: 4,
      per_device_train_batch_size: 16,
      max_staleness: maxStaleness,
    },
    eval: { ...base.eval, synthetic_count: 8, batch_size: 8, eval_steps: 3, eval_before_training: true },
  };
  const path = join(dir, 'config.json');
  writeFileSync(path, JSON.stringify(cfg));
  return path;
}

// Timing fields differ between any two runs; everything else must match exactly.
const TIMING = /^(time\/|elapsed_s$|.*tokens_per_s$|.*time_to_first_token_s$|sync\/latency_s$)/;
function deterministicMetrics(dir: string): Record<string, unknown>[] {
  return readStepMetrics(dir).map((m) => Object.fromEntries(Object.entries(m).filter(([k]) => !TIMING.test(k))));
}

/** rollouts.jsonl without the sync latency: every trajectory trained on, with its provenance. */
function trajectories(dir: string): Record<string, unknown>[] {
  return readLatestRecords(join(dir, 'rollouts.jsonl'), recordKeys.rollouts).map((l) => {
    const { sync_latency_ms: _, ...r } = l;
    return r;
  });
}

function run(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [main, ...args], { cwd: root, encoding: 'utf8', timeout: 300_000 });
  return { status: r.status, stderr: r.stderr };
}

/** The newest step recorded in metrics.jsonl (0 if none; a line torn by a write in progress is ignored). */
function lastStep(out: string): number {
  const steps = readRecordLines(join(out, 'metrics.jsonl')).map((r) => r.step as number);
  return steps.length ? steps[steps.length - 1]! : 0;
}

/**
 * Start (or resume) a run and SIGKILL the whole process once this attempt has recorded step
 * `afterStep` and checkpoint `ckpt` exists (a resumed attempt's records follow the killed one's, and
 * the step it redoes first is below `afterStep`, so the newest record is always this attempt's).
 */
async function runAndKill(args: string[], out: string, afterStep: number, ckpt: number): Promise<string> {
  const child = spawn(process.execPath, [main, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      // Records are written just before a checkpoint is sealed: also wait for the checkpoint.
      if (lastStep(out) >= afterStep && existsSync(join(out, `checkpoint-${ckpt}`))) {
        clearInterval(timer);
        child.kill('SIGKILL');
      }
    }, 20);
    child.on('close', () => {
      clearInterval(timer);
      resolve(stderr);
    });
    child.on('error', reject);
  });
}

/** The uninterrupted run of each staleness, run once and shared by the tests that compare against it. */
const cleanRuns = new Map<
  number,
  { dir: string; config: string; clean: string; status: number | null; stderr: string }
>();
function cleanRun(staleness: number) {
  let c = cleanRuns.get(staleness);
  if (!c) {
    const dir = mkdtempSync(join(tmpdir(), 'loractor-resume-'));
    const config = writeConfig(dir, staleness);
    const clean = join(dir, 'clean');
    c = { dir, config, clean, ...run([`--actors=${config}`, '--out', clean]) };
    cleanRuns.set(staleness, c);
  }
  return c;
}

/**
 * The configs of the attempts of the killed run: the clean config for max_staleness 0; for
 * max_staleness 1, variants that hold up the rollouts and slow the learner (fault drills of mode
 * 'delay'). The coordinator names the exact policy version of every rollout, so timing cannot change
 * the run: the requests made ahead (rollout calls 2 and 3 of the first attempt: step 2 asked during
 * step 1, step 3 during step 2; the first call of each resumed attempt, which is made ahead too) are
 * held up 3 s each, long enough for the learner to publish the next version first, and a learner step
 * is slowed (the rollouts then run ahead of it). An engine that took the newest version at the start of
 * a request would generate those steps from other versions, and the comparison with the clean run fails.
 */
function attemptConfigs(dir: string, config: string, staleness: number): [string, string] {
  if (staleness === 0) return [config, config];
  const cfg = JSON.parse(readFileSync(config, 'utf8'));
  const delay = (role: string, handler: string, at: number, ms: number) => ({
    role,
    handler,
    mode: 'delay',
    at,
    delay_ms: ms,
  });
  const first = join(dir, 'delayed-1.json');
  writeFileSync(
    first,
    JSON.stringify({
      ...cfg,
      faults: [
        delay('rollout', 'generate', 2, 3000),
        delay('rollout', 'generate', 3, 3000),
        delay('learner', 'trainStep', 4, 1500),
      ],
    }),
  );
  const resumed = join(dir, 'delayed-2.json');
  writeFileSync(
    resumed,
    JSON.stringify({ ...cfg, faults: [delay('rollout', 'generate', 1, 3000), delay('learner', 'trainStep', 2, 1500)] }),
  );
  return [first, resumed];
}

for (const staleness of [0, 1]) {
  const what = staleness ? ', rollouts held up and the learner slowed in every attempt' : '';
  t.test(`kill -9 mid-run and resume equals the uninterrupted run (max_staleness ${staleness}${what})`, async (t) => {
    const { dir, config, clean, status, stderr } = cleanRun(staleness);
    t.equal(status, 0, `clean run exits 0 ${stderr.slice(-400)}`);
    const cleanMetrics = deterministicMetrics(clean);
    t.equal(cleanMetrics.length, STEPS);
    t.equal(trajectories(clean).length, STEPS * 16, 'one trajectory record per completion');
    const [firstConfig, resumeConfig] = attemptConfigs(dir, config, staleness);
    // Kill points drawn at random (seeded, so a failure reproduces): one early, one late.
    const rng = new Rng(1000 + staleness);
    const killPoints = [2 + rng.int(2), 4 + rng.int(2)]; // the first checkpoint is at step 2
    t.comment(`killing after steps ${killPoints.join(' and ')}`);
    const out = join(dir, 'killed');
    await runAndKill([`--actors=${firstConfig}`, '--out', out], out, killPoints[0]!, 2);
    for (const [i, killAt] of killPoints.entries()) {
      const before = Object.fromEntries(
        ['metrics.jsonl', 'rollouts.jsonl', 'eval-summary.jsonl'].map((f) => [f, readFileSync(join(out, f))]),
      );
      const resumeArgs = [`--actors=${resumeConfig}`, `--resume=${out}`];
      // The first resume is itself killed late (after checkpoint-4); the second runs to the end.
      const last = i + 1 === killPoints.length;
      const r = last
        ? run(resumeArgs)
        : { status: 0, stderr: await runAndKill(resumeArgs, out, killPoints[i + 1]!, 4) };
      if (last) t.equal(r.status, 0, `resume after kill at step ${killAt} exits 0 ${r.stderr.slice(-400)}`);
      // Killed after step 2 (its checkpoint sealed), the run resumes from exactly there.
      const resumedAt = killAt === 2 ? 'checkpoint-2 at step 3' : 'checkpoint-\\d+ at step \\d+';
      t.match(
        r.stderr,
        new RegExp(`resume: continuing from .*${resumedAt}`),
        `says where it resumed after the kill at step ${killAt}`,
      );
      for (const [f, bytes] of Object.entries(before)) {
        const after = readFileSync(join(out, f));
        // A line torn by the kill is ended with a newline before anything is appended.
        const kept =
          bytes.length && bytes[bytes.length - 1] !== 0x0a ? Buffer.concat([bytes, Buffer.from('\n')]) : bytes;
        t.ok(
          after.subarray(0, kept.length).equals(kept),
          `${f}: what the run killed after step ${killAt} wrote is kept, the resumed run only appended`,
        );
        if (f === 'metrics.jsonl')
          t.ok(after.length > kept.length, `${f}: the resumed run appended after the kill at step ${killAt}`);
      }
    }
    const a = readFileSync(join(clean, `checkpoint-${STEPS}`, 'adapter_model.safetensors'));
    const b = readFileSync(join(out, `checkpoint-${STEPS}`, 'adapter_model.safetensors'));
    t.ok(a.equals(b), `final adapter identical byte for byte (killed after ${killPoints.join(' and ')} steps)`);
    t.same(
      deterministicMetrics(out),
      cleanMetrics,
      'metrics equal, each step exactly once (rewards, losses, policy versions, version lags)',
    );
    t.same(
      trajectories(out),
      trajectories(clean),
      'every trajectory exactly once, same provenance (policy version), rewards and advantages',
    );
    const evalVersions = (d: string) =>
      readLatestRecords(join(d, 'eval-summary.jsonl'), recordKeys.evalSummary).map((l) => l.version);
    t.same(evalVersions(out), evalVersions(clean), 'evaluations neither lost nor repeated');
    if (staleness > 0)
      t.ok(
        deterministicMetrics(out)
          .slice(1)
          .every((m) => m.version_lag === 1),
        'the rollouts still overlapped training (lag 1 from step 2 on)',
      );
  });
}

t.test('a corrupted or truncated checkpoint is refused and the previous one used', async (t) => {
  // A copy of the clean run (checkpoints 2, 4, 6): no run of its own is needed to get checkpoints.
  const { dir, config, clean, status } = cleanRun(0);
  t.equal(status, 0, 'the clean run exists');
  const out = join(dir, 'corrupted');
  cpSync(clean, out, { recursive: true });
  const adapter = join(out, `checkpoint-${STEPS}`, 'adapter_model.safetensors');
  const bytes = readFileSync(adapter);
  bytes[bytes.length - 3] ^= 0x40; // flip one bit of the last tensor
  writeFileSync(adapter, bytes);
  const r = run([`--actors=${config}`, `--resume=${out}`]);
  t.equal(r.status, 0, r.stderr.slice(-400));
  t.match(
    r.stderr,
    new RegExp(`skipped .*checkpoint-${STEPS}: adapter_model\\.safetensors fails its sha256 check`),
    'corruption named',
  );
  t.match(r.stderr, /continuing from .*checkpoint-4 at step 5/, 'falls back to checkpoint-4');
  t.ok(
    readFileSync(adapter).equals(readFileSync(join(clean, `checkpoint-${STEPS}`, 'adapter_model.safetensors'))),
    'the redone steps rewrite the clean adapter',
  );
  const opt = join(out, `checkpoint-${STEPS}`, 'optimizer.bin');
  writeFileSync(opt, readFileSync(opt).subarray(0, 100)); // truncate
  const none = run([`--actors=${config}`, `--resume=${join(out, `checkpoint-${STEPS}`)}`, '--max-steps', '8']);
  t.not(none.status, 0, 'a lone truncated checkpoint cannot be resumed');
  t.match(none.stderr, /optimizer\.bin has 100 bytes, manifest says \d+ \(truncated\?\)/, 'truncation named');
});

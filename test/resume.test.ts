// Nothing lost: a run killed with SIGKILL and resumed from its newest checkpoint ends with the same
// adapter (byte for byte) and the same per-step metrics as an uninterrupted run, no step counted
// twice in the logs' current view (records are only appended: the redone steps' records supersede the
// interrupted attempt's, which stay in the file); a corrupted checkpoint is refused with a message and
// the previous one is used.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../src/util/paths.js';
import { Rng } from '../src/util/rng.js';
import { readLatestRecords, readStepMetrics, recordKeys } from '../src/report/records.js';
import { defaultConfig } from './cli-run.js';

const root = repoRoot();
const main = join(root, 'dist/main.js');
const hasModel = existsSync(join(root, 'models/tiny/model.safetensors'));
const base = defaultConfig();
const STEPS = 6;

function writeConfig(dir: string, maxStaleness = 0): string {
  const cfg = {
    ...base,
    run: { ...base.run, max_steps: STEPS, checkpoint_every: 2 },
    grpo: { ...base.grpo, max_steps: STEPS, prompts_per_step: 4, num_generations: 4, per_device_train_batch_size: 16, max_staleness: maxStaleness },
    eval: { ...base.eval, synthetic_count: 20, batch_size: 20, eval_steps: 3, eval_before_training: true },
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

/** Start a run and SIGKILL the whole process once `afterSteps` steps are in metrics.jsonl (and checkpoint-2 exists). */
async function runAndKill(config: string, out: string, afterSteps: number): Promise<void> {
  const child = spawn(process.execPath, [main, `--actors=${config}`, '--out', out], { cwd: root, stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      const f = join(out, 'metrics.jsonl');
      const n = existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).length : 0;
      // Records are written just before a checkpoint is sealed: also wait for the first checkpoint.
      if (n >= afterSteps && existsSync(join(out, 'checkpoint-2'))) { clearInterval(timer); child.kill('SIGKILL'); }
    }, 20);
    child.on('exit', () => { clearInterval(timer); resolve(); });
    child.on('error', reject);
  });
}

for (const staleness of [0, 1]) {
  t.test(`kill -9 mid-run and resume equals the uninterrupted run (max_staleness ${staleness})`, { skip: hasModel ? false : 'models/tiny not present' }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'loractor-resume-'));
    const config = writeConfig(dir, staleness);
    const clean = join(dir, 'clean');
    const r0 = run([`--actors=${config}`, '--out', clean]);
    t.equal(r0.status, 0, `clean run exits 0 ${r0.stderr.slice(-400)}`);
    const cleanMetrics = deterministicMetrics(clean);
    t.equal(cleanMetrics.length, STEPS);
    t.equal(trajectories(clean).length, STEPS * 16, 'one trajectory record per completion');
    // Kill points drawn at random (seeded, so a failure reproduces): one early, one late.
    const rng = new Rng(1000 + staleness);
    const killPoints = [2 + rng.int(2), 4 + rng.int(2)]; // the first checkpoint is at step 2
    t.comment(`killing after steps ${killPoints.join(' and ')}`);
    for (const killAt of killPoints) {
      const out = join(dir, `killed-${killAt}`);
      await runAndKill(config, out, killAt);
      const before = Object.fromEntries(['metrics.jsonl', 'rollouts.jsonl', 'eval-summary.jsonl'].map((f) => [f, readFileSync(join(out, f))]));
      const r = run([`--actors=${config}`, `--resume=${out}`]);
      t.equal(r.status, 0, `resume after kill at step ${killAt} exits 0 ${r.stderr.slice(-400)}`);
      t.match(r.stderr, /resume: continuing from .*checkpoint-\d+ at step \d+/, 'says where it resumed');
      const a = readFileSync(join(clean, `checkpoint-${STEPS}`, 'adapter_model.safetensors'));
      const b = readFileSync(join(out, `checkpoint-${STEPS}`, 'adapter_model.safetensors'));
      t.ok(a.equals(b), `final adapter identical byte for byte (killed after ${killAt} steps)`);
      t.same(deterministicMetrics(out), cleanMetrics, 'metrics equal, each step exactly once');
      t.same(trajectories(out), trajectories(clean), 'every trajectory exactly once, same provenance, rewards and advantages');
      const evalVersions = (d: string) => readLatestRecords(join(d, 'eval-summary.jsonl'), recordKeys.evalSummary).map((l) => l.version);
      t.same(evalVersions(out), evalVersions(clean), 'evaluations neither lost nor repeated');
      for (const [f, bytes] of Object.entries(before)) {
        const after = readFileSync(join(out, f));
        // A line torn by the kill is ended with a newline before anything is appended.
        const kept = bytes.length && bytes[bytes.length - 1] !== 0x0a ? Buffer.concat([bytes, Buffer.from('\n')]) : bytes;
        t.ok(after.subarray(0, kept.length).equals(kept), `${f}: what the killed run wrote is kept, the resumed run only appended`);
      }
    }
  });
}

t.test('a corrupted or truncated checkpoint is refused and the previous one used', { skip: hasModel ? false : 'models/tiny not present' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loractor-corrupt-'));
  const config = writeConfig(dir);
  const out = join(dir, 'run');
  t.equal(run([`--actors=${config}`, '--out', out, '--max-steps', '4']).status, 0);
  const adapter = join(out, 'checkpoint-4', 'adapter_model.safetensors');
  const bytes = readFileSync(adapter);
  bytes[bytes.length - 3] ^= 0x40; // flip one bit of the last tensor
  writeFileSync(adapter, bytes);
  const r = run([`--actors=${config}`, `--resume=${out}`, '--max-steps', '6']);
  t.equal(r.status, 0, r.stderr.slice(-400));
  t.match(r.stderr, /skipped .*checkpoint-4: adapter_model\.safetensors fails its sha256 check/, 'corruption named');
  t.match(r.stderr, /continuing from .*checkpoint-2 at step 3/, 'falls back to checkpoint-2');
  const opt = join(out, 'checkpoint-6', 'optimizer.bin');
  writeFileSync(opt, readFileSync(opt).subarray(0, 100)); // truncate
  const none = run([`--actors=${config}`, `--resume=${join(out, 'checkpoint-6')}`, '--max-steps', '8']);
  t.not(none.status, 0, 'a lone truncated checkpoint cannot be resumed');
  t.match(none.stderr, /optimizer\.bin has 100 bytes, manifest says \d+ \(truncated\?\)/, 'truncation named');
});

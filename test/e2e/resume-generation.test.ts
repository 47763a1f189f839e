// Resume after kill -9 stays lossless with generation batches that outlive an optimizer step:
// num_iterations 2 and steps_per_generation 2 (each batch trained on over four steps, against old
// log-probs taken before its first), and dynamic_sampling 'refill' (several generation rounds per
// batch). The batch in use, its old log-probs and the refill pool are in the checkpoint, so a run
// killed mid-batch and resumed ends with the same adapter, byte for byte, and the same metrics and
// trajectories as an uninterrupted one. (test/e2e/resume.test.ts covers the default plan.)
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import { readStepMetrics } from '../../src/report/records.js';

const root = repoRoot();
const main = join(root, 'dist/main.js');
const base = JSON.parse(readFileSync(join(root, 'configs/default.json'), 'utf8'));
const STEPS = 6;

const TIMING = /^(time\/|elapsed_s$|.*tokens_per_s$|.*time_to_first_token_s$|sync\/latency_s$)/;
const lines = (f: string) =>
  readFileSync(f, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
// metrics.jsonl is append-only: a step redone after a resume supersedes its earlier record (last wins).
const metrics = (d: string) =>
  readStepMetrics(d).map((m) => Object.fromEntries(Object.entries(m).filter(([k]) => !TIMING.test(k))));
const trajectories = (d: string) => lines(join(d, 'rollouts.jsonl')).map(({ sync_latency_ms: _, ...r }) => r);

async function runAndKill(config: string, out: string, afterSteps: number): Promise<void> {
  const child = spawn(process.execPath, [main, `--actors=${config}`, '--out', out], { cwd: root, stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      const f = join(out, 'metrics.jsonl');
      const n = existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).length : 0;
      if (n >= afterSteps && existsSync(join(out, 'checkpoint-2'))) {
        clearInterval(timer);
        child.kill('SIGKILL');
      }
    }, 20);
    child.on('exit', () => {
      clearInterval(timer);
      resolve();
    });
    child.on('error', reject);
  });
}

t.test(
  'kill -9 mid-batch and resume equals the uninterrupted run (num_iterations 2, steps_per_generation 2, refill)',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'loractor-resume-gen-'));
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        ...base,
        model: { ...base.model, path: join(root, 'models/tiny') },
        run: { ...base.run, max_steps: STEPS, checkpoint_every: 2 },
        grpo: {
          ...base.grpo,
          max_steps: STEPS,
          prompts_per_step: 4,
          num_generations: 4,
          per_device_train_batch_size: 16,
          num_iterations: 2,
          steps_per_generation: 2,
          dynamic_sampling: 'refill',
          max_num_gen_batches: 3,
        },
        eval: { ...base.eval, synthetic_count: 20, batch_size: 20, eval_steps: 3, eval_before_training: false },
        // A generous scoring deadline: a timed-out reward would make the runs differ for reasons of load, not of resume.
        rewards: { ...base.rewards, reward_timeout_s: 120 },
      }),
    );
    const clean = join(dir, 'clean');
    const r0 = spawnSync(process.execPath, [main, `--actors=${config}`, '--out', clean], {
      cwd: root,
      encoding: 'utf8',
      timeout: 600_000,
    });
    t.equal(r0.status, 0, `clean run exits 0 ${r0.stderr.slice(-400)}`);
    const cleanMetrics = metrics(clean);
    t.same(
      cleanMetrics.map((m) => [m.generation_batch, m.iteration]),
      [
        [0, 0],
        [0, 0],
        [0, 1],
        [0, 1],
        [1, 0],
        [1, 0],
      ],
      'each generation batch spans four steps',
    );
    t.ok(
      cleanMetrics.every((m) => m.frac_reward_zero_std === 0),
      'refill: no zero-std group trained on',
    );
    // Killed after step 3: checkpoint-2 holds generation batch 0 half used, with its old log-probs.
    const out = join(dir, 'killed');
    await runAndKill(config, out, 3);
    const state = JSON.parse(readFileSync(join(out, 'checkpoint-2', 'loractor_state.json'), 'utf8')) as {
      pending_rollout?: { buffer?: { old?: unknown[] }[] };
    };
    t.ok(
      state.pending_rollout?.buffer?.[0]?.old?.length,
      'the checkpoint carries the batch in use with its old log-probs',
    );
    const r = spawnSync(process.execPath, [main, `--actors=${config}`, `--resume=${out}`], {
      cwd: root,
      encoding: 'utf8',
      timeout: 600_000,
    });
    t.equal(r.status, 0, `resume exits 0 ${r.stderr.slice(-400)}`);
    const a = readFileSync(join(clean, `checkpoint-${STEPS}`, 'adapter_model.safetensors'));
    const b = readFileSync(join(out, `checkpoint-${STEPS}`, 'adapter_model.safetensors'));
    t.ok(a.equals(b), 'final adapter identical byte for byte');
    t.same(metrics(out), cleanMetrics, 'metrics equal, each step exactly once');
    t.same(trajectories(out), trajectories(clean), 'every trajectory exactly once');
  },
);

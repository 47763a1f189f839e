// The default config with model.engine "webgpu" (SwiftShader in CI) trains for 3 steps (at 4 prompts
// per step, so SwiftShader fits CI's budget): rollouts come from the batched GPU engine (provenance
// says so, with the policy version of every step), the learner gets finite losses, each step's
// adapter version reaches the engine, and model.rollout_weight_dtype sets its weights' storage.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import { useSwiftShaderIfNoDriver } from '../helpers/gpu-helpers.js';

const root = repoRoot();

t.test('default config with model.engine "webgpu": 3 steps', async (t) => {
  useSwiftShaderIfNoDriver();
  const dir = mkdtempSync(join(tmpdir(), 'loractor-engine-webgpu-'));
  const cfg = JSON.parse(readFileSync(join(root, 'configs/default.json'), 'utf8'));
  cfg.model.path = join(root, 'models/tiny');
  cfg.model.engine = 'webgpu';
  cfg.model.rollout_weight_dtype = 'f32';
  // 4 prompts × G 8 per step instead of 16 × 8: every phase of the engine (prefill, decode with slot
  // refill, GPU sampling, adapter version switch) still runs, at a quarter of SwiftShader's time.
  cfg.grpo = { ...cfg.grpo, prompts_per_step: 4, per_device_train_batch_size: 32 };
  // The evaluator (builtin engine) on a few problems only: this test is about the rollouts.
  cfg.eval = { ...cfg.eval, synthetic_count: 8, batch_size: 8 };
  // A loaded CI machine must not turn scoring into timeouts (the 3 s default is math_verify's).
  cfg.rewards = { ...cfg.rewards, reward_timeout_s: 60 };
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(cfg));
  const out = join(dir, 'run');
  const r = spawnSync(
    process.execPath,
    [join(root, 'dist/main.js'), `--actors=${file}`, '--max-steps', '3', '--out', out],
    { cwd: root, encoding: 'utf8', timeout: 600_000, env: process.env },
  );
  t.equal(r.status, 0, `run exits 0 (${r.stderr.slice(-600)})`);
  t.match(
    r.stderr,
    /rollout-0: engine webgpu \(.*; weights f32/,
    'the rollout actor says it runs the webgpu engine, with f32 weights as configured',
  );
  const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number>);
  t.equal(metrics.length, 3, 'three steps');
  for (const m of metrics) {
    t.ok(
      Number.isFinite(m.loss) && Number.isFinite(m.kl) && Number.isFinite(m.grad_norm) && m.grad_norm! > 0,
      `step ${m.step}: loss ${m.loss}, kl ${m.kl}, grad_norm ${m.grad_norm}`,
    );
  }
  const rollouts = readFileSync(join(out, 'rollouts.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(rollouts.length, 3 * 4 * 8, 'every trajectory recorded');
  t.ok(
    rollouts.every((x) => x.engine === 'webgpu'),
    'every trajectory came from the webgpu engine',
  );
  for (let step = 1; step <= 3; step++) {
    const versions = new Set(rollouts.filter((x) => x.step === step).map((x) => x.policy_version));
    t.same([...versions], [step - 1], `step ${step} rollouts on policy version ${step - 1}`);
  }
});

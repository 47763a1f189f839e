// The default config with learner.device "webgpu" (SwiftShader in CI) for 3 steps (at 4 prompts per
// step, so SwiftShader fits CI's budget) beside the same run on the cpu learner: loss and kl within
// 1e-4, grad_norm within 1e-4 relative, and the GPU learner's adapter checkpoint equal to the cpu
// one's within f32 noise.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import { loadAdapterPeft } from '../../src/model/peft.js';
import { readQwen2Config } from '../../src/model/config.js';
import { relError, useSwiftShaderIfNoDriver } from '../helpers/gpu-helpers.js';

const root = repoRoot();

function train(device: 'cpu' | 'webgpu'): {
  out: string;
  metrics: Record<string, number>[];
  stderr: string;
  status: number | null;
} {
  const dir = mkdtempSync(join(tmpdir(), `loractor-learner-${device}-`));
  const cfg = JSON.parse(readFileSync(join(root, 'configs/default.json'), 'utf8'));
  cfg.model.path = join(root, 'models/tiny');
  cfg.learner = { device, weight_dtype: 'f32', recompute: true };
  // 4 prompts × G 8 per step instead of 16 × 8: every kernel and every phase of the step still runs
  // (reference, policy with dropout, backward, AdamW, publish), at a quarter of SwiftShader's time.
  cfg.grpo = { ...cfg.grpo, prompts_per_step: 4, per_device_train_batch_size: 32 };
  // No evaluation: nothing here checks it, and the evaluator reads the published adapter through the
  // same weight store as the rollout actor (synced every step); the final adapter is compared directly.
  cfg.eval = { ...cfg.eval, synthetic_count: 20, batch_size: 20, eval_steps: 0, eval_before_training: false };
  // Scoring deadlines are not what this test is about (a loaded machine must not abort it).
  cfg.rewards = { ...cfg.rewards, reward_timeout_s: 120 };
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(cfg));
  const out = join(dir, 'run');
  const r = spawnSync(
    process.execPath,
    [join(root, 'dist/main.js'), `--actors=${file}`, '--max-steps', '3', '--out', out],
    { cwd: root, encoding: 'utf8', timeout: 900_000, env: process.env },
  );
  const metrics =
    r.status === 0
      ? readFileSync(join(out, 'metrics.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, number>)
      : [];
  return { out, metrics, stderr: r.stderr, status: r.status };
}

t.test('default config, 3 steps: the webgpu learner equals the cpu learner', async (t) => {
  useSwiftShaderIfNoDriver();
  const cpu = train('cpu');
  t.equal(cpu.status, 0, `cpu run exits 0 (${cpu.stderr.slice(-400)})`);
  const gpu = train('webgpu');
  t.equal(gpu.status, 0, `webgpu run exits 0 (${gpu.stderr.slice(-400)})`);
  t.match(gpu.stderr, /learner: webgpu \(/, 'the run says which device the learner uses');
  t.equal(gpu.metrics.length, 3);
  for (let i = 0; i < 3; i++) {
    const a = gpu.metrics[i]!,
      b = cpu.metrics[i]!;
    t.comment(
      `step ${i + 1}: loss ${a.loss} vs ${b.loss}, kl ${a.kl} vs ${b.kl}, grad_norm ${a.grad_norm} vs ${b.grad_norm}`,
    );
    t.ok(Math.abs(a.loss! - b.loss!) <= 1e-4, `step ${i + 1}: loss within 1e-4`);
    t.ok(Math.abs(a.kl! - b.kl!) <= 1e-4, `step ${i + 1}: kl within 1e-4`);
    t.ok(
      Math.abs(a.grad_norm! - b.grad_norm!) <= 1e-4 * Math.abs(b.grad_norm!),
      `step ${i + 1}: grad_norm within 1e-4 relative`,
    );
    t.equal(a.reward, b.reward, `step ${i + 1}: same rollouts, same reward`);
  }
  const cfg = readQwen2Config(join(root, 'models/tiny/config.json'));
  const ea = loadAdapterPeft(join(gpu.out, 'checkpoint-3'), cfg).params,
    eb = loadAdapterPeft(join(cpu.out, 'checkpoint-3'), cfg).params;
  const e = relError(ea, eb);
  t.comment(`final adapter relative difference ${e.toExponential(2)}`);
  t.ok(e <= 1e-4, 'final adapters equal within 1e-4 relative');
});

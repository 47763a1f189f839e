// num_iterations 2 against 1 on the default config (4 steps, no evaluation, not even before training): the first step is
// the same (same batch, ratio exactly 1), then μ = 2 trains every generation batch twice, the second
// time with ratios ≠ 1 — the only steps whose clip_ratio metrics are non-zero — and the final adapters
// differ. With μ = 1 the ratio is identically 1, so nothing is ever clipped.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';

const root = repoRoot();
const base = JSON.parse(readFileSync(join(root, 'configs/default.json'), 'utf8'));
const STEPS = 4;

function train(
  dir: string,
  numIterations: number,
): { metrics: Record<string, number>[]; adapter: Buffer; trajectories: number } {
  const config = join(dir, `mu${numIterations}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      ...base,
      model: { ...base.model, path: join(root, 'models/tiny') },
      run: { ...base.run, max_steps: STEPS, checkpoint_every: 0 },
      grpo: {
        ...base.grpo,
        max_steps: STEPS,
        warmup_ratio: 0,
        prompts_per_step: 4,
        per_device_train_batch_size: 32,
        num_iterations: numIterations,
      },
      rewards: { ...base.rewards, reward_timeout_s: 120 },
      eval: { ...base.eval, eval_steps: 0, eval_before_training: false },
    }),
  );
  const out = join(dir, `mu${numIterations}`);
  const r = spawnSync(process.execPath, [join(root, 'dist/main.js'), `--actors=${config}`, '--out', out], {
    cwd: root,
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (r.status !== 0) throw new Error(`run μ=${numIterations} failed: ${r.stderr.slice(-600)}`);
  const lines = (f: string) =>
    readFileSync(join(out, f), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
  return {
    metrics: lines('metrics.jsonl'),
    adapter: readFileSync(join(out, `checkpoint-${STEPS}`, 'adapter_model.safetensors')),
    trajectories: lines('rollouts.jsonl').length,
  };
}

t.test('num_iterations 2 vs 1: same first step, clipping only on second passes, different adapters', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loractor-mu-'));
  const one = train(dir, 1);
  const two = train(dir, 2);
  t.ok(
    one.metrics.every((m) => m['clip_ratio/region_mean'] === 0),
    'μ = 1: nothing clipped at any step (ratio ≡ 1)',
  );
  t.equal(two.metrics[0]!.loss, one.metrics[0]!.loss, 'step 1: the same loss, bit for bit');
  t.equal(two.metrics[0]!.grad_norm, one.metrics[0]!.grad_norm, 'step 1: the same gradient norm');
  t.same(
    two.metrics.map((m) => m.iteration),
    [0, 1, 0, 1],
  );
  t.ok(
    two.metrics.filter((m) => m.iteration === 0).every((m) => m['clip_ratio/region_mean'] === 0),
    'μ = 2, first passes: nothing clipped',
  );
  const second = two.metrics.filter((m) => m.iteration === 1).map((m) => m['clip_ratio/region_mean']!);
  t.ok(
    second.some((c) => c > 0),
    `μ = 2, second passes clip: clip_ratio/region_mean ${second.map((c) => c.toFixed(5)).join(', ')}`,
  );
  t.equal(two.trajectories * 2, one.trajectories, 'μ = 2 generates half as many trajectories (each recorded once)');
  t.notOk(two.adapter.equals(one.adapter), 'the final adapters differ');
});

// Smoke run of the shipped default: the real CLI, the real actors, two GRPO steps on models/tiny,
// then the run folder's outputs must exist and be well formed.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import { loadAdapterPeft } from '../../src/model/peft.js';
import { readQwen2Config } from '../../src/model/config.js';

const root = repoRoot();

t.test('default config: 2 steps end to end', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'loractor-smoke-'));
  const r = spawnSync(
    process.execPath,
    [join(root, 'dist/main.js'), '--actors=configs/default.json', '--max-steps', '2', '--out', out],
    { cwd: root, encoding: 'utf8', timeout: 600_000 },
  );
  t.equal(r.status, 0, `exit code 0 (stderr tail: ${r.stderr.slice(-800)})`);
  const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.equal(metrics.length, 2, 'one metrics line per step');
  for (const m of metrics) {
    // Current TRL metric names (the report still reads the TRL 0.15 ones, rewards/<f> and completion_length, as aliases).
    for (const k of [
      'step',
      'reward',
      'reward_std',
      'rewards/accuracy/mean',
      'rewards/format/mean',
      'rewards/accuracy/std',
      'completions/mean_length',
      'completions/clipped_ratio',
      'frac_reward_zero_std',
      'num_tokens',
      'entropy',
      'clip_ratio/region_mean',
      'kl',
      'loss',
      'learning_rate',
      'grad_norm',
      'time/rollout',
      'time/reward',
      'time/learner',
      'policy_version',
    ]) {
      t.type(m[k], 'number', `metrics.${k} is a number`);
    }
    t.ok(Number.isFinite(m.loss) && Number.isFinite(m.grad_norm), 'finite loss and grad_norm');
    t.equal(m.version_lag, 0, "sync mode: rollouts come from the previous step's version");
  }
  t.same(
    metrics.map((m) => m.policy_version),
    [1, 2],
    'one adapter version per step',
  );
  const evalRows = readFileSync(join(out, 'eval.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.ok(evalRows.length >= 2 * 200, 'eval.jsonl has per-problem rows for the evaluations before and after');
  t.ok(
    evalRows.every((r) => typeof r.version === 'number' && 'completion' in r),
    'rows carry version and completion',
  );
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  t.type(summary.before?.synthetic, 'number', 'held-out pass@1 before');
  t.type(summary.after?.synthetic, 'number', 'held-out pass@1 after');
  const cfg = readQwen2Config(join(root, 'models/tiny/config.json'));
  const adapter = loadAdapterPeft(join(out, 'checkpoint-2'), cfg);
  t.equal(adapter.settings.r, 16, 'PEFT adapter checkpoint loads with r 16');
  t.ok(
    adapter.params.some((v) => v !== 0),
    'adapter has trained values',
  );
  const resolved = JSON.parse(readFileSync(join(out, 'config.resolved.json'), 'utf8'));
  t.equal(resolved.run.max_steps, 2, 'resolved config records the CLI override');
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  t.match(html, /<svg class="chart" id="reward"/, 'report has the reward chart');
});

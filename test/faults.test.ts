// Fault drills: a rollout worker that exits mid-step, an advantage handler that throws and an
// evaluator that hangs past its deadline; the run completes, each fault is reported, and the results
// equal a clean run (these roles are deterministic).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../src/util/paths.js';

const root = repoRoot();
const hasModel = existsSync(join(root, 'models/tiny/model.safetensors'));
const base = JSON.parse(readFileSync(join(root, 'configs/default.json'), 'utf8'));
const TIMING = /^(time\/|elapsed_s$|.*tokens_per_s$|sync\/latency_s$)/;

function runWith(dir: string, name: string, extra: Record<string, unknown>): { status: number | null; stderr: string; metrics: Record<string, unknown>[] } {
  const cfg = {
    ...base,
    run: { ...base.run, max_steps: 3, checkpoint_every: 0 },
    grpo: { ...base.grpo, max_steps: 3, prompts_per_step: 4, num_generations: 4, per_device_train_batch_size: 16 },
    eval: { ...base.eval, synthetic_count: 20, batch_size: 20, eval_steps: 2 },
    ...extra,
  };
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(cfg));
  const out = join(dir, name);
  const r = spawnSync(process.execPath, [join(root, 'dist/main.js'), `--actors=${path}`, '--out', out], { cwd: root, encoding: 'utf8', timeout: 300_000 });
  const metrics = existsSync(join(out, 'metrics.jsonl'))
    ? readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => Object.fromEntries(Object.entries(JSON.parse(l)).filter(([k]) => !TIMING.test(k))))
    : [];
  return { status: r.status, stderr: r.stderr, metrics };
}

t.test('the run survives a crashing rollout, a throwing advantage and a hanging evaluator', { skip: hasModel ? false : 'models/tiny not present' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loractor-faults-'));
  const clean = runWith(dir, 'clean', {});
  t.equal(clean.status, 0, clean.stderr.slice(-300));
  const faulty = runWith(dir, 'faulty', {
    actors: { evaluator: { deadline_ms: 4000 } },
    faults: [
      { role: 'rollout', handler: 'generate', mode: 'exit', at: 2 },
      { role: 'advantage', handler: 'computeAdvantages', mode: 'throw', at: 1 },
      { role: 'evaluator', handler: 'evaluate', mode: 'hang', at: 2 },
    ],
  });
  t.equal(faulty.status, 0, `run completes ${faulty.stderr.slice(-600)}`);
  t.match(faulty.stderr, /actor event: crash in rollout-0\.generate/, 'worker exit reported');
  t.match(faulty.stderr, /actor event: handler-error in advantage\.computeAdvantages: injected fault/, 'thrown error reported');
  t.match(faulty.stderr, /actor event: timeout in evaluator\.evaluate/, 'hang past the deadline reported');
  t.match(faulty.stderr, /actor event: retry in rollout-0\.generate/, 'retried');
  t.same(faulty.metrics, clean.metrics, 'same rewards, losses, versions as the clean run');
  const evals = (name: string) => readFileSync(join(dir, name, 'eval-summary.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).average_pass_at_1);
  t.same(evals('faulty'), evals('clean'), 'same evaluations');
});

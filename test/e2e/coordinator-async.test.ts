// Async GRPO: rollouts for step n+1 overlap training on step n; the version lag recorded in the
// metrics never exceeds max_staleness, and the overlap really happens (lag 1 is observed).
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTraining } from '../../src/coordinator/index.js';
import { defaultConfig } from '../helpers/cli-run.js';

const base = defaultConfig();

function smallConfig(maxStaleness: number) {
  return {
    ...base,
    run: { ...base.run, max_steps: 4, checkpoint_every: 0 },
    grpo: {
      ...base.grpo,
      max_steps: 4,
      prompts_per_step: 4,
      num_generations: 4,
      per_device_train_batch_size: 16,
      max_staleness: maxStaleness,
    },
    eval: { ...base.eval, eval_steps: 0, eval_before_training: false },
  };
}

/** One run per staleness, shared: the two-rollout-actor test compares against the synchronous one. */
const runs = new Map<number, Promise<{ out: string; r: Awaited<ReturnType<typeof runTraining>> }>>();
function runOnce(staleness: number) {
  let p = runs.get(staleness);
  if (!p) {
    const out = mkdtempSync(join(tmpdir(), `loractor-async${staleness}-`));
    p = runTraining(smallConfig(staleness), { outDir: out, quiet: true }).then((r) => ({ out, r }));
    runs.set(staleness, p);
  }
  return p;
}

for (const staleness of [0, 1]) {
  t.test(`max_staleness ${staleness}: version lag within the bound`, async (t) => {
    const { out, r } = await runOnce(staleness);
    t.equal(r.metrics.length, 4);
    const lags = r.metrics.map((m) => m.version_lag as number);
    t.ok(
      lags.every((l) => l >= 0 && l <= staleness),
      `lags ${JSON.stringify(lags)} ≤ ${staleness}`,
    );
    if (staleness > 0)
      t.ok(
        lags.slice(1).some((l) => l === staleness),
        'rollouts overlapped training (a stale version was used)',
      );
    t.same(
      r.metrics.map((m) => m.policy_version),
      [1, 2, 3, 4],
    );
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    t.same(
      lines.map((m) => m.version_lag),
      lags,
      'metrics.jsonl records the lag',
    );
  });
}

t.test("training prompts from a JSONL dataset with Tina's column mapping", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loractor-dataset-'));
  const { writeFileSync } = await import('node:fs');
  const rows = Array.from({ length: 8 }, (_, i) =>
    JSON.stringify({ question: `${10 + i}+${20 + 3 * i}=`, answer: String(30 + 4 * i) }),
  );
  writeFileSync(join(dir, 'train.jsonl'), rows.join('\n') + '\n');
  const cfg = {
    ...smallConfig(0),
    data: {
      source: 'dataset',
      path: dir,
      dataset_id: 'local/additions',
      system_prompt: 'none',
      chat_template: 'model',
    },
    grpo: { ...smallConfig(0).grpo, max_steps: -1, num_train_epochs: 1 },
  };
  const out = join(dir, 'run');
  const r = await runTraining({ ...cfg, run: { ...cfg.run, max_steps: undefined } }, { outDir: out, quiet: true });
  t.equal(r.steps, 2, '8 rows / 4 prompts per step = 2 steps (schedule horizon from the dataset size)');
  t.ok(
    r.metrics.every((m) => typeof m['rewards/accuracy/mean'] === 'number'),
    'accuracy scored against $answer$ gold',
  );
});

t.test('two rollout actors side by side give the same run as one', async (t) => {
  const TIMING = /^(time\/|elapsed_s$|.*tokens_per_s$|.*time_to_first_token_s$|sync\/latency_s$)/;
  const strip = (ms: Record<string, unknown>[]) =>
    ms.map((m) => Object.fromEntries(Object.entries(m).filter(([k]) => !TIMING.test(k))));
  const { r: one } = await runOnce(0);
  // 3 steps against the first 3 of the 4-step run: the schedule's horizon is grpo.max_steps (4) in both.
  const cfg2 = {
    ...smallConfig(1),
    model: { ...base.model, rollout_actors: 2 },
    run: { ...smallConfig(1).run, max_steps: 3 },
  };
  const two = await runTraining(
    { ...cfg2, grpo: { ...cfg2.grpo, max_staleness: 0 } },
    { outDir: mkdtempSync(join(tmpdir(), 'loractor-r2-')), quiet: true },
  );
  // Completions (hence rewards, lengths, versions) are identical; loss and grad_norm may differ in the
  // last bits, because behaviour log-probs from a batch of 8 vs 16 rows round differently (≈1e-7).
  const a = strip(two.metrics as unknown as Record<string, unknown>[]);
  const b = strip(one.metrics as unknown as Record<string, unknown>[]).slice(0, 3);
  t.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    for (const [k, v] of Object.entries(b[i]!)) {
      const w = a[i]![k];
      // The sampling/* metrics are extremes and means of exp(learner − behaviour) over every token: the
      // behaviour log-probs' last-bit rounding (≈1e-7 per token) reaches them as ≈1e-6 absolute.
      const tol = k.startsWith('sampling/') ? 1e-5 : 1e-6 * Math.abs(Number(v)) + 1e-8;
      if (
        typeof v === 'number' &&
        (k === 'loss' || k === 'grad_norm' || k === 'kl' || k === 'entropy' || k.startsWith('sampling/'))
      )
        t.ok(Math.abs((w as number) - v) <= tol, `step ${i + 1} ${k}: ${w} ≈ ${v}`);
      else t.same(w, v, `step ${i + 1} ${k}`);
    }
  }
  const asyncTwo = await runTraining(cfg2, { outDir: mkdtempSync(join(tmpdir(), 'loractor-r2a-')), quiet: true });
  t.ok(
    asyncTwo.metrics.every((m) => (m.version_lag as number) <= 1),
    'async with 2 rollout actors stays within max_staleness',
  );
});

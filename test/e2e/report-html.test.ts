// report.html renders every chart in a real headless browser without console errors.
import t from 'tap';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderReport, formatTurnStep, ema } from '../../src/report/index.js';
import type { StepMetrics, EvalSummary } from '../../src/report/index.js';
import { Rng } from '../../src/util/rng.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function syntheticRun(steps: number): { metrics: StepMetrics[]; evals: EvalSummary[] } {
  const rng = new Rng(7);
  const metrics: StepMetrics[] = [];
  for (let s = 1; s <= steps; s++) {
    const format = 1 / (1 + Math.exp(-(s - 12) / 2)) + 0.05 * (rng.next() - 0.5);
    const acc = 0.4 + 0.2 * format + 0.05 * (rng.next() - 0.5);
    metrics.push({
      step: s,
      elapsed_s: 3 * s,
      reward: 2 * acc + format,
      reward_std: 0.5,
      'rewards/accuracy': acc,
      'rewards/format': format,
      completion_length: 20 + 10 * format,
      kl: 0.001 * s,
      loss: 0.01 * (rng.next() - 0.5),
      learning_rate: 5e-4,
      grad_norm: 0.3 + rng.next(),
      'rollout/tokens_per_s': 900,
      'learner/tokens_per_s': 1500,
      'time/rollout': 1.1,
      'time/reward': 0.2,
      'time/learner': 1.5,
    });
  }
  const evals: EvalSummary[] = [0, 10, 20, 30].map((s, i) => ({
    step: s,
    policy_version: s,
    pass_at_1: { heldout: 0.36 + 0.05 * i },
    average: 0.36 + 0.05 * i,
    checkpoint: `checkpoint-${s}`,
  }));
  return { metrics, evals };
}

t.test('EMA and format-turn step', async (t) => {
  t.same(ema([1, 2, undefined, 4], 0.5), [1, 1.5, 1.5, 2.75]);
  const steps = [1, 2, 3, 4, 5, 6];
  t.equal(formatTurnStep(steps, [0, 0, 0, 1, 1, 1], 1), 4, 'half-way crossing with no smoothing');
  t.equal(formatTurnStep(steps, [0.5, 0.5, 0.51, 0.5, 0.5, 0.5], 1), undefined, 'flat metric has no turn');
});

t.test('report.html is self-contained and renders in headless Chromium', async (t) => {
  // CI installs Chromium (the README's test command), so a missing browser fails here rather than skipping.
  t.ok(existsSync(CHROMIUM), `a browser at ${CHROMIUM} (apt-get install -y chromium)`);
  if (!existsSync(CHROMIUM)) return;
  const { metrics, evals } = syntheticRun(30);
  const html = renderReport({ title: 'test run', metrics, evals, config: { seed: 1 }, facts: { wall: '1m' } });
  t.notMatch(html, /<script[^>]+src=|<link[^>]+href=|https?:\/\//, 'no external resources');
  const dir = mkdtempSync(join(tmpdir(), 'loractor-report-'));
  const file = join(dir, 'report.html');
  writeFileSync(file, html);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(msg.text());
    });
    page.on('pageerror', (err) => errors.push(String(err)));
    await page.goto(pathToFileURL(file).href);
    const charts = await page.$$eval('svg.chart', (els) =>
      els.map((e) => ({ id: e.id, paths: e.querySelectorAll('path').length, w: e.getBoundingClientRect().width })),
    );
    const ids = charts.map((c) => c.id);
    for (const id of [
      'reward',
      'reward-funcs',
      'accuracy',
      'format',
      'completion-length',
      'kl',
      'loss',
      'learning-rate',
      'grad-norm',
      'tokens-per-s',
      'phase-time',
      'eval',
    ]) {
      t.ok(ids.includes(id), `chart ${id} rendered`);
    }
    for (const c of charts) t.ok(c.paths > 0 && c.w > 100, `chart ${c.id} has visible lines`);
    const turnMarkers = await page.$$eval(
      'svg#format text',
      (els) => els.filter((e) => e.textContent?.startsWith('format turn')).length,
    );
    t.equal(turnMarkers, 1, 'format turn marked on the format chart');
    t.match(await page.textContent('body'), /best \(step 30, checkpoint-30\)/, 'best checkpoint named');
    await page.check('#smooth-only');
    const rawVisible = await page.$eval(
      'svg#reward path.raw',
      (e) =>
        (globalThis as unknown as { getComputedStyle(x: unknown): { display: string } }).getComputedStyle(e).display !==
        'none',
    );
    t.notOk(rawVisible, 'toggle hides raw curves');
    t.same(errors, [], 'no console errors');
  } finally {
    await browser.close();
  }
});

// A real short training run with --dashboard: headless Chromium loads the page during the run, sees
// a new step arrive without reloading, the actor table lists all five roles, and logs no console
// error. Then the run's exports: the TensorBoard event file read back by an independent reader
// (test/fixtures/read_tfevents.py) and metrics.csv, both equal to metrics.jsonl.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import { readEvents } from '../helpers/tfevents-reader.js';

const root = repoRoot();
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const out = mkdtempSync(join(tmpdir(), 'loractor-dash-'));

function smallConfig(): string {
  const c = JSON.parse(readFileSync(join(root, 'configs', 'default.json'), 'utf8')) as Record<
    string,
    Record<string, unknown>
  >;
  delete (c as Record<string, unknown>).$schema;
  c.model!.path = join(root, 'models', 'tiny');
  c.run = { out_dir: out, seed: 3, max_steps: 30, checkpoint_every: 0 };
  Object.assign(c.grpo!, { max_steps: 30, prompts_per_step: 4, num_generations: 4, per_device_train_batch_size: 16 });
  // Generous reward deadline: this runs beside other tests on a busy machine.
  Object.assign(c.rewards!, { reward_timeout_s: 60 });
  Object.assign(c.eval!, { synthetic_count: 8, batch_size: 8, eval_steps: 2 });
  const file = join(out, 'config.json');
  writeFileSync(file, JSON.stringify(c));
  return file;
}

t.test(
  'dashboard during a real run, then TensorBoard and CSV exports equal metrics.jsonl',
  { timeout: 600_000 },
  async (t) => {
    t.ok(existsSync(CHROMIUM), `a browser at ${CHROMIUM} (apt-get install -y chromium)`);
    const child = spawn(
      process.execPath,
      [join(root, 'dist', 'main.js'), `--actors=${smallConfig()}`, '--dashboard=0', '--out', join(out, 'run')],
      { cwd: out, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setInterval(() => {
        const m = /dashboard: (http:\/\/\S+\/)/.exec(stderr);
        if (m) {
          clearInterval(timer);
          resolve(m[1]!);
        }
        if (child.exitCode !== null) {
          clearInterval(timer);
          reject(new Error(`run ended before the dashboard started: ${stderr.slice(-1500)}`));
        }
      }, 100);
    });
    t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'bound to 127.0.0.1 by default');
    const post = await fetch(url, { method: 'POST' });
    t.equal(post.status, 405, 'read-only: POST refused');

    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (msg) => {
        if (msg.type() === 'error') errors.push(msg.text());
      });
      page.on('pageerror', (err) => errors.push(String(err)));
      await page.goto(url);
      await page.waitForFunction(
        () =>
          Number(
            (
              globalThis as unknown as { document: { getElementById(id: string): { dataset: { step?: string } } } }
            ).document.getElementById('status').dataset.step ?? 0,
          ) >= 1,
        undefined,
        { timeout: 300_000 },
      );
      const stepOf = async (): Promise<number> => Number(await page.getAttribute('#status', 'data-step'));
      const first = await stepOf();
      await page.waitForFunction(
        (s) =>
          Number(
            (
              globalThis as unknown as { document: { getElementById(id: string): { dataset: { step?: string } } } }
            ).document.getElementById('status').dataset.step ?? 0,
          ) > s,
        first,
        { timeout: 300_000 },
      );
      const later = await stepOf();
      t.ok(later > first, `step ${later} appeared after step ${first} without a reload`);
      await page.waitForFunction(
        () =>
          /evaluator/.test(
            (
              globalThis as unknown as { document: { getElementById(id: string): { dataset: { roles?: string } } } }
            ).document.getElementById('actors').dataset.roles ?? '',
          ),
        undefined,
        { timeout: 60_000 },
      );
      const roles = (await page.getAttribute('#actors', 'data-roles'))!.split(',');
      for (const r of ['rollout-0', 'reward', 'advantage', 'learner', 'evaluator'])
        t.ok(roles.includes(r), `actor table lists ${r}`);
      const cells = await page.$$eval('#actors tbody tr', (trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
      );
      const learner = cells.find((c) => c[0] === 'learner')!;
      t.match(learner[5], /^v\d+$/, 'the learner row shows a policy version');
      t.match(
        cells.find((c) => c[0] === 'rollout-0')![5],
        /^v\d+$/,
        'the rollout actor row shows the version it applied',
      );
      t.ok(await page.$('svg.chart#reward'), 'the reward chart is drawn (shared chart module)');
      t.ok((await page.$$('#completions tbody tr')).length > 0, 'recent completions listed');
      t.match(await page.textContent('#status'), /ETA/, 'ETA shown');
      t.same(errors, [], 'no console errors');
    } finally {
      await browser.close();
      child.kill('SIGTERM'); // finish the current step, checkpoint, stop
    }
    const code = await exited;
    // Exit 143: stopped by SIGTERM after checkpointing its last step (what a shell reports for SIGTERM).
    t.equal(code, 143, `the run stopped cleanly on SIGTERM: ${stderr.slice(-800)}`);

    const run = join(out, 'run');
    const metrics = readFileSync(join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    t.ok(metrics.length >= 2, `${metrics.length} steps recorded`);
    const evFile = readdirSync(run).find((f) => f.startsWith('events.out.tfevents.'));
    t.ok(evFile, 'an event file in the run folder');
    const events = readEvents(join(run, evFile!));
    t.equal(events[0]!.file_version, 'brain.Event:2');
    for (const m of metrics) {
      const ev = events.find((e) => e.step === m.step && e.scalars && 'reward' in (e.scalars as object));
      const expected = Object.fromEntries(
        Object.entries(m)
          .filter(([k, v]) => k !== 'step' && typeof v === 'number' && Number.isFinite(v))
          .map(([k, v]) => [k, Math.fround(v as number)]),
      );
      t.same(
        ev?.scalars,
        expected,
        `step ${m.step as number}: every metric in the event file equals metrics.jsonl (float32)`,
      );
    }
    const evals = readFileSync(join(run, 'eval-summary.jsonl'), 'utf8').trim().split('\n').filter(Boolean).length;
    t.ok(
      events.some((e) => e.scalars && 'eval/pass@1/synthetic' in (e.scalars as object)) || evals === 0,
      'evaluations exported as eval/pass@1/<benchmark>',
    );
    const [header, ...rows] = readFileSync(join(run, 'metrics.csv'), 'utf8').trim().split('\n');
    const cols = header!.split(',');
    t.equal(rows.length, metrics.length, 'one CSV row per step');
    rows.forEach((r, i) => {
      const cellsOf = r.split(',');
      const rec = Object.fromEntries(cols.map((c, j) => [c, cellsOf[j]]).filter(([, v]) => v !== ''));
      t.same(
        rec,
        Object.fromEntries(Object.entries(metrics[i]!).map(([k, v]) => [k, String(v)])),
        `CSV row ${i + 1} equals metrics.jsonl`,
      );
    });
  },
);

// Fuzz suite (issue 8): ≥100 malformed inputs generated here with a seeded Rng — run configs, model
// folders (config.json, model.safetensors, tokenizer files) and dataset files/rows — each run through
// the real loaders in a worker thread under a deadline. Every input must end in a clear error (an
// Error naming the file / field / line, not a bare TypeError from deep inside) or a reported skip of
// the bad record, never a hang or a crash. A sample also goes through the real CLI: exit code 1 or 2,
// the problem named on the first stderr line, and no stack trace unless LORACTOR_DEBUG=1.
import t from 'tap';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import { configCases } from '../fuzz/cases-config.js';
import { modelCases } from '../fuzz/cases-model.js';
import { dataCases } from '../fuzz/cases-data.js';
import { runCases, summaryTable, type CaseResult } from '../fuzz/harness.js';
import type { FuzzCase } from '../fuzz/types.js';
import { defaultConfig } from '../helpers/cli-run.js';

const SEED = Number(process.env.LORACTOR_FUZZ_SEED ?? 20261126);
const root = repoRoot();
const work = mkdtempSync(join(tmpdir(), 'loractor-fuzz-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

t.test('fuzz: malformed configs, model files and dataset rows end in a clear error or a reported skip', async (t) => {
  let id = 0;
  const nextId = (): number => ++id;
  const cases = [
    ...configCases(join(work, 'config'), SEED, nextId),
    ...modelCases(join(work, 'model'), SEED, nextId),
    ...dataCases(join(work, 'data'), SEED, nextId),
  ];
  t.ok(cases.length >= 100, `${cases.length} generated malformed inputs (seed ${SEED})`);
  const t0 = performance.now();
  const results = await runCases(cases, {
    deadlineMs: 15_000,
    workerUrl: new URL('../fuzz/worker.js', import.meta.url),
  });
  const secs = (performance.now() - t0) / 1000;
  t.comment(`fuzz: ${results.length} cases in ${secs.toFixed(1)} s (seed ${SEED})\n` + summaryTable(results));
  for (const r of results) {
    const said =
      r.out?.kind === 'threw'
        ? `${r.out.name}: ${r.out.message}`
        : r.out
          ? `returned ${r.out.rows} rows, ${r.out.skips.length} skipped`
          : r.problem;
    t.equal(r.problem, '', `[${r.c.category}] ${r.c.name} → ${r.verdict}${said ? ` — ${said.slice(0, 300)}` : ''}`);
  }
  const byVerdict = (v: CaseResult['verdict']): number => results.filter((r) => r.verdict === v).length;
  t.equal(
    byVerdict('hang') + byVerdict('crash') + byVerdict('unclear-error'),
    0,
    'no hang, no crash, no unexplained error',
  );
  if (process.env.LORACTOR_FUZZ_TABLE) writeFileSync(process.env.LORACTOR_FUZZ_TABLE, summaryTable(results) + '\n');
});

t.test('fuzz harness: a hanging or crashing loader is caught, and the next case still runs', async (t) => {
  const mk = (id: number, input: string): FuzzCase => ({
    id,
    category: 'self-test',
    name: input,
    target: 'self-test',
    input,
    expect: 'error',
    mustName: [],
  });
  const t0 = performance.now();
  const rs = await runCases([mk(1, 'hang'), mk(2, 'crash'), mk(3, 'fine')], {
    deadlineMs: 400,
    workerUrl: new URL('../fuzz/worker.js', import.meta.url),
  });
  t.same(
    rs.map((r) => r.verdict),
    ['hang', 'crash', 'accepted'],
    'hang, crash, then a fresh worker answers',
  );
  // The 'hang' verdict only comes from the deadline timer (the worker spins forever); the bound is loose
  // because three worker start-ups on a loaded 2-core machine take seconds.
  t.ok(performance.now() - t0 < 60_000, 'the hang is cut at its deadline');
});

interface CliRun {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function runCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, [join(root, 'dist/main.js'), ...args], {
      cwd: root,
      env: { ...process.env, LORACTOR_DEBUG: '', ...env },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

t.test('fuzz through the CLI: exit code, the problem on the first stderr line, no stack trace', async (t) => {
  const dir = join(work, 'cli');
  mkdirSync(dir, { recursive: true });
  const base = defaultConfig();
  const write = (name: string, content: string | object): string => {
    const f = join(dir, name);
    writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
    return f;
  };
  const brokenModel = join(dir, 'broken-model');
  mkdirSync(brokenModel);
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json'])
    copyFileSync(join(root, 'models/tiny', f), join(brokenModel, f));
  writeFileSync(
    join(brokenModel, 'model.safetensors'),
    readFileSync(join(root, 'models/tiny/model.safetensors')).subarray(0, 5000),
  );
  const badRows = write(
    'bad-rows.jsonl',
    '{"problem": "What is 1+1?", "solution": "2"}\n{"question": 3, "answer": "4"}\n',
  );
  const out = join(dir, 'out');
  const train = (f: string): string[] => [`--actors=${f}`, '--max-steps', '1', '--out', out];

  const cases: {
    name: string;
    args: string[];
    code: number;
    first: RegExp;
    stream?: 'stderr' | 'stdout';
    env?: Record<string, string>;
  }[] = [
    {
      name: 'unknown key',
      args: train(write('unknown.json', { ...base, grpo: { ...base.grpo, use_dr_grpo: true } })),
      code: 2,
      first: /grpo\.use_dr_grpo: unknown key/,
    },
    {
      name: 'wrong type',
      args: train(write('type.json', { ...base, lora: { ...base.lora, lora_r: '16' } })),
      code: 2,
      first: /lora\.lora_r: .*expected number/,
    },
    {
      name: 'truncated JSON',
      args: train(write('trunc.json', JSON.stringify(base).slice(0, 90))),
      code: 2,
      first: /trunc\.json: invalid JSON/,
    },
    { name: 'empty file', args: train(write('empty.json', '')), code: 2, first: /empty\.json: the file is empty/ },
    { name: 'directory', args: train(dir), code: 2, first: /is a directory/ },
    {
      name: 'missing config file',
      args: train(join(dir, 'nope.json')),
      code: 2,
      first: /nope\.json: cannot read file \(no such file\)/,
    },
    {
      name: 'bad --max-steps',
      args: ['--actors=configs/default.json', '--max-steps', 'many'],
      code: 2,
      first: /--max-steps: expected an integer/,
    },
    {
      name: 'nonexistent model path',
      args: train(write('nomodel.json', { ...base, model: { ...base.model, path: join(dir, 'no-model') } })),
      code: 1,
      first: /training failed: .*no-model/,
    },
    {
      name: 'truncated safetensors',
      args: train(write('brokenmodel.json', { ...base, model: { ...base.model, path: brokenModel } })),
      code: 1,
      first: /training failed: .*broken-model\/model\.safetensors.*truncated/,
    },
    {
      name: 'dataset row with bad columns',
      args: train(write('badrows.json', { ...base, data: { source: 'dataset', path: badRows } })),
      code: 1,
      first: /training failed: .*bad-rows\.jsonl:2\).*problem/,
    },
    {
      name: 'check: garbage JSON',
      args: ['check', `--actors=${write('check-garbage.json', '{"run": [}')}`],
      code: 1,
      first: /check-garbage\.json/,
      stream: 'stdout',
    },
    {
      name: 'check: nonexistent model',
      args: [
        'check',
        `--actors=${write('check-nomodel.json', { ...base, model: { ...base.model, path: join(dir, 'no-model') } })}`,
      ],
      code: 1,
      first: /no-model/,
      stream: 'stdout',
    },
    {
      name: 'LORACTOR_DEBUG=1 shows the stack',
      args: train(write('nomodel-debug.json', { ...base, model: { ...base.model, path: join(dir, 'no-model') } })),
      code: 1,
      first: /training failed: .*no-model/,
      env: { LORACTOR_DEBUG: '1' },
    },
  ];
  for (const c of cases) {
    const r = await runCli(c.args, c.env);
    const stream = c.stream ?? 'stderr';
    const text = stream === 'stderr' ? r.stderr : r.stdout;
    // check prints a title line, then the report: its problem lines come after "NOT READY".
    const first =
      stream === 'stderr'
        ? text.split('\n')[0]!
        : text
            .split('\n')
            .filter((l) => l.startsWith('  - '))
            .join('\n');
    t.equal(
      r.code,
      c.code,
      `${c.name}: exit ${c.code} (got ${r.code ?? r.signal} after ${Math.round(r.ms)} ms; stderr: ${r.stderr.slice(0, 300)}; stdout: ${r.stdout.slice(0, 200)})`,
    );
    t.match(first, c.first, `${c.name}: the problem is named (${stream}: ${first.slice(0, 200)})`);
    const stack = /^\s+at .+:\d+:\d+\)?$/m.test(r.stderr + r.stdout);
    if (c.env?.LORACTOR_DEBUG === '1') t.ok(stack, `${c.name}: stack trace printed under LORACTOR_DEBUG=1`);
    else {
      t.notOk(stack, `${c.name}: no raw stack trace`);
      if (c.code === 1 && stream === 'stderr')
        t.match(r.stderr, /LORACTOR_DEBUG=1/, `${c.name}: says how to get the stack trace`);
    }
    t.notOk(existsSync(join(out, 'checkpoint-1')), `${c.name}: nothing trained`);
  }
});

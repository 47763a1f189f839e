// `loractor verify` end to end: a real child process over a real JSONL file, and run() in-process
// with --out; malformed lines report their line number and the run continues.
import t, { type Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import { run } from '../../src/cli/verify.js';

const dir = mkdtempSync(join(tmpdir(), 'loractor-verify-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const lines = [
  JSON.stringify({ gold: 'So the answer is $\\boxed{\\frac{1}{2}}$.', answer: 'Thus \\boxed{0.5}' }),
  'this is not json',
  JSON.stringify({ gold: '10', answer: '\\boxed{10\\%}' }),
  JSON.stringify({ gold: 5 }),
  '',
  JSON.stringify({ gold: 27.0, answer: 'final: \\boxed{27}' }),
];
const input = join(dir, 'in.jsonl');
writeFileSync(input, lines.join('\n') + '\n');

function check(t: Test, out: string): void {
  const recs = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(recs.length, 5);
  t.same([recs[0].line, recs[0].correct], [1, true]);
  t.equal(recs[1].line, 2);
  t.match(recs[1].error, /in\.jsonl:2: not valid JSON/);
  t.same([recs[2].line, recs[2].correct], [3, false]);
  t.match(recs[3].error, /:4: field 'answer'/);
  t.same([recs[4].line, recs[4].correct], [6, true]);
  t.ok(Array.isArray(recs[0].gold_parsed) && Array.isArray(recs[0].answer_parsed));
}

t.test('node dist/main.js verify --in FILE', async (t) => {
  const main = join(repoRoot(), 'dist', 'main.js');
  const res = spawnSync(process.execPath, [main, 'verify', '--in', input], { encoding: 'utf8' });
  t.equal(res.status, 1, 'exit 1: some lines were malformed');
  t.match(res.stderr, /2\/3 correct, 2 malformed/);
  check(t, res.stdout);
  const usage = spawnSync(process.execPath, [main, 'verify'], { encoding: 'utf8' });
  t.equal(usage.status, 2);
  t.match(usage.stderr, /missing --in/);
});

t.test('run() with --out writes the verdict file', async (t) => {
  const out = join(dir, 'out.jsonl');
  const code = await run(['--in', input, '--out', out]);
  t.equal(code, 1);
  check(t, readFileSync(out, 'utf8'));
  t.equal(await run(['--in', join(dir, 'missing.jsonl')]), 1);
  t.equal(await run(['--in', input, '--gold', 'bogus']), 2);
  const good = join(dir, 'good.jsonl');
  writeFileSync(good, JSON.stringify({ gold: '$x=3$', answer: '\\boxed{3}' }) + '\n');
  t.equal(await run(['--in', good, '--out', join(dir, 'g.out')]), 0);
  t.match(execFileSync('cat', [join(dir, 'g.out')], { encoding: 'utf8' }), /"correct":true/);
});

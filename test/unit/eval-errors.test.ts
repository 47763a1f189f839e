// Clear errors: malformed JSONL lines (line numbers, skip vs --strict), unknown benchmark, missing file.
import t from 'tap';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadBenchmark, readJsonl, parseBenchList, parseEvalConfig } from '../../src/eval/index.js';

const dir = mkdtempSync(join(tmpdir(), 'eval-errors-'));
mkdirSync(join(dir, 'qwen25math'));
const file = join(dir, 'qwen25math', 'aime24_test.jsonl');
writeFileSync(
  file,
  [
    JSON.stringify({ id: 1, problem: 'What is 1+1?', answer: '2' }),
    '{"id": 2, "problem": "broken',
    '',
    JSON.stringify({ id: 3, problem: 'What is 2+2?', answer: '4' }),
    '[1, 2]',
    JSON.stringify({ id: 5, answer: '6' }),
    JSON.stringify({ id: 6, problem: 'x', answer: { a: 1 } }),
  ].join('\n') + '\n',
);

t.test('malformed lines are reported with their line numbers and skipped', async (t) => {
  const b = loadBenchmark('aime24', { dir });
  t.same(
    b.problems.map((p) => p.id),
    ['1', '3'],
  );
  t.same(
    b.issues.map((i) => i.line),
    [2, 5, 6, 7],
  );
  t.match(b.issues[0]!.message, /invalid JSON/);
  t.match(b.issues[1]!.message, /not a JSON object/);
  t.match(b.issues[2]!.message, /missing or non-string field 'problem'/);
  t.match(b.issues[3]!.message, /field 'answer' must be a string or number/);
  t.ok(b.issues.every((i) => i.file === file));
});

t.test('strict mode fails on the first malformed line, naming file and line', async (t) => {
  t.throws(() => loadBenchmark('aime24', { dir, strict: true }), { message: `${file}:2: invalid JSON` } as never);
  try {
    loadBenchmark('aime24', { dir, strict: true });
  } catch (err) {
    t.match((err as Error).message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: invalid JSON`));
  }
  t.throws(() => readJsonl(file, { strict: true }), /:2: invalid JSON/);
});

t.test('unknown benchmark and missing file', async (t) => {
  t.throws(
    () => loadBenchmark('aime2024'),
    /unknown benchmark 'aime2024' \(known: aime24, aime25, amc23, math500, minerva, gsm8k, gpqa, synthetic\)/,
  );
  t.throws(() => parseBenchList('aime24,nope'), /unknown benchmark 'nope'/);
  t.throws(() => parseBenchList(' , '), /no benchmark named/);
  t.throws(
    () => loadBenchmark('math500', { dir }),
    new RegExp(
      `benchmark file not found: ${join(dir, 'math-evaluation-harness', 'math500_test.jsonl').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`,
    ),
  );
  t.throws(
    () => loadBenchmark('gpqa', { paths: { gpqa: join(dir, 'nope.jsonl') } }),
    /benchmark file not found: .*nope\.jsonl/,
  );
  t.throws(() => loadBenchmark('aime24', { dir, limit: 0 }), /limit must be a positive integer/);
});

t.test('gsm8k gold without "####" is a reported issue', async (t) => {
  const g = join(dir, 'qwen25math', 'gsm8k_test.jsonl');
  writeFileSync(
    g,
    JSON.stringify({ question: 'q', answer: 'no hash', idx: 0 }) +
      '\n' +
      JSON.stringify({ question: 'q2', answer: 'x\n#### 1,234', idx: 1 }) +
      '\n',
  );
  const b = loadBenchmark('gsm8k', { dir });
  t.equal(b.problems.length, 1);
  t.equal(b.problems[0]!.goldText, '1234');
  t.match(b.issues[0]!.message, /no "#### <answer>" line/);
  t.equal(b.issues[0]!.line, 1);
});

t.test('eval config validation names the field', async (t) => {
  const c = parseEvalConfig({ benchmarks: ['aime24'] });
  t.equal(c.temperature, 0.6);
  t.equal(c.top_p, 0.95);
  t.equal(c.num_samples, 1);
  t.equal(c.seed, 42);
  t.throws(() => parseEvalConfig({ benchmarks: ['aime24'], top_p: 0 }), /top_p/);
  t.throws(() => parseEvalConfig({ benchmarks: ['aime24'], temprature: 1 }), /temprature|Unrecognized/);
});

t.test('the synthetic problems do not move with the sampling seed', async (t) => {
  const { loadConfiguredBenchmarks } = await import('../../src/eval/index.js');
  const a = loadConfiguredBenchmarks(parseEvalConfig({ benchmarks: ['synthetic'], seed: 0, synthetic_count: 10 }));
  const b = loadConfiguredBenchmarks(parseEvalConfig({ benchmarks: ['synthetic'], seed: 7, synthetic_count: 10 }));
  const c = loadConfiguredBenchmarks(parseEvalConfig({ benchmarks: ['synthetic'], data_seed: 7, synthetic_count: 10 }));
  t.same(a[0]!.problems, b[0]!.problems);
  t.not(JSON.stringify(a[0]!.problems), JSON.stringify(c[0]!.problems));
});

t.test('gpqa from a user-supplied file (made-up rows in the HF column layout)', async (t) => {
  const g = join(dir, 'gpqa-like.jsonl');
  const row = (id: string, q: string) =>
    JSON.stringify({
      'Record ID': id,
      Question: q,
      'Correct Answer': 'yes',
      'Incorrect Answer 1': 'no',
      'Incorrect Answer 2': 'maybe',
      'Incorrect Answer 3': 'never',
    });
  writeFileSync(
    g,
    [row('r1', 'Is 2 even?'), JSON.stringify({ 'Record ID': 'r2', Question: 'q' }), row('r3', 'Is 4 even?')].join(
      '\n',
    ) + '\n',
  );
  const b = loadBenchmark('gpqa', { paths: { gpqa: g } });
  t.same(
    b.problems.map((p) => p.id),
    ['r1', 'r3'],
  );
  t.same(
    b.issues.map((i) => [i.line, i.message]),
    [[2, "missing or non-string field 'Correct Answer'"]],
  );
  for (const p of b.problems) {
    t.match(p.goldText, /^[ABCD]$/);
    t.ok(p.userPrompt.includes(`${p.goldText}) yes`), 'gold letter labels the correct answer');
  }
  t.throws(
    () => loadBenchmark('gpqa', { paths: { gpqa: g }, strict: true }),
    /gpqa-like\.jsonl:2: missing or non-string field 'Correct Answer'/,
  );
});

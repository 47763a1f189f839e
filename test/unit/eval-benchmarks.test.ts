// Loading every file in the repository's benchmarks/ folder with the right gold extraction, the exact
// lighteval prompt, the synthetic held-out benchmark, and that every gold answer
// parses with the math verifier.
import t from 'tap';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { benchmarksDir, repoRoot } from '../../src/util/paths.js';
import {
  BENCHMARKS,
  loadBenchmark,
  createAnswerChecker,
  MATH_QUERY_TEMPLATE,
  gpqaPrompt,
  extractLetter,
} from '../../src/eval/index.js';
import { splitOf } from '../../src/data/tasks/index.js';

const expected: Record<string, { rows: number; first: string }> = {
  aime24: { rows: 30, first: '204' },
  aime25: { rows: 30, first: '70' },
  amc23: { rows: 40, first: '27.0' },
  gsm8k: { rows: 1319, first: '18' },
};

t.test('shipped benchmark files load with the right gold text', async (t) => {
  for (const [name, e] of Object.entries(expected)) {
    const b = loadBenchmark(name);
    t.equal(b.problems.length, e.rows, `${name}: ${e.rows} problems`);
    t.equal(b.issues.length, 0, `${name}: no malformed lines`);
    t.equal(b.problems[0]!.goldText, e.first, `${name}: first gold`);
    t.equal(b.problems[0]!.goldKind, 'expr');
    t.ok(b.path!.startsWith(benchmarksDir()));
  }
  const amc = loadBenchmark('amc23');
  t.ok(
    amc.problems.every((p) => /^-?[0-9]+(\.[0-9]+)?$/.test(p.goldText)),
    'AMC floats rendered as Python str()',
  );
  const gsm = loadBenchmark('gsm8k');
  t.ok(
    gsm.problems.every((p) => /^-?[0-9.]+$/.test(p.goldText)),
    'GSM8K gold is the number after ####, commas dropped',
  );
  for (const name of ['math500', 'minerva']) {
    const b = loadBenchmark(name);
    t.equal(b.problems.length, name === 'math500' ? 500 : 272);
    t.ok(
      b.problems.every((p) => p.goldKind === 'latex' && p.goldText.includes('\\boxed')),
      `${name}: gold is the full solution with its box`,
    );
  }
  t.equal(loadBenchmark('math500').problems[0]!.level, 2, 'MATH-500 level kept');
  t.equal(loadBenchmark('aime24', { limit: 5 }).problems.length, 5);
});

t.test("math prompt is lighteval's MATH_QUERY_TEMPLATE", async (t) => {
  const p = loadBenchmark('aime25').problems[0]!;
  t.equal(p.userPrompt, MATH_QUERY_TEMPLATE.replace('{Question}', p.question));
  t.ok(
    p.userPrompt.startsWith(
      "Solve the following math problem efficiently and clearly.  The last line of your response should be of the following format: 'Therefore, the final answer is: $\\boxed{ANSWER}$. I hope it is correct' (without quotes) where ANSWER is just the final number or expression that solves the problem. Think step by step before answering.\n\n",
    ),
  );
  // '$' patterns in a question must be kept literally (no String.replace specials)
  t.ok(loadBenchmark('aime24').problems[0]!.userPrompt.endsWith(loadBenchmark('aime24').problems[0]!.question));
});

t.test('gpqa only from a user path; seeded choice order; letter extraction', async (t) => {
  t.equal(BENCHMARKS.gpqa!.file, null);
  t.throws(() => loadBenchmark('gpqa'), /no bundled file: pass its path/);
  const a = gpqaPrompt('Q?', 'right', ['w1', 'w2', 'w3'], 42, 'rec1');
  const b = gpqaPrompt('Q?', 'right', ['w1', 'w2', 'w3'], 42, 'rec1');
  t.same(a, b);
  t.ok(a.prompt.includes(`${a.gold}) right`));
  t.ok(a.prompt.startsWith('Answer the following multiple choice question.'));
  const golds = new Set(Array.from({ length: 40 }, (_, i) => gpqaPrompt('Q', 'r', ['a', 'b', 'c'], 42, `id${i}`).gold));
  t.equal(golds.size, 4, 'gold positions vary across questions');
  t.equal(extractLetter('blah\nAnswer: C'), 'C');
  t.equal(extractLetter('The answer is (B).'), 'B');
  t.equal(extractLetter('Answer: A ... wait. Answer: D'), 'D');
  t.equal(extractLetter('so \\boxed{B}'), 'B');
  t.equal(extractLetter('no letter here'), null);
});

t.test('synthetic benchmark is the held-out split, deterministic', async (t) => {
  const a = loadBenchmark('synthetic');
  t.equal(a.problems.length, 200);
  t.ok(a.problems.every((p) => splitOf(p.id) === 'heldout'));
  t.same(a.problems, loadBenchmark('synthetic').problems);
  t.equal(a.problems[0]!.userPrompt, a.problems[0]!.id + '=');
  t.equal(loadBenchmark('synthetic', { syntheticCount: 20 }).problems.length, 20);
});

t.test('every gold answer parses with the math verifier', async (t) => {
  const names = ['aime24', 'aime25', 'amc23', 'math500', 'minerva', 'gsm8k'];
  const checker = await createAnswerChecker(['expr', 'latex']);
  for (const name of names) {
    const b = loadBenchmark(name);
    const failed: string[] = [];
    const stringOnly: string[] = [];
    for (const p of b.problems) {
      const g = checker.parseGold(p);
      if (g === null) failed.push(p.id);
      else if (g.stringOnly) stringOnly.push(p.id);
    }
    if (failed.length || stringOnly.length)
      t.comment(`${name}: gold unparseable ${JSON.stringify(failed)}; string-only ${JSON.stringify(stringOnly)}`);
    t.equal(failed.length, 0, `${name}: every gold parses (${b.problems.length - failed.length}/${b.problems.length})`);
  }
  // the gold verifies against itself written as a boxed answer (AIME/AMC integers)
  const aime = loadBenchmark('aime24').problems[0]!;
  const g = checker.parseGold(aime)!;
  t.ok(checker.judge(g, 'Therefore, the final answer is: $\\boxed{204}$. I hope it is correct').correct);
  t.notOk(checker.judge(g, 'Therefore, the final answer is: $\\boxed{205}$.').correct);
  const amc = checker.parseGold(loadBenchmark('amc23').problems[0]!)!;
  t.ok(checker.judge(amc, '\\boxed{27}').correct, 'AMC 27.0 gold vs 27');
});

t.test("benchmarks dir is the package's own benchmarks/ folder, with licences and sources", async (t) => {
  t.equal(benchmarksDir(), join(repoRoot(), 'benchmarks'));
  t.ok(existsSync(join(benchmarksDir(), 'qwen25math', 'aime24_test.jsonl')));
  for (const d of ['qwen25math', 'math-evaluation-harness'])
    t.match(readFileSync(join(benchmarksDir(), d, 'LICENSE'), 'utf8'), /^MIT License/, `${d}/LICENSE`);
  // Every shipped file is byte-for-byte the one SOURCES.md names (its sha256 column).
  const sources = readFileSync(join(benchmarksDir(), 'SOURCES.md'), 'utf8');
  const rows = [...sources.matchAll(/^\| ([\w.-]+\/[\w.-]+\.jsonl) \|.*\| ([0-9a-f]{64}) \|$/gm)];
  t.equal(rows.length, 6, 'six files listed');
  for (const [, file, sha] of rows)
    t.equal(
      createHash('sha256')
        .update(readFileSync(join(benchmarksDir(), file!)))
        .digest('hex'),
      sha,
      `${file} sha256`,
    );
  t.notOk(
    readdirSync(benchmarksDir(), { recursive: true }).some((f) => /gpqa/i.test(String(f))),
    'no GPQA file shipped',
  );
});

t.test('pipeline self-consistency: each gold judged against its own answer written as the model should', async (t) => {
  const checker = await createAnswerChecker(['expr', 'latex']);
  for (const name of ['aime24', 'aime25', 'amc23', 'gsm8k', 'math500']) {
    const b = loadBenchmark(name, name === 'gsm8k' ? { limit: 200 } : {});
    const answers = new Map<string, string>();
    if (name === 'math500') {
      // the `answer` field of MATH-500 rows (the gold itself is parsed from the full solution)
      for (const line of (await import('node:fs')).readFileSync(b.path!, 'utf8').trim().split('\n')) {
        const r = JSON.parse(line);
        answers.set(r.unique_id, r.answer);
      }
    }
    const failed: string[] = [];
    const t0 = performance.now();
    for (const p of b.problems) {
      const gold = checker.parseGold(p)!;
      const ans = name === 'math500' ? answers.get(p.id)! : p.goldText.replace(/\.0$/, '');
      const j = checker.judge(
        gold,
        `Let me think.\nTherefore, the final answer is: $\\boxed{${ans}}$. I hope it is correct`,
      );
      if (!j.correct) failed.push(`${p.id}: gold ${gold.display} vs ${ans}`);
    }
    const rate = 1 - failed.length / b.problems.length;
    t.comment(
      `${name}: ${(100 * rate).toFixed(1)} % of ${b.problems.length} in ${(performance.now() - t0).toFixed(0)} ms${failed.length ? '; failures: ' + failed.slice(0, 12).join(' | ') : ''}`,
    );
    t.ok(rate >= (name === 'math500' ? 0.95 : 1), `${name}: self-consistency ${rate}`);
  }
});

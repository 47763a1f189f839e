// Self-consistency of the verifier on real benchmark data (the shipped benchmarks/ files):
// MATH-500 solution -> extracted answer must verify against the `answer` field; Minerva boxed
// solutions must verify against themselves; AMC23 float answers (27.0) against integer forms (27).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchmarksDir } from '../../src/util/paths.js';
import {
  ANSWER_CFG,
  GOLD_DEFAULT,
  GOLD_EXPR_ONLY,
  GOLD_LATEX_ONLY,
  LIGHTEVAL_PRED,
  parse,
  verifyParsed,
  type ParsedAnswer,
} from '../../src/rewards/verifier/index.js';

function readJsonl<T>(rel: string): T[] {
  const file = join(benchmarksDir(), rel);
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as T;
      } catch (err) {
        throw new Error(`${file}:${i + 1}: ${(err as Error).message}`);
      }
    });
}

const show = (p: ParsedAnswer[]): string => (p[0] ? (p[0].kind === 'math' ? p[0].latex : `"${p[0].text}"`) : '[]');

t.test('MATH-500: solution (GOLD_DEFAULT) verifies against the answer field', async (t) => {
  const rows = readJsonl<{ solution: string; answer: string; unique_id: string }>(
    'math-evaluation-harness/math500_test.jsonl',
  );
  t.equal(rows.length, 500);
  const failures: string[] = [];
  const t0 = Date.now();
  for (const r of rows) {
    const gold = parse(r.solution, GOLD_DEFAULT);
    const ans = parse(`$${r.answer}$`, GOLD_LATEX_ONLY);
    if (!verifyParsed(gold, ans))
      failures.push(`${r.unique_id}: solution -> ${show(gold)} vs answer ${JSON.stringify(r.answer)} -> ${show(ans)}`);
  }
  const rate = 1 - failures.length / rows.length;
  t.comment(
    `MATH-500 self-consistency ${(rate * 100).toFixed(1)}% (${rows.length - failures.length}/${rows.length}) in ${Date.now() - t0} ms`,
  );
  for (const f of failures) t.comment(`  failure ${f}`);
  t.ok(rate >= 0.98, `rate ${rate} >= 0.98`);
});

t.test('Minerva: boxed solutions verify against themselves (gold parse vs answer parse)', async (t) => {
  const rows = readJsonl<{ solution: string; idx: number }>('qwen25math/minerva_math_test.jsonl');
  t.equal(rows.length, 272);
  const failures: string[] = [];
  for (const r of rows) {
    const gold = parse(r.solution, GOLD_DEFAULT);
    const ans = parse(r.solution, ANSWER_CFG);
    if (!verifyParsed(gold, ans)) failures.push(`idx ${r.idx}: ${show(gold)} vs ${show(ans)}`);
  }
  const rate = 1 - failures.length / rows.length;
  t.comment(`Minerva self-consistency ${(rate * 100).toFixed(1)}%`);
  for (const f of failures) t.comment(`  failure ${f}`);
  t.ok(rate >= 0.98, `rate ${rate} >= 0.98`);
});

t.test('AMC23: float answers (27.0) are equal to their integer forms (27) both ways', async (t) => {
  const rows = readJsonl<{ answer: number; id: number }>('qwen25math/amc23_test.jsonl');
  t.equal(rows.length, 40);
  const failures: string[] = [];
  for (const r of rows) {
    const asFloat = Number.isInteger(r.answer) ? r.answer.toFixed(1) : String(r.answer);
    const asInt = String(Math.round(r.answer));
    const okForward = verifyParsed(parse(asFloat, GOLD_EXPR_ONLY), parse(`so \\boxed{${asInt}}`, ANSWER_CFG));
    const okBackward = verifyParsed(parse(asInt, GOLD_EXPR_ONLY), parse(`so \\boxed{${asFloat}}`, ANSWER_CFG));
    const okLighteval = verifyParsed(parse(asFloat, GOLD_EXPR_ONLY), parse(`The answer is ${asInt}`, LIGHTEVAL_PRED), {
      precision: 5,
    });
    // and a wrong integer must not pass
    const wrong = verifyParsed(
      parse(asFloat, GOLD_EXPR_ONLY),
      parse(`\\boxed{${Math.round(r.answer) + 1}}`, ANSWER_CFG),
    );
    if (!okForward || !okBackward || !okLighteval || wrong) failures.push(`id ${r.id}: ${asFloat} vs ${asInt}`);
  }
  for (const f of failures) t.comment(`  failure ${f}`);
  t.equal(failures.length, 0);
});

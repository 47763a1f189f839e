// Conformance with Math-Verify's own test suite (test/fixtures/math-verify: the gold/answer cases of
// huggingface/Math-Verify's tests at a fixed commit, Apache-2.0, see NOTICE.md). Each case runs with
// the settings its upstream test passes: both sides parsed with LaTeX (boxed priority 0) and/or
// expression extraction, any_match with the first-match string fallback, the test's float rounding,
// `strict` and `allow_set_relation_comp`; Math-Verify's 5 s parse and verify timeouts as budgets.
// Math-Verify 0.8's LatexExtractionConfig no longer splits equations in normalisation
// (equations=False): the chains are handled by the comparison, as here.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import {
  ANSWER_CFG,
  GOLD_DEFAULT,
  exprConfig,
  latexConfig,
  verify,
  type ExtractionConfig,
  type ParseOptions,
} from '../../src/rewards/verifier/index.js';

interface Case {
  file: string;
  test: string;
  line: number;
  gold: string;
  pred: string;
  expected: boolean;
  helper: 'compare_strings' | 'parse_defaults';
  match_types?: ('latex' | 'expr')[];
  precision?: number;
  strict?: boolean;
  allow_set_relation_comp?: boolean;
  loractor_differs?: string;
}
const doc = JSON.parse(readFileSync(join(repoRoot(), 'test', 'fixtures', 'math-verify', 'cases.json'), 'utf8')) as {
  source: { commit: string };
  cases: Case[];
};
const BUDGET_MS = 5000;

/** The parse options and verify options matching a case's upstream settings. */
function settingsOf(c: Case): {
  parse: ParseOptions;
  precision: number;
  strict: boolean;
  allowSetRelationComp: boolean;
} {
  const latex = (boxedMatchPriority: number): ExtractionConfig =>
    latexConfig({ boxedMatchPriority, normalization: { equations: false } });
  const extraction =
    c.helper === 'compare_strings'
      ? (c.match_types ?? ['latex', 'expr']).map((m) => (m === 'latex' ? latex(0) : exprConfig()))
      : [latex(50), exprConfig()];
  return {
    parse: { extraction, mode: 'any_match', fallback: 'first_match', budgetMs: BUDGET_MS },
    precision: c.precision ?? 6,
    strict: c.strict ?? true,
    allowSetRelationComp: c.allow_set_relation_comp ?? false,
  };
}

const where = (c: Case): string => `${c.file}:${c.line} (${c.test})`;

t.test(`Math-Verify @${doc.source.commit.slice(0, 7)}: agreement with the expected verdicts`, async (t) => {
  t.ok(doc.cases.length >= 270, `${doc.cases.length} cases`);
  let agree = 0;
  const differences: string[] = [];
  for (const c of doc.cases) {
    const s = settingsOf(c);
    const r = verify(c.gold, c.pred, {
      goldOptions: s.parse,
      answerOptions: s.parse,
      precision: s.precision,
      strict: s.strict,
      allowSetRelationComp: s.allowSetRelationComp,
      budgetMs: BUDGET_MS,
    });
    if (r.correct === c.expected) {
      agree++;
      t.notOk(c.loractor_differs, `${where(c)} is marked as a deliberate difference but agrees: update cases.json`);
    } else {
      differences.push(
        `${where(c)}: expected ${c.expected}, loractor ${r.correct}${c.loractor_differs ? ` (on purpose: ${c.loractor_differs})` : ''}`,
      );
      t.ok(
        c.loractor_differs,
        `${where(c)}: verify(${JSON.stringify(c.gold.slice(0, 80))}, ${JSON.stringify(c.pred.slice(-80))}) = ${r.correct}, expected ${c.expected} (parsed ${r.goldText} vs ${r.answerText})`,
      );
    }
  }
  const rate = agree / doc.cases.length;
  t.comment(`agreement ${(rate * 100).toFixed(1)}% (${agree}/${doc.cases.length})`);
  for (const d of differences) t.comment(`  differs: ${d}`);
  t.ok(rate >= 0.97, `agreement ${(rate * 100).toFixed(1)}% >= 97%`);
});

t.test('the three wrong accepts of the issue stay rejected', async (t) => {
  const latexOnly = settingsOf({ helper: 'compare_strings', match_types: ['latex'] } as Case).parse;
  const both = settingsOf({ helper: 'compare_strings', match_types: ['latex', 'expr'] } as Case).parse;
  const v = (g: string, a: string, p: ParseOptions) => verify(g, a, { goldOptions: p, answerOptions: p }).correct;
  t.equal(v('$9$', 'Answer $ \n 9 \n $', latexOnly), false, 'inline $ .. $ does not cross lines');
  t.equal(v('$9$', 'Answer \\( \n 9 \n \\)', latexOnly), false, 'inline \\( .. \\) does not cross lines');
  t.equal(v('$9$', 'Answer \\[ \n 9 \n \\]', latexOnly), true, 'display \\[ .. \\] may');
  t.equal(
    v('\\boxed{1} no no no no no \\boxed{2}', '$\\boxed{1,2}$', both),
    false,
    'two distant boxes are not one answer',
  );
  t.equal(v('$120$', '\\boxed{5!}', both), true, '5! is 120');
  t.equal(v('$5$', '\\boxed{5!}', both), false, '5! is not 5');
  t.equal(v('$1024$', '\\boxed{2^{10}}', both), true, '2^{10} is 1024');
  t.equal(v('$10$', '\\boxed{2^{10}}', both), false, '2^{10} is not 10');
  // bare text: a number glued to more mathematics is no answer (Math-Verify reads "5!" as 5)
  t.equal(v('$5$', 'The answer is 5!', both), false, 'bare 5! is not 5');
  t.equal(v('$10$', 'The answer is 2^{10}', both), false, 'bare 2^{10} is not 10');
  t.equal(v('$2$', 'The answer is 2^{10}', both), false, 'bare 2^{10} is not 2');
  t.equal(v('$1024$', 'The answer is 2^10', both), true, 'plain-text 2^10 is 1024');
});

t.test(
  'informational: the same cases through the training presets (gold GOLD_DEFAULT, answer ANSWER_CFG)',
  async (t) => {
    // Training rewards parse the answer as Tina / open-r1 do: LaTeX only, a boxed or anchored answer
    // required (no bare numbers, no unanchored $..$), first match only. Upstream tests that read bare
    // numbers or unanchored LaTeX from the answer therefore differ under these presets on purpose.
    let agree = 0;
    for (const c of doc.cases) {
      const r = verify(c.gold, c.pred, {
        goldOptions: { ...GOLD_DEFAULT, budgetMs: BUDGET_MS },
        answerOptions: { ...ANSWER_CFG, budgetMs: BUDGET_MS },
        precision: c.precision ?? 6,
        budgetMs: BUDGET_MS,
      });
      if (r.correct === c.expected) agree++;
    }
    t.comment(
      `training presets agree on ${agree}/${doc.cases.length} (${((agree / doc.cases.length) * 100).toFixed(1)}%)`,
    );
    t.ok(agree > 0);
  },
);

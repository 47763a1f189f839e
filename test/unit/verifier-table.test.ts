// Table-driven check of the math verifier against (gold, answer, expected) cases covering the
// math_verify 0.5.2 rules (extraction, normalisation, equivalence, and the negative cases).
import t from 'tap';
import { verify } from '../../src/rewards/verifier/index.js';
import { CASE_GROUPS, caseCount } from '../fixtures/verifier-cases.js';

t.test('the table is large enough to cover every rule', async (t) => {
  t.ok(caseCount() >= 300, `${caseCount()} cases`);
  const negatives = CASE_GROUPS.flatMap((g) => g.cases).filter((c) => !c[2]).length;
  t.ok(negatives >= 60, `${negatives} negative cases`);
});

for (const group of CASE_GROUPS) {
  t.test(group.rule, async (t) => {
    for (const [gold, answer, expected] of group.cases) {
      const g = group.wrap ? `$${gold}$` : gold;
      const a = group.wrap ? `\\boxed{${answer}}` : answer;
      const r = verify(g, a);
      t.equal(
        r.correct,
        expected,
        `verify(${JSON.stringify(g)}, ${JSON.stringify(a)}) -> ${expected} (parsed ${r.goldText} vs ${r.answerText})`,
      );
    }
  });
}

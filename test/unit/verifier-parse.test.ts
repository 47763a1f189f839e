// parse()/verifyParsed() behaviour at the extraction level: priorities, modes, fallbacks, presets.
import t from 'tap';
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

const latexOf = (p: ParsedAnswer[]): string | undefined => (p[0]?.kind === 'math' ? p[0].latex : undefined);

t.test('nothing matched gives []; a match gives [value, raw string]', async (t) => {
  t.same(parse('no math here at all', ANSWER_CFG), []);
  t.same(parse('', GOLD_DEFAULT), []);
  const p = parse('so \\boxed{\\dfrac{1}{2}}', ANSWER_CFG);
  t.equal(p.length, 2);
  t.equal(p[0].kind, 'math');
  t.same(p[1], { kind: 'string', text: '\\dfrac{1}{2}' });
  t.equal(parse('so \\boxed{5}', { ...ANSWER_CFG, fallback: 'none' }).length, 1);
});

t.test('first_match stops at an unparseable match; any_match goes on', async (t) => {
  const text = 'maybe $3$ ... \\boxed{\\frac{}{}+}';
  const first = parse(text, { extraction: ['latex'], mode: 'first_match', boxedPriority: 0 });
  t.same(first, [{ kind: 'string', text: '\\frac{}{}+' }], 'only the raw fallback');
  const any = parse(text, { extraction: ['latex'], mode: 'any_match', boxedPriority: 0 });
  t.equal(latexOf(any), '3', 'the next candidate parsed');
  t.same(any[1], { kind: 'string', text: '\\frac{}{}+' }, 'fallback is the first match');
});

t.test('boxed: the last box and its close neighbours; boxes inside $..$ per the config', async (t) => {
  // a plain \boxed{..} match takes the "last" boxes whatever the config says (Math-Verify)
  const far = '\\boxed{1} was the first guess but the check fails for the second case so \\boxed{2}';
  t.equal(latexOf(parse(far, ANSWER_CFG)), '2', 'a box far before the last one is not part of the answer');
  t.same(
    (parse('\\boxed{1}, so \\boxed{2}', ANSWER_CFG)[0] as { json: unknown }).json,
    ['Set', 1, 2],
    'under 10 characters apart: one answer',
  );
  t.same(
    (parse('\\boxed{1} papers and \\boxed{2} bins', ANSWER_CFG)[0] as { json: unknown }).json,
    ['Set', 1, 2],
    'and/or/, within 70 characters',
  );
  t.equal(
    latexOf(parse('\\boxed{1} no no no no no \\boxed{2}', ANSWER_CFG)),
    '2',
    'no separator, 10+ characters apart',
  );
  t.equal(latexOf(parse('\\boxed{7} and then \\boxed{7}', ANSWER_CFG)), '7', 'repeated contents once');
  // inside one environment the config's mode applies: "all" joins every box
  t.same(parse('$\\boxed{1} is wrong it was \\boxed{2} in the end$', ANSWER_CFG)[0], {
    kind: 'math',
    json: ['Set', 1, 2],
    latex: '1,2',
    hasFloat: false,
  });
  t.equal(latexOf(parse('$\\boxed{1} is wrong it was \\boxed{2} in the end$', { ...ANSWER_CFG, boxed: 'last' })), '2');
  t.equal(latexOf(parse('\\boxed{\\boxed{7}}', ANSWER_CFG)), '7', 'nested box unwrapped');
  t.equal(latexOf(parse('\\boxed{\\{1,2\\}}', ANSWER_CFG)), '\\{1,2\\}', 'escaped braces do not end the box');
  t.equal(
    latexOf(parse('\\fbox{9}', ANSWER_CFG)),
    '9',
    'a bare \\fbox counts too (loractor; Math-Verify only reads it inside $..$)',
  );
  t.equal(latexOf(parse('$\\boxed{28}$ pct', ANSWER_CFG)), '\\frac{28}{100}', 'a percent word after the environment');
});

t.test('priorities: boxed 0 for answers, 50 for gold; anchors; anchorless only when asked', async (t) => {
  const text = 'The final answer is $4$. I hope it is correct. Earlier: \\boxed{3}';
  t.equal(
    latexOf(parse(text, ANSWER_CFG)),
    '3',
    'boxed and "final answer is" share priority 0 in ANSWER_CFG: the right-most wins',
  );
  t.equal(latexOf(parse(text, GOLD_DEFAULT)), '4', 'gold: "final answer is ... I hope" (0) beats boxed (50)');
  t.equal(latexOf(parse('Answer: $7$ and then $8$', ANSWER_CFG)), '7', 'answer: anchor');
  t.same(parse('we get $8$', ANSWER_CFG), [], 'ANSWER_CFG has no anchorless matches');
  t.equal(latexOf(parse('we get $8$', GOLD_LATEX_ONLY)), '8');
  t.equal(latexOf(parse('we get $8$ then $9$', GOLD_LATEX_ONLY)), '9', 'right-most first');
  t.equal(latexOf(parse('we get $8$', { ...GOLD_LATEX_ONLY, tryExtractWithoutAnchor: false })), undefined);
  t.equal(latexOf(parse('we get \\(8\\) and \\[9\\]', GOLD_LATEX_ONLY)), '8,9', 'joined envs form a set');
  t.equal(latexOf(parse('$$x^2$$', GOLD_LATEX_ONLY)), 'x^2');
  t.equal(latexOf(parse('costs 5$ or \\$6', GOLD_LATEX_ONLY)), undefined, '$ after a digit or escaped is no delimiter');
});

t.test('expression extraction: numbers, separators, percent, anchors', async (t) => {
  t.equal(latexOf(parse('#### 1,234', GOLD_EXPR_ONLY)), '1234');
  t.equal(latexOf(parse('answer: 12.5%', GOLD_EXPR_ONLY)), '\\frac{12.5}{100}');
  t.equal(latexOf(parse('I had 3 apples and then 7.', GOLD_EXPR_ONLY)), '7');
  t.equal(
    latexOf(parse('the answer is 3/4 here, not 5', GOLD_EXPR_ONLY)),
    '\\frac{3}{4}',
    'anchor (200) beats anchorless (300)',
  );
  t.same(parse('x y z', GOLD_EXPR_ONLY), []);
  const pred = parse('I think \\boxed{27}', LIGHTEVAL_PRED);
  t.ok(verifyParsed(parse('27.0', GOLD_EXPR_ONLY), pred, { precision: 5 }));
});

t.test('verifyParsed: any pair, strings only against strings', async (t) => {
  const s = (text: string): ParsedAnswer => ({ kind: 'string', text });
  t.ok(verifyParsed([s('abc')], [s(' abc ')]));
  t.notOk(verifyParsed([s('')], [s('')]), 'empty strings never match');
  t.notOk(verifyParsed([{ kind: 'math', json: 5, latex: '5', hasFloat: false }], [s('5')]), 'value vs string is false');
  t.ok(
    verifyParsed(
      [s('x'), { kind: 'math', json: 5, latex: '5', hasFloat: false }],
      [{ kind: 'math', json: 5, latex: '5', hasFloat: false }],
    ),
  );
  t.notOk(verifyParsed([], parse('\\boxed{5}', ANSWER_CFG)));
  t.ok(
    verifyParsed(parse('$0.33$', GOLD_DEFAULT), parse('\\boxed{\\frac{1}{3}}', ANSWER_CFG), { precision: 2 }),
    'precision option',
  );
  t.notOk(
    verifyParsed(parse('$0.33$', GOLD_DEFAULT), parse('\\boxed{\\frac{1}{3}}', ANSWER_CFG)),
    'default precision 6',
  );
});

t.test('parsed answers are plain JSON data (they cross threads)', async (t) => {
  const p = parse('\\boxed{(1, \\sqrt{2})}', ANSWER_CFG);
  const copy = JSON.parse(JSON.stringify(p)) as ParsedAnswer[];
  t.same(copy, p);
  t.ok(verifyParsed(copy, parse('$(1,\\sqrt 2)$', GOLD_DEFAULT)));
});

t.test('bad input is rejected with a clear error', async (t) => {
  t.throws(() => parse(42 as unknown as string), /text must be a string/);
  t.throws(() => parse('x', { extraction: ['latx' as 'latex'] }), /opts\.extraction/);
  t.throws(() => verifyParsed(null as unknown as ParsedAnswer[], []), /must be arrays/);
});

t.test(
  'an anchored number is found among many bare numbers (each source keeps its own right-most matches)',
  async (t) => {
    const text = 'The answer: 7. ' + Array.from({ length: 300 }, (_, i) => `then ${i + 10} more`).join(', ');
    t.equal(latexOf(parse(text, GOLD_EXPR_ONLY)), '7', '"answer:" (priority 100) beats 300 anchorless numbers');
  },
);

t.test("boxed: true (Tina's len/cosine answers) reads a box inside $..$ as its content", async (t) => {
  const ans = (s: string) => parse(s, { ...ANSWER_CFG, boxed: true });
  t.ok(
    verifyParsed(ans('The final answer is $\\boxed{10,\\!080}$.'), parse('$10080$', GOLD_LATEX_ONLY)),
    'thousands separators inside the box',
  );
  t.ok(
    verifyParsed(ans('so $\\boxed{5x - 7y + 11z + 4 = 0}$.'), parse('$5x - 7y + 11z + 4 = 0$', GOLD_LATEX_ONLY)),
    'an equation inside the box',
  );
  t.notOk(verifyParsed(ans('so $\\boxed{12}$.'), parse('$10080$', GOLD_LATEX_ONLY)));
});

// Adversarial inputs must come back with a verdict within a bounded time: linear-time scanners
// (no regex backtracking), size/depth limits before the CAS, and a work budget on comparison.
import t from 'tap';
import { verify } from '../../src/rewards/verifier/index.js';

const LIMIT_MS = 3000;

const inputs: Record<string, () => string> = {
  'ten MB of text ending in a boxed answer': () =>
    'We compute 12 and $x$ then \\(y\\), answer: '.repeat(240_000).slice(0, 10_000_000) + ' \\boxed{42}',
  'ten MB of letters': () => 'a'.repeat(10_000_000),
  '10,000 nested boxes': () => '\\boxed{'.repeat(10_000) + '42' + '}'.repeat(10_000),
  '10,000 nested braces in a box': () => '\\boxed{' + '{'.repeat(10_000) + '42' + '}'.repeat(10_000) + '}',
  '100,000 unclosed boxes': () => '\\boxed{'.repeat(100_000),
  'a dollar never closed': () => '$' + 'a'.repeat(1_000_000),
  'half a million dollar pairs': () => '$a'.repeat(500_000),
  'half a million \\[ openers': () => '\\['.repeat(500_000),
  '"final answer" then a megabyte of spaces': () => 'final answer' + ' '.repeat(1_000_000) + 'is $42$',
  '"answer" repeated': () => 'answer '.repeat(500_000) + '$42$',
  'arithmetic bait 1+1+...+x': () => '1+'.repeat(500_000) + 'x',
  'comma-digit bait': () => '1,'.repeat(1_000_000),
  'deep parentheses': () => '\\boxed{' + '('.repeat(50_000) + '42' + ')'.repeat(50_000) + '}',
  'a huge boxed expression': () => '\\boxed{' + 'x^2+'.repeat(100_000) + '1}',
  'lone UTF-16 surrogates': () => '\\boxed{\uD800 42 \uDC00} $\uDFFF$ ' + '\uD83D'.repeat(10_000) + ' \\boxed{\uD800}',
  'many equal signs': () => '\\boxed{' + 'x='.repeat(200_000) + '42}',
  'pathological sqrt/frac nesting': () =>
    '\\boxed{' + '\\sqrt{\\frac{1}{'.repeat(2_000) + '2' + '}}}'.repeat(2_000) + '}',
};

for (const [name, make] of Object.entries(inputs)) {
  t.test(name, async (t) => {
    const text = make();
    for (const [label, gold, answer] of [
      ['as answer', '$42$', text],
      ['as gold', text, '\\boxed{42}'],
    ] as const) {
      // CPU time is the work done; wall time is printed too but depends on how busy the machine is
      // (the suite runs beside other jobs on 2 cores).
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const r = verify(gold, answer);
      const c = process.cpuUsage(c0);
      const cpuMs = (c.user + c.system) / 1000;
      const wallMs = performance.now() - t0;
      t.type(r.correct, 'boolean', `${label}: verdict ${r.correct}`);
      t.ok(
        cpuMs < LIMIT_MS,
        `${label}: ${cpuMs.toFixed(0)} ms CPU < ${LIMIT_MS} ms (wall ${wallMs.toFixed(0)} ms, ${text.length} chars)`,
      );
    }
  });
}

t.test('the 10 MB answer still finds its boxed answer', async (t) => {
  const text = 'We compute 12 and $x$ then \\(y\\), answer: '.repeat(240_000).slice(0, 10_000_000) + ' \\boxed{42}';
  t.equal(verify('$42$', text).correct, true);
  t.equal(verify('$41$', text).correct, false);
});

t.test('CAS-expensive answers are bounded and never equal by overflow', async (t) => {
  const cases: [string, string, boolean][] = [
    ['$9^{9^{9^{9}}}$', '\\boxed{9^{9^{9^{9}}}+1}', false],
    ['$9^{9^{9^{9}}}$', '\\boxed{9^{9^{9^{9}}}}', true], // identical strings still match
    ['$1000!$', '\\boxed{100000!}', false],
    ['$(x+1)^{1000}$', '\\boxed{(x+1)^{999}}', false],
    ['$2^{2^{40}}$', '\\boxed{2^{2^{40}}-1}', false],
    ['$\\binom{1000000000}{500000000}$', '\\boxed{2}', false],
    ['$\\sum_{k=1}^{10^{9}} k$', '\\boxed{5}', false],
    ['$x^{x^{x^{x}}}$', '\\boxed{x^{x^{x}}}', false],
    ['$2^{2023}$', '\\boxed{2^{2023}}', true],
    ['$10!$', '\\boxed{3628800}', true],
  ];
  for (const [gold, answer, expected] of cases) {
    const c0 = process.cpuUsage();
    const r = verify(gold, answer);
    const c = process.cpuUsage(c0);
    const cpuMs = (c.user + c.system) / 1000;
    t.equal(r.correct, expected, `${gold} vs ${answer}`);
    t.ok(cpuMs < LIMIT_MS, `${gold} vs ${answer}: ${cpuMs.toFixed(0)} ms CPU`);
  }
});

// Each reward function against values computed by hand from the formulas in
// reference/tina-recipe.md §2.1–2.2, plus a differential check of the format scanners against the
// equivalent (backtracking) JS regexes on many short random strings.
import t from 'tap';
import {
  formatReward,
  formatRewardOpenR1,
  formatRewardOpenR1Strict,
  tagCountReward,
  tagCountRewardOpenR1,
} from '../../src/rewards/format.js';
import {
  countReasoningSteps,
  makeRepetitionPenaltyReward,
  reasoningStepsReward,
  repeatedNgramFraction,
} from '../../src/rewards/heuristics.js';
import { computeCosineReward, computeLengthRewards } from '../../src/rewards/length.js';
import {
  codePointLength,
  countNonOverlapping,
  matchesOpenR1Format,
  matchesOpenR1StrictFormat,
} from '../../src/rewards/text-scan.js';
import { accuracyReward, accuracyRewardOpenR1, lengthReward, makeCosineReward } from '../../src/rewards/accuracy.js';
import { nansumWeighted } from '../../src/rewards/registry.js';
import { Rng } from '../../src/util/rng.js';

const near = (a: number | null, b: number): boolean => a !== null && Math.abs(a - b) < 1e-12;

t.test('Tina format: exactly one "\\n</think>\\n", counted without overlap like str.count', async (tt) => {
  tt.same(
    formatReward(
      ['reasoning\n</think>\n\\boxed{1}', 'no tag', 'a\n</think>\nb\n</think>\n', '\n</think>\n</think>\n', ''],
      { solution: ['', '', '', '', ''] },
    ),
    [1, 0, 0, 1, 0],
  );
  tt.equal(countNonOverlapping('aaaa', 'aa'), 2, 'Python "aaaa".count("aa") == 2');
});

t.test('Tina tag_count: 0.5 per tag occurring exactly once', async (tt) => {
  tt.same(
    tagCountReward(
      ['<think>\nx\n</think>\ny', '<think>\nx', 'x\n</think>\n', '<think>\n<think>\n\n</think>\n', 'none'],
      { solution: [] },
    ),
    [1, 0.5, 0.5, 0.5, 0],
  );
});

t.test('open-r1 tag_count: 0.25 per tag', async (tt) => {
  const full = '<think>\nr\n</think>\n<answer>\n5\n</answer>';
  tt.same(
    tagCountRewardOpenR1([full, '<think>\nr\n</think>\n', full + full, '\n<answer>\n'], { solution: [] }),
    [1, 0.5, 0, 0.25],
  );
});

t.test('open-r1 format regexes (7041fbc and 566cfd1)', async (tt) => {
  const ok = '<think>\nstep\n</think>\n<answer>\n42\n</answer>';
  tt.same(
    formatRewardOpenR1(
      [
        ok,
        '<think>a</think>   <answer>b</answer>',
        '<think>a</think>x<answer>b</answer>',
        ' <think>a</think><answer>b</answer>',
        '<think>a</think><answer>b</answer>\ntrailing line',
        '<think>a</think><answer>b</answer>trailing',
      ],
      { solution: [] },
    ),
    [1, 1, 0, 0, 1, 0],
  );
  tt.same(
    formatRewardOpenR1Strict(
      [
        ok,
        '<think>a</think><answer>b</answer>',
        '<think>\n\n</think>\n<answer>\n\n</answer>',
        '<think>\n</think>\n<answer>\n\n</answer>',
      ],
      { solution: [] },
    ),
    [1, 0, 1, 0],
  );
});

t.test('format scanners agree with the backtracking regexes on random short strings', async (tt) => {
  const rng = new Rng(7);
  const pieces = ['<think>', '</think>', '<answer>', '</answer>', '\n', ' ', 'x', '\t', '<', '>'];
  const loose = /^<think>[\s\S]*?<\/think>[ \t\n\v\f]*<answer>[\s\S]*?<\/answer>$/m;
  const strict = /^<think>\n[\s\S]*?\n<\/think>\n<answer>\n[\s\S]*?\n<\/answer>$/m;
  const reMatch = (re: RegExp, s: string) => {
    const m = re.exec(s);
    return m !== null && m.index === 0;
  };
  let agreeLoose = 0,
    agreeStrict = 0,
    positives = 0;
  const N = 20000;
  for (let i = 0; i < N; i++) {
    let s = rng.next() < 0.7 ? '<think>' + (rng.next() < 0.5 ? '\n' : '') : '';
    const k = rng.int(9);
    for (let j = 0; j < k; j++) s += pieces[rng.int(pieces.length)];
    if (rng.next() < 0.5)
      s += '</think>\n<answer>\n' + (rng.next() < 0.5 ? 'y' : '') + '\n</answer>' + (rng.next() < 0.3 ? '\nz' : '');
    if (reMatch(loose, s) === matchesOpenR1Format(s)) agreeLoose++;
    else tt.fail(`loose disagrees on ${JSON.stringify(s)}`);
    if (reMatch(strict, s) === matchesOpenR1StrictFormat(s)) agreeStrict++;
    else tt.fail(`strict disagrees on ${JSON.stringify(s)}`);
    if (matchesOpenR1Format(s)) positives++;
  }
  tt.equal(agreeLoose, N);
  tt.equal(agreeStrict, N);
  tt.ok(positives > N / 20, `enough positive cases (${positives})`);
});

t.test('reasoning_steps: min(1, count/3) with ^ only at text start', async (tt) => {
  tt.equal(countReasoningSteps('Step 1: a\nStep 2: b'), 2);
  tt.equal(countReasoningSteps('1. first\n2. second'), 1, '^\\d+\\. only matches at the very start (no MULTILINE)');
  tt.equal(countReasoningSteps('First, x. Second, y.\n- z\n* w Finally, done'), 5);
  tt.same(
    reasoningStepsReward(['Step 1: a', 'First, Next, Finally,', 'none', 'First, Second, Next, Finally,'], {
      solution: [],
    }),
    [1 / 3, 1, 0, 1],
  );
});

t.test('repetition_penalty: (1 - unique/total) * max_penalty', async (tt) => {
  const f = makeRepetitionPenaltyReward(3, -1.0);
  // "a b c a b c": 3-grams abc, bca, cab, abc → 4 total, 3 unique → (1 - 3/4)·(-1) = -0.25
  tt.same(f(['a b c a b c', 'A B c a b C', 'one two', '', 'x y z'], { solution: [] }), [-0.25, -0.25, 0, 0, 0]);
  tt.equal(repeatedNgramFraction('one two', 3), 0, 'below n words → 0');
  tt.equal(repeatedNgramFraction('w w w w w', 2), 1 - 1 / 4);
  const g = makeRepetitionPenaltyReward(2, -0.5);
  tt.same(g(['w w w w w'], { solution: [] }), [-0.5 * 0.75]);
  tt.throws(() => makeRepetitionPenaltyReward(3, 0.5), /should not be positive/);
  // Large vocabulary (10^4 words, n = 4 → 10^16 > 2^53) takes the string-key path: same definition.
  const words = Array.from({ length: 10_000 }, (_, i) => 'w' + i);
  const text = [...words, ...words.slice(0, 6)].join(' ');
  const naive = (ws: string[], n: number) => {
    const s = new Set<string>();
    for (let i = 0; i + n <= ws.length; i++) s.add(ws.slice(i, i + n).join(' '));
    return 1 - s.size / (ws.length - n + 1);
  };
  tt.equal(repeatedNgramFraction(text, 4), naive(text.split(' '), 4));
  tt.ok(Math.abs(repeatedNgramFraction(text, 4) - 3 / 10_003) < 1e-15, 'the repeated prefix adds 3 duplicate 4-grams');
});

t.test('cosine formula, Tina values, unclipped progress', async (tt) => {
  const p = { minValueWrong: 0.0, maxValueWrong: -0.5, minValueCorrect: 0.5, maxValueCorrect: 1.0, maxLen: 1000 };
  tt.ok(near(computeCosineReward(0, true, p), 1.0), 'correct, length 0');
  tt.ok(near(computeCosineReward(1000, true, p), 0.5), 'correct, length max_len');
  tt.ok(near(computeCosineReward(500, true, p), 0.75), 'correct, half');
  tt.ok(near(computeCosineReward(0, false, p), 0.0), 'wrong, length 0');
  tt.ok(near(computeCosineReward(1000, false, p), -0.5), 'wrong, max_len');
  // progress 1.5 is not clipped: cos(1.5π) = 0 → midpoint again
  tt.ok(near(computeCosineReward(1500, true, p), 0.75), 'correct, 1.5× max_len oscillates back up');
  tt.ok(near(computeCosineReward(2000, false, p), 0.0), 'wrong, 2× max_len back to the short-answer value');
  tt.ok(near(computeCosineReward(250, false, p), -0.25 * (1 - Math.cos(Math.PI / 4))), 'wrong at quarter length');
});

t.test('length reward (Kimi k1.5) incl. min == max', async (tt) => {
  // lengths 10, 20, 30: λ = 0.5, 0, -0.5
  tt.same(computeLengthRewards([10, 20, 30], [true, true, true]), [0.5, 0, -0.5]);
  tt.same(computeLengthRewards([10, 20, 30], [false, false, false]), [0, 0, -0.5]);
  tt.same(computeLengthRewards([7, 7, 7], [true, false, true]), [0, 0, 0], 'min == max → all 0');
  tt.same(computeLengthRewards([], []), []);
});

t.test('accuracy (Tina) and accuracy_open_r1 through the verifier', async (tt) => {
  const c = ['<think>\nr\n</think>\nso \\boxed{\\frac{1}{2}}', 'the answer is \\boxed{3}', 'no box 0.5'];
  tt.same(accuracyReward(c, { solution: ['$\\frac{1}{2}$', '$0.5$', '$0.5$'] }), [1, 0, 0]);
  tt.same(
    accuracyReward(['\\boxed{1}'], { solution: ['no math at all here'] }),
    [null],
    'gold with nothing to extract → None',
  );
  tt.same(accuracyReward(['\\boxed{1}'], { solution: [''] }), [null], 'unparseable gold → None');
  tt.same(
    accuracyRewardOpenR1(['\\boxed{1}', '\\boxed{2}'], { solution: ['', '$2$'] }),
    [1, 1],
    'open-r1: unparseable gold → 1.0',
  );
  tt.throws(() => accuracyReward(['a', 'b'], { solution: ['$1$'] }), /ctx.solution/);
});

t.test('cosine and length rewards end to end (characters as Python len)', async (tt) => {
  const cos = makeCosineReward({
    minValueWrong: 0,
    maxValueWrong: -0.5,
    minValueCorrect: 0.5,
    maxValueCorrect: 1,
    maxLen: 20,
  });
  const right = '\\boxed{5}'; // 9 chars
  const out = cos([right, '\\boxed{6}', right], { solution: ['$5$', '$5$', ''] });
  tt.ok(near(out[0]!, 0.5 + 0.25 * (1 + Math.cos((9 / 20) * Math.PI))), 'correct');
  tt.ok(near(out[1]!, -0.5 + 0.25 * (1 + Math.cos((9 / 20) * Math.PI))), 'wrong');
  tt.equal(out[2], 1.0, 'empty gold → 1.0');
  tt.equal(codePointLength('😀a'), 2, 'astral char counts once');
  const len = lengthReward(['\\boxed{5}', 'xxxxxxxxxxxxxxxxxx \\boxed{5}', 'x \\boxed{4}'], {
    solution: ['$5$', '$5$', '$5$'],
  });
  // lengths 9, 28, 11 → min 9, max 28; λ = 0.5, -0.5, 0.5 - 2/19; third is wrong → min(0, λ) = 0
  tt.same(len, [0.5, -0.5, 0]);
});

t.test('nansum of weighted terms skips null/NaN', async (tt) => {
  tt.equal(nansumWeighted([1, null, 0.5], [2, 1, 1]), 2.5);
  tt.equal(nansumWeighted([null, NaN], [1, 1]), 0);
});

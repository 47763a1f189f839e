// Synthetic task generator: calibrated format, determinism, split disjointness, sampler resume,
// supervised mix proportions, exact scoring, and clear errors.
import t from 'tap';
import {
  workedAdditionSolution,
  generateTaskItems,
  createTaskSampler,
  createSupervisedMix,
  splitOf,
  problemHash,
  completionFor,
  isCorrectAnswer,
  isWorkedFormat,
  lastBoxed,
  getTaskFamily,
} from '../../src/data/tasks/index.js';

t.test('worked solution is exactly the calibrated format', async (t) => {
  t.equal(
    workedAdditionSolution([3478, 5965]),
    '<think>\n8+5=13\n7+6+1=14\n4+9+1=14\n3+5+1=9\n</think>\n\\boxed{9443}',
  );
  // final carry becomes the leading answer digit
  t.equal(workedAdditionSolution([95, 87]), '<think>\n5+7=12\n9+8+1=18\n</think>\n\\boxed{182}');
  // three operands: carry 2 shown as +2
  t.equal(workedAdditionSolution([99, 99, 99]), '<think>\n9+9+9=27\n9+9+9+2=29\n</think>\n\\boxed{297}');
});

t.test('items are well-formed, correct and balanced across levels', async (t) => {
  for (const family of ['addition', 'addition3']) {
    const items = generateTaskItems({ family, split: 'heldout', seed: 7, count: 200 });
    const perLevel = new Map<number, number>();
    for (const it of items) {
      perLevel.set(it.level, (perLevel.get(it.level) ?? 0) + 1);
      t.equal(it.prompt, it.problem + '=');
      t.equal(it.answer, String(it.operands.reduce((a, b) => a + b, 0)));
      for (const op of it.operands) t.equal(String(op).length, it.level, 'operands have exactly L digits');
      t.ok(isWorkedFormat(it.solution), 'solution in worked format');
      t.ok(isCorrectAnswer(it.solution, it.answer));
      if (t.passing() === false) break;
    }
    t.same(
      [...perLevel.entries()].sort(),
      [
        [2, 50],
        [3, 50],
        [4, 50],
        [5, 50],
      ],
      `${family}: levels cycled`,
    );
  }
});

t.test('generation is deterministic in the seed', async (t) => {
  const a = generateTaskItems({ split: 'train', seed: 123, count: 300 });
  const b = generateTaskItems({ split: 'train', seed: 123, count: 300 });
  const c = generateTaskItems({ split: 'train', seed: 124, count: 300 });
  t.same(a, b);
  t.not(JSON.stringify(a.map((x) => x.problem)), JSON.stringify(c.map((x) => x.problem)));
  t.equal(new Set(a.map((x) => x.problem)).size, 300, 'a fixed list has distinct problems');
});

t.test('train and held-out splits never overlap', async (t) => {
  // Exhaustively over every 2-digit problem: the partition is a function of the text, near 10 %.
  let held = 0;
  for (let a = 10; a < 100; a++) for (let b = 10; b < 100; b++) if (splitOf(`${a}+${b}`) === 'heldout') held++;
  t.ok(held / 8100 > 0.08 && held / 8100 < 0.12, `2-digit held-out share ${held / 8100}`);
  const heldout = generateTaskItems({ split: 'heldout', seed: 1, count: 400 });
  const heldSet = new Set(heldout.map((x) => x.problem));
  for (const seed of [1, 2, 3]) {
    const train = generateTaskItems({ split: 'train', seed, count: 4000 });
    t.equal(train.filter((x) => heldSet.has(x.problem)).length, 0, `train seed ${seed}: no held-out problem`);
    t.ok(train.every((x) => splitOf(x.problem) === 'train'));
  }
  const stream = createTaskSampler({ split: 'train', seed: 9 });
  let leaked = 0;
  for (let i = 0; i < 5000; i++) if (heldSet.has(stream.next().problem)) leaked++;
  t.equal(leaked, 0, 'the training stream never draws a held-out problem');
  t.ok(heldout.every((x) => splitOf(x.problem) === 'heldout'));
  t.not(problemHash('12+34'), problemHash('34+12'), 'hash depends on operand order');
});

t.test('sampler resumes exactly from its checkpointed state', async (t) => {
  const s1 = createTaskSampler({ split: 'train', seed: 5 });
  for (let i = 0; i < 37; i++) s1.next();
  const saved = JSON.parse(JSON.stringify(s1.state()));
  const rest1 = Array.from({ length: 50 }, () => s1.next().problem);
  const s2 = createTaskSampler({ split: 'train', seed: 5 }, saved);
  t.same(
    Array.from({ length: 50 }, () => s2.next().problem),
    rest1,
  );
  t.equal(s2.state().drawn, 87);
});

t.test('supervised mix follows the configured proportions', async (t) => {
  const mix = createSupervisedMix({ seed: 11 });
  const counts = { worked: 0, boxed: 0, plain: 0 };
  const n = 6000;
  for (let i = 0; i < n; i++) {
    const ex = mix.next();
    counts[ex.kind]++;
    t.equal(ex.completion, completionFor(ex.item, ex.kind));
    t.ok(isCorrectAnswer(ex.kind === 'plain' ? `\\boxed{${ex.completion}}` : ex.completion, ex.item.answer));
    if (!t.passing()) break;
  }
  // 3 standard errors of a binomial share at n = 6000 is < 0.02
  t.ok(Math.abs(counts.worked / n - 0.4) < 0.02, `worked ${counts.worked / n}`);
  t.ok(Math.abs(counts.boxed / n - 0.45) < 0.02, `boxed ${counts.boxed / n}`);
  t.ok(Math.abs(counts.plain / n - 0.15) < 0.02, `plain ${counts.plain / n}`);
  const custom = createSupervisedMix({ seed: 11, mix: { worked: 1, boxed: 0, plain: 0 } });
  for (let i = 0; i < 100; i++) t.equal(custom.next().kind, 'worked');
  t.throws(() => createSupervisedMix({ seed: 1, mix: { worked: 0.5, boxed: 0.2, plain: 0.2 } }), /sum to 1/);
  t.throws(() => createSupervisedMix({ seed: 1, mix: { worked: -0.1, boxed: 0.9, plain: 0.2 } }), /mix\.worked/);
});

t.test('scoring helpers', async (t) => {
  t.equal(lastBoxed('a \\boxed{1} b \\boxed{{2}3}'), '{2}3');
  t.equal(lastBoxed('\\boxed{12'), null);
  t.ok(isCorrectAnswer('\\boxed{0042}', '42'));
  t.notOk(isCorrectAnswer('\\boxed{43}', '42'));
  t.notOk(isCorrectAnswer('42', '42'), 'a plain answer is not a boxed answer');
  t.notOk(isWorkedFormat('\\boxed{42}'));
  t.notOk(isWorkedFormat('<think>\n</think>\n\\boxed{42}'), 'at least one step line');
  t.notOk(isWorkedFormat('<think>\n1+2=3\n</think>\n\\boxed{3}\n'), 'nothing after the box');
});

t.test('bad requests give clear errors', async (t) => {
  t.throws(
    () => generateTaskItems({ family: 'division', split: 'train', seed: 1, count: 1 }),
    /unknown task family 'division'/,
  );
  t.throws(() => generateTaskItems({ split: 'train', seed: 1, count: 1, levels: [9] }), /levels: 9 not supported/);
  t.throws(
    () => generateTaskItems({ split: 'heldout', seed: 1, count: 200, levels: [1] }),
    /level 1: 200 distinct heldout problems requested/,
  );
  t.throws(() => generateTaskItems({ split: 'train', seed: 1, count: 1, heldoutFraction: 1 }), /heldoutFraction/);
  t.throws(() => getTaskFamily('addition').sample(9, () => 0), /level 9/);
});

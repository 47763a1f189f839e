// Config schema (defaults, strictness, errors naming the field), registry resolution incl. custom
// modules from real files, and the scanners' linear time on backtracking bait.
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRewardsConfig, rewardsConfigSchema, rewardKwargsOf, rewardWeightsOf } from '../../src/rewards/config.js';
import {
  BUILTIN_REWARD_NAMES,
  absolutizeSpec,
  resolveRewardFunc,
  resolveRewardFuncs,
} from '../../src/rewards/registry.js';
import { matchesOpenR1Format, matchesOpenR1StrictFormat } from '../../src/rewards/text-scan.js';

t.test("defaults are Tina's and every knob is described", async (tt) => {
  const cfg = parseRewardsConfig({});
  tt.same(cfg.reward_funcs, ['format', 'accuracy']);
  tt.equal(cfg.reward_weights, null);
  tt.same(rewardWeightsOf(cfg), [1, 1]);
  tt.same(rewardKwargsOf(cfg), {
    cosine_min_value_wrong: 0,
    cosine_max_value_wrong: -0.5,
    cosine_min_value_correct: 0.5,
    cosine_max_value_correct: 1,
    cosine_max_len: 1000,
    repetition_n_grams: 3,
    repetition_max_penalty: -1,
  });
  tt.equal(cfg.reward_timeout_s, 3);
  for (const [key, field] of Object.entries(rewardsConfigSchema.shape)) {
    tt.ok((field as { description?: string }).description?.includes('Default'), `${key} is described with its default`);
  }
});

t.test('bad configs fail naming the field', async (tt) => {
  tt.throws(
    () => parseRewardsConfig({ reward_funcs: ['format'], reward_weights: [1, 2] }),
    /reward_weights: reward_weights has 2 entries/,
  );
  tt.throws(() => parseRewardsConfig({ reward_funcs: ['nope'] }), /reward_funcs\.0/);
  tt.throws(() => parseRewardsConfig({ repetition_max_penalty: 0.5 }), /repetition_max_penalty/);
  tt.throws(() => parseRewardsConfig({ cosine_max_len: 0 }), /cosine_max_len/);
  tt.throws(
    () => parseRewardsConfig({ reward_func: ['format'] }),
    /reward_func|Unrecognized/,
    'strict: unknown keys rejected',
  );
  tt.throws(
    () => parseRewardsConfig({ reward_funcs: ['format', 'format'] }),
    /duplicate reward function name "format"/,
  );
  tt.throws(() => parseRewardsConfig({ reward_funcs: [{ custom: 'a.js', extra: 1 }] }), /reward_funcs/);
});

t.test('registry resolves every built-in, applies kwargs, loads custom modules from files', async (tt) => {
  for (const name of BUILTIN_REWARD_NAMES) {
    const r = await resolveRewardFunc(name);
    tt.equal(r.name, name);
    tt.equal(r.scope, name.startsWith('length') ? 'group' : 'item');
  }
  const rep = await resolveRewardFunc('repetition_penalty', { repetition_n_grams: 1, repetition_max_penalty: -2 });
  tt.same(rep.fn(['a a b b'], { solution: [''] }), [-2 * (1 - 2 / 4)], 'unigram size and penalty taken from kwargs');
  const cos = await resolveRewardFunc('cosine', { cosine_max_len: 10 });
  tt.equal(
    cos.fn(['x'.repeat(10) + '\\boxed{2}'], { solution: ['$3$'] })[0]! < 0,
    true,
    'cosine kwargs reach the function',
  );

  const dir = mkdtempSync(join(tmpdir(), 'loractor-reg-'));
  writeFileSync(
    join(dir, 'has-x.mjs'),
    'export default (completions, ctx) => completions.map((c, i) => (c.includes("x") ? 1 : ctx.solution[i] === "s" ? null : 0));\n',
  );
  writeFileSync(join(dir, 'noexport.mjs'), 'export const notAFunction = 3;\n');
  const spec = absolutizeSpec({ custom: 'has-x.mjs' }, dir);
  const [custom] = await resolveRewardFuncs([spec]);
  tt.equal(custom!.name, 'has-x');
  tt.same(custom!.fn(['x', 'y', 'z'], { solution: ['', '', 's'] }), [1, 0, null]);
  await tt.rejects(
    resolveRewardFunc(absolutizeSpec({ custom: 'noexport.mjs' }, dir)),
    /no function export "default".*notAFunction/,
  );
  await tt.rejects(
    resolveRewardFunc(absolutizeSpec({ custom: 'missing.mjs' }, dir)),
    /cannot load custom reward module .*missing\.mjs/,
  );
  await tt.rejects(
    resolveRewardFuncs(['format', { custom: join(dir, 'format.mjs') }]),
    /two functions report as "format"/,
  );
});

t.test('format scanners stay linear on backtracking bait where a regex port would not', async (tt) => {
  const baits = [
    '<think>' + '</think> '.repeat(200_000) + '<answer',
    '<think>' + '</think>\n<answer>'.repeat(100_000) + '</answer>x',
    '<think>\n' + '\n</think>\n<answer>\n'.repeat(100_000) + '\n</answer>\n</answer>y',
    '<think>' + ' '.repeat(1_000_000) + '</think>' + ' '.repeat(1_000_000),
  ];
  for (const [i, s] of baits.entries()) {
    const t0 = performance.now();
    matchesOpenR1Format(s);
    matchesOpenR1StrictFormat(s);
    const ms = performance.now() - t0;
    // A backtracking regex takes hours on these; a linear scan takes ~10 ms (the bound leaves room
    // for a loaded CI machine).
    tt.ok(ms < 2000, `bait ${i} (${s.length} chars) scanned in ${ms.toFixed(1)} ms`);
  }
  // Sanity that bait 1 really is bait: a lazy regex on a 20× smaller slice is already much slower.
  const small = '<think>' + '</think>\n<answer>'.repeat(5000) + '</answer>x';
  const re = /^<think>[\s\S]*?<\/think>\s*<answer>[\s\S]*?<\/answer>$/m;
  const t0 = performance.now();
  re.exec(small);
  const reMs = performance.now() - t0;
  const t1 = performance.now();
  matchesOpenR1Format(small);
  const scanMs = performance.now() - t1;
  tt.comment(`regex ${reMs.toFixed(1)} ms vs scanner ${scanMs.toFixed(2)} ms on ${small.length} chars`);
  tt.ok(reMs > 5 * scanMs, 'the regex port is quadratic where the scanner is not');
});

// Learning-rate schedules at specific steps, checked against the transformers lambdas by hand.
import t from 'tap';
import { learningRateAt, lrMultiplier, warmupStepsFor, type LrSchedule } from '../../src/rl/schedule.js';

const close = (a: number, b: number, tol = 1e-18) => Math.abs(a - b) <= tol;

t.test('Tina: cosine_with_min_lr, lr 1e-6, min_lr_rate 0.1, T = 1500, warmup_ratio 0.1', async (t) => {
  const W = warmupStepsFor(1500, 0.1);
  t.equal(W, 150, 'W = ceil(0.1 · 1500)');
  const s: LrSchedule = {
    type: 'cosine_with_min_lr',
    learningRate: 1e-6,
    maxSteps: 1500,
    warmupSteps: W,
    minLrRate: 0.1,
  };
  // step 0: 0/150 = 0 → 0
  t.equal(learningRateAt(s, 0), 0);
  // step 75: 75/150 = 0.5 → 5e-7
  t.ok(close(learningRateAt(s, 75), 5e-7), `75: ${learningRateAt(s, 75)}`);
  // step 150: p = 0, cos 0 = 1 → f = 1·0.9 + 0.1 = 1 → 1e-6
  t.ok(close(learningRateAt(s, 150), 1e-6), `150: ${learningRateAt(s, 150)}`);
  // step 825: p = 675/1350 = 0.5, cos(π/2) = 0 → 0.5·0.9 + 0.1 = 0.55 → 5.5e-7
  t.ok(close(learningRateAt(s, 825), 5.5e-7), `825: ${learningRateAt(s, 825)}`);
  // step 850 (Tina's stop): p = 700/1350, f = 0.5(1 + cos(π·0.518518...)) · 0.9 + 0.1
  t.ok(close(learningRateAt(s, 850), 1e-6 * (0.5 * (1 + Math.cos((Math.PI * 700) / 1350)) * 0.9 + 0.1)), '850');
  // step 1500: p = 1, cos π = −1 → 0·0.9 + 0.1 = 0.1 → 1e-7
  t.ok(close(learningRateAt(s, 1500), 1e-7), `1500: ${learningRateAt(s, 1500)}`);
  // min_lr = 1e-7 is the same schedule as min_lr_rate 0.1.
  const { minLrRate: _r, ...rest } = s;
  t.ok(close(learningRateAt({ ...rest, minLr: 1e-7 }, 825), 5.5e-7), 'min_lr form');
  t.throws(() => lrMultiplier(rest, 200), /needs min_lr_rate or min_lr/);
});

t.test('warmup: explicit steps win over the ratio; ceil of the ratio', async (t) => {
  t.equal(warmupStepsFor(360, 0.1), 36);
  t.equal(warmupStepsFor(55, 0.1), 6, 'ceil(5.5) = 6');
  t.equal(warmupStepsFor(1000, 0.1, 7), 7);
  t.throws(() => warmupStepsFor(10, 1.5), /warmup_ratio/);
});

t.test('cosine, linear, constant, constant_with_warmup', async (t) => {
  const base = { learningRate: 1, maxSteps: 110, warmupSteps: 10 };
  const cos: LrSchedule = { ...base, type: 'cosine' };
  t.equal(lrMultiplier(cos, 5), 0.5, 'warmup 5/10');
  t.equal(lrMultiplier(cos, 10), 1);
  t.ok(close(lrMultiplier(cos, 60), 0.5, 1e-15), 'half way: 0.5(1 + cos(π/2))');
  t.ok(close(lrMultiplier(cos, 110), 0, 1e-15), 'end: 0');
  // num_cycles 1: a full wave, back to 1 at the end.
  t.ok(close(lrMultiplier({ ...cos, numCycles: 1 }, 110), 1, 1e-15));
  const lin: LrSchedule = { ...base, type: 'linear' };
  t.equal(lrMultiplier(lin, 5), 0.5);
  t.equal(lrMultiplier(lin, 35), 0.75, '(110 − 35)/100');
  t.equal(lrMultiplier(lin, 110), 0);
  t.equal(lrMultiplier(lin, 200), 0, 'clamped at 0 beyond the horizon');
  t.equal(lrMultiplier({ ...base, type: 'constant' }, 0), 1, 'constant ignores warmup');
  t.equal(lrMultiplier({ ...base, type: 'constant_with_warmup' }, 3), 0.3);
  t.equal(lrMultiplier({ ...base, type: 'constant_with_warmup' }, 100), 1);
  t.throws(() => learningRateAt(cos, -1), /step: must be a non-negative integer/);
});

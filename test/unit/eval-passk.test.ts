// pass@k estimator against hand-computed cases.
import t from 'tap';
import { passAtK, reportedKs } from '../../src/eval/index.js';

t.test('hand-computed values', async (t) => {
  // n=5, c=2, k=2: 1 - C(3,2)/C(5,2) = 1 - 3/10
  t.ok(Math.abs(passAtK(5, 2, 2) - 0.7) < 1e-15);
  // n=10, c=3, k=1: c/n
  t.ok(Math.abs(passAtK(10, 3, 1) - 0.3) < 1e-15);
  // n=4, c=1, k=3: 1 - C(3,3)/C(4,3) = 1 - 1/4
  t.ok(Math.abs(passAtK(4, 1, 3) - 0.75) < 1e-15);
  // n=10, c=2, k=5: 1 - C(8,5)/C(10,5) = 1 - 56/252
  t.ok(Math.abs(passAtK(10, 2, 5) - (1 - 56 / 252)) < 1e-15);
  t.equal(passAtK(10, 0, 5), 0, 'no correct sample');
  t.equal(passAtK(10, 6, 5), 1, 'n - c < k: every subset has a correct one');
  t.equal(passAtK(1, 1, 1), 1);
  t.equal(passAtK(1, 0, 1), 0);
});

t.test('stable for large n where binomials overflow', async (t) => {
  // C(2000, 1000) overflows a double; the product form does not. k=1 must equal c/n exactly-ish.
  t.ok(Math.abs(passAtK(2000, 700, 1) - 0.35) < 1e-12);
  // Against a log-space reference: 1 - exp(lnC(n-c,k) - lnC(n,k))
  const lnC = (n: number, k: number): number => {
    let s = 0;
    for (let i = 1; i <= k; i++) s += Math.log(n - k + i) - Math.log(i);
    return s;
  };
  const v = passAtK(2000, 3, 1000);
  t.ok(Math.abs(v - (1 - Math.exp(lnC(1997, 1000) - lnC(2000, 1000)))) < 1e-12, `got ${v}`);
  t.ok(v > 0.87 && v < 0.88);
});

t.test('bad arguments are refused', async (t) => {
  t.throws(() => passAtK(5, 6, 1), /0 <= c <= n/);
  t.throws(() => passAtK(5, 1, 6), /k <= n/);
  t.throws(() => passAtK(5, 1, 0), /1 <= k/);
  t.throws(() => passAtK(5.5, 1, 1), /integers/);
});

t.test('reported k values', async (t) => {
  t.same(reportedKs(1), [1]);
  t.same(reportedKs(8), [1, 2, 4, 8]);
  t.same(reportedKs(10), [1, 2, 4, 8, 10]);
});

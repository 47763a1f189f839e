// GRPO-family loss: hand-computed values for every loss_type, clipping, KL, IS correction, masks;
// dLoss/dlogp against float64 central differences; micro-batch accumulation equivalence.
import t from 'tap';
import {
  completionMask,
  mergePolicyLossSums,
  policyLoss,
  policyLossMetrics,
  LOSS_TYPES,
  type LossType,
  type PolicyLossBatch,
  type PolicyLossOptions,
} from '../../src/rl/loss.js';
import { Rng } from '../../src/util/rng.js';
import type { BehaviourCorrection } from '../../src/rl/behaviour-correction.js';

function near(actual: ArrayLike<number>, expected: number[], tol: number, msg: string): [boolean, string] {
  let worst = actual.length === expected.length ? 0 : Infinity;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  return [worst <= tol, `${msg}: max |Δ| ${worst} ≤ ${tol} (got ${Array.from(actual).join(', ')})`];
}
const f64 = (...x: number[]) => Float64Array.from(x);
const CLIP_LOSS_TYPES = ['grpo', 'bnpo', 'dr_grpo', 'dapo'] as const; // cispo and sapo: test/unit/rl-objectives.test.ts
const tis = (clipMax: number): BehaviourCorrection => ({ mode: 'token_truncate', clipMin: null, clipMax });

// N = 2 completions, T = 3 positions. Row 0 ends at its EOS at t = 1 (mask 1,1,0); row 1 is full.
// A = [2, −1]. With ρ ≡ 1 and β = 0, ℓ_t = −A_i: row 0 tokens −2, row 1 tokens +1.
const base: PolicyLossBatch = {
  numSequences: 2,
  seqLen: 3,
  logp: f64(-1, -2, -0.5, -0.3, -1.2, -0.7),
  mask: Uint8Array.of(1, 1, 0, 1, 1, 1),
  advantages: [2, -1],
};
const noClip = { beta: 0, epsilon: 0.2 };

t.test('loss_type grpo (Tina): per-sequence token mean, then batch mean', async (t) => {
  const r = policyLoss(base, { ...noClip, lossType: 'grpo' });
  // row 0: (−2 −2)/2 = −2; row 1: (1+1+1)/3 = 1; loss = (−2 + 1)/2 = −0.5.
  t.ok(...near([r.loss], [-0.5], 1e-15, 'loss'));
  // dℓ/dlogp = −A; coefficient 1/(tokens_i · B): row 0 −2/(2·2) = −0.5, row 1 1/(3·2) = 1/6; masked → 0.
  t.ok(...near(r.dLogp, [-0.5, -0.5, 0, 1 / 6, 1 / 6, 1 / 6], 1e-15, 'dLogp'));
});

t.test('loss_type bnpo and dapo: token mean over the batch', async (t) => {
  // Σ m ℓ = 2·(−2) + 3·1 = −1 over 5 tokens = −0.2; dLogp = −A/5.
  for (const lossType of ['bnpo', 'dapo'] as const) {
    const r = policyLoss(base, { ...noClip, lossType });
    t.ok(...near([r.loss], [-0.2], 1e-15, `${lossType} loss`));
    t.ok(...near(r.dLogp, [-0.4, -0.4, 0, 0.2, 0.2, 0.2], 1e-15, `${lossType} dLogp`));
  }
});

t.test('loss_type dr_grpo: Σ m ℓ / (B · max_completion_length)', async (t) => {
  // −1 / (2 · 4) = −0.125; dLogp = −A/8.
  const r = policyLoss(base, { ...noClip, lossType: 'dr_grpo', maxCompletionLength: 4 });
  t.ok(...near([r.loss], [-0.125], 1e-15, 'loss'));
  t.ok(...near(r.dLogp, [-0.25, -0.25, 0, 0.125, 0.125, 0.125], 1e-15, 'dLogp'));
  // Without maxCompletionLength the constant is T = 3: −1/6.
  t.ok(...near([policyLoss(base, { ...noClip, lossType: 'dr_grpo' }).loss], [-1 / 6], 1e-15, 'default L = T'));
});

t.test('all-zero advantages (an all-equal group) give zero loss and gradient without KL', async (t) => {
  for (const lossType of LOSS_TYPES) {
    const r = policyLoss({ ...base, advantages: [0, 0] }, { ...noClip, lossType });
    t.equal(r.loss, 0, `${lossType} loss`);
    t.ok(
      r.dLogp.every((x) => x === 0),
      `${lossType} gradient`,
    );
  }
});

t.test('k3 KL with beta 0.04, and the kl metric as Tina/TRL 0.15 log it', async (t) => {
  // ref − logp: row 0 = [0.5, −0.5, (masked)], row 1 = [0, 0, 0].
  // kl(0.5) = e^0.5 − 0.5 − 1 = 0.1487212707; kl(−0.5) = e^−0.5 + 0.5 − 1 = 0.1065306597; kl(0) = 0.
  const ref = f64(-0.5, -2.5, 9, -0.3, -1.2, -0.7);
  const r = policyLoss({ ...base, refLogp: ref }, { beta: 0.04, epsilon: 0.2, lossType: 'grpo' });
  const k1 = Math.exp(0.5) - 1.5,
    k2 = Math.exp(-0.5) - 0.5;
  // row 0 mean: (−2 + 0.04·k1 − 2 + 0.04·k2)/2; row 1 mean: 1; loss = (row0 + 1)/2 = −0.497447...
  const expected = ((-4 + 0.04 * (k1 + k2)) / 2 + 1) / 2;
  t.ok(...near([r.loss], [expected], 1e-15, 'loss'));
  t.ok(...near([r.loss], [-0.49744748], 1e-8, 'loss written out'));
  // dℓ/dlogp = −A + β(1 − e^(ref − logp)), times 1/(2·2) on row 0.
  t.ok(
    ...near(
      r.dLogp.subarray(0, 2),
      [(-2 + 0.04 * (1 - Math.exp(0.5))) / 4, (-2 + 0.04 * (1 - Math.exp(-0.5))) / 4],
      1e-15,
      'dLogp row 0',
    ),
  );
  // kl: mean over rows of per-row masked means: ((k1 + k2)/2 + 0)/2 = 0.0638129826.
  t.ok(...near([r.metrics.kl], [0.0638129826], 1e-10, 'kl metric'));
  t.ok(...near([r.metrics.kl_token_mean], [(k1 + k2) / 5], 1e-15, 'kl token mean'));
  t.throws(() => policyLoss(base, { beta: 0.04, epsilon: 0.2, lossType: 'grpo' }), /refLogp: required when beta ≠ 0/);
});

// Clipping case: N = 2, T = 2, A = [1, −1], ratios ρ = exp(logp − old):
//   row 0 = [1.5, 0.5], row 1 = [0.5, 1.5]; ε = 0.2 → clip range [0.8, 1.2].
const clipBatch: PolicyLossBatch = {
  numSequences: 2,
  seqLen: 2,
  logp: f64(-1, -1, -1, -1),
  oldLogp: f64(-1 - Math.log(1.5), -1 - Math.log(0.5), -1 - Math.log(0.5), -1 - Math.log(1.5)),
  mask: Uint8Array.of(1, 1, 1, 1),
  advantages: [1, -1],
};

t.test('PPO clipping with num_iterations > 1 (epsilon 0.2)', async (t) => {
  const r = policyLoss(clipBatch, { beta: 0, epsilon: 0.2, lossType: 'grpo' });
  // row 0 t0: A=1, ρ=1.5: min(1.5, 1.2) = 1.2 (clipped) → ℓ = −1.2, grad 0   [clip high]
  // row 0 t1: A=1, ρ=0.5: min(0.5, 0.8) = 0.5 → ℓ = −0.5, dℓ = −Aρ = −0.5
  // row 1 t0: A=−1, ρ=0.5: min(−0.5, −0.8) = −0.8 (clipped) → ℓ = 0.8, grad 0   [clip low]
  // row 1 t1: A=−1, ρ=1.5: min(−1.5, −1.2) = −1.5 → ℓ = 1.5, dℓ = −Aρ = 1.5
  // grpo: ((−1.2 − 0.5)/2 + (0.8 + 1.5)/2)/2 = (−0.85 + 1.15)/2 = 0.15; coefficient 1/4.
  t.ok(...near([r.loss], [0.15], 1e-15, 'loss'));
  t.ok(...near(r.dLogp, [0, -0.125, 0, 0.375], 1e-15, 'dLogp'));
  t.equal(r.metrics['clip_ratio/low_mean'], 0.25);
  t.equal(r.metrics['clip_ratio/high_mean'], 0.25);
  t.equal(r.metrics['clip_ratio/region_mean'], 0.5);
});

t.test('DAPO clip-higher: epsilon_high 0.6 unclips ρ = 1.5 for A > 0', async (t) => {
  const r = policyLoss(clipBatch, { beta: 0, epsilon: 0.2, epsilonHigh: 0.6, lossType: 'grpo' });
  // range [0.8, 1.6]: row 0 t0 now unclipped → ℓ = −1.5, dℓ = −1.5; others as before.
  // ((−1.5 − 0.5)/2 + (0.8 + 1.5)/2)/2 = (−1 + 1.15)/2 = 0.075.
  t.ok(...near([r.loss], [0.075], 1e-15, 'loss'));
  t.ok(...near(r.dLogp, [-0.375, -0.125, 0, 0.375], 1e-15, 'dLogp'));
  t.equal(r.metrics['clip_ratio/high_mean'], 0);
});

t.test('truncated importance-sampling correction (behaviour log-probs)', async (t) => {
  // One row, A = 1, no old (ρ ≡ 1): w = min(exp(logp − behaviour), 2) = [min(1.5, 2), min(3, 2)] = [1.5, 2].
  const b: PolicyLossBatch = {
    numSequences: 1,
    seqLen: 2,
    logp: f64(-1, -1),
    mask: Uint8Array.of(1, 1),
    advantages: [1],
    behaviourLogp: f64(-1 - Math.log(1.5), -1 - Math.log(3)),
  };
  const r = policyLoss(b, { beta: 0, epsilon: 0.2, lossType: 'grpo', correction: tis(2) });
  // ℓ = −w·A = [−1.5, −2]; grpo: −3.5/2 = −1.75; dℓ = −w·A·ρ / 2 = [−0.75, −1].
  t.ok(...near([r.loss], [-1.75], 1e-15, 'loss'));
  t.ok(...near(r.dLogp, [-0.75, -1], 1e-15, 'dLogp'));
  t.ok(
    ...near(
      [
        r.metrics['sampling/importance_sampling_ratio/mean']!,
        r.metrics['sampling/importance_sampling_ratio/min']!,
        r.metrics['sampling/importance_sampling_ratio/max']!,
        r.metrics['sampling/truncated_frac']!,
      ],
      [1.75, 1.5, 2, 0.5],
      1e-15,
      'IS metrics',
    ),
  );
  // With old log-probs the weight uses old, not the current policy: old − behaviour = ln 1.2.
  const withOld = policyLoss(
    { ...b, oldLogp: f64(-1, -1), behaviourLogp: f64(-1 - Math.log(1.2), -1 - Math.log(1.2)) },
    { beta: 0, epsilon: 0.2, lossType: 'grpo', correction: tis(2) },
  );
  t.ok(...near([withOld.loss], [-1.2], 1e-14, 'w = 1.2, ρ = 1'));
});

t.test('completion mask: 1 up to and including the first EOS', async (t) => {
  // eos = 2. Row 0 [5, 2, 7, 2] → 1 1 0 0; row 1 no EOS → all 1; row 2 EOS first → 1 0 0 0.
  const ids = Int32Array.of(5, 2, 7, 2, 3, 4, 5, 6, 2, 0, 0, 0);
  t.same(Array.from(completionMask(ids, 3, 4, 2)), [1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0]);
  // Several EOS ids; and a truncated row of length 3 (pad after it).
  t.same(
    Array.from(completionMask(Int32Array.of(9, 9, 9, 0, 1, 7, 9, 9), 2, 4, [7, 8], [3, 4])),
    [1, 1, 1, 0, 1, 1, 0, 0],
  );
  // The loss ignores everything after the EOS: changing logp there changes nothing.
  const mask = completionMask(Int32Array.of(5, 2, 7), 1, 3, 2);
  const a = policyLoss(
    { numSequences: 1, seqLen: 3, logp: f64(-1, -1, -1), mask, advantages: [1] },
    { ...noClip, lossType: 'grpo' },
  );
  const b = policyLoss(
    { numSequences: 1, seqLen: 3, logp: f64(-1, -1, -50), mask, advantages: [1] },
    { ...noClip, lossType: 'grpo' },
  );
  t.equal(a.loss, b.loss);
  t.equal(a.dLogp[2], 0);
  t.throws(() => completionMask(Int32Array.of(1, 2), 1, 3, 2), /tokenIds: length 2, expected 3/);
});

t.test('input validation names the field', async (t) => {
  t.throws(
    () => policyLoss({ ...base, advantages: [1] }, { ...noClip, lossType: 'grpo' }),
    /advantages: length 1, expected 2/,
  );
  t.throws(() => policyLoss({ ...base, mask: new Uint8Array(5) }, { ...noClip, lossType: 'grpo' }), /mask: length 5/);
  t.throws(() => policyLoss(base, { ...noClip, lossType: 'ppo' as LossType }), /loss_type/);
  t.throws(
    () => policyLoss(base, { ...noClip, lossType: 'grpo', global: { sequences: 1, tokens: 5, microBatches: 1 } }),
    /global.sequences/,
  );
});

// ---- finite differences ----------------------------------------------------------------------

interface RandomBatchOpts {
  n: number;
  T: number;
  clipActive: boolean;
  kl: boolean;
  is: boolean;
}

/** A random float64 batch with ragged masks; ratios kept ≥ 0.02 away from the clip kinks. */
function randomBatch(rng: Rng, o: RandomBatchOpts, eps: number, epsHigh: number): PolicyLossBatch {
  const NT = o.n * o.T;
  const logp = new Float64Array(NT),
    old = new Float64Array(NT),
    ref = new Float64Array(NT),
    beh = new Float64Array(NT);
  const mask = new Uint8Array(NT);
  for (let i = 0; i < o.n; i++) {
    const len = 1 + rng.int(o.T);
    for (let t = 0; t < o.T; t++) mask[i * o.T + t] = t < len ? 1 : 0;
  }
  for (let k = 0; k < NT; k++) {
    logp[k] = -0.2 - 3 * rng.next();
    let ratio = 1;
    if (o.clipActive) {
      do ratio = 0.5 + 1.1 * rng.next();
      while (Math.abs(ratio - (1 - eps)) < 0.02 || Math.abs(ratio - (1 + epsHigh)) < 0.02);
    }
    old[k] = logp[k]! - Math.log(ratio);
    ref[k] = logp[k]! + 0.8 * (rng.next() - 0.5);
    beh[k] = old[k]! + 1.2 * (rng.next() - 0.5);
  }
  const advantages = Array.from({ length: o.n }, () => 2 * rng.next() - 1);
  // Make sure each regime really occurs: row 0 (A > 0) clipped high and IS-capped at t = 0,
  // row 1 (A < 0) clipped low and not capped at t = 0 (position 0 is always inside the mask).
  advantages[0] = 0.7;
  advantages[1] = -0.9;
  if (o.clipActive) {
    old[0] = logp[0]! - Math.log(1.5);
    old[o.T] = logp[o.T]! - Math.log(0.6);
  }
  beh[0] = old[0]! - Math.log(1.6);
  beh[o.T] = old[o.T]! - Math.log(1.1);
  return {
    numSequences: o.n,
    seqLen: o.T,
    logp,
    mask,
    advantages,
    oldLogp: old,
    ...(o.kl ? { refLogp: ref } : {}),
    ...(o.is ? { behaviourLogp: beh } : {}),
  };
}

t.test('dLogp matches float64 central differences for every loss_type / clip / KL / IS setting', async (t) => {
  const rng = new Rng(1234);
  const h = 1e-6;
  let cases = 0;
  for (const lossType of CLIP_LOSS_TYPES) {
    for (const clipActive of [false, true]) {
      for (const kl of [false, true]) {
        for (const is of [false, true]) {
          const eps = 0.2,
            epsHigh = 0.28;
          const batch = randomBatch(rng, { n: 3, T: 5, clipActive, kl, is }, eps, epsHigh);
          const opts: PolicyLossOptions = {
            lossType,
            beta: kl ? 0.04 : 0,
            epsilon: eps,
            epsilonHigh: epsHigh,
            correction: tis(1.3),
            maxCompletionLength: 7,
          };
          const r = policyLoss(batch, opts);
          if (clipActive) t.ok(r.metrics['clip_ratio/region_mean']! > 0, `${lossType}: clipping is active`);
          else t.equal(r.metrics['clip_ratio/region_mean'], 0, `${lossType}: clipping inactive`);
          if (is)
            t.ok(
              r.metrics['sampling/truncated_frac']! > 0 && r.metrics['sampling/truncated_frac']! < 1,
              `${lossType}: IS cap partly active`,
            );
          const logp = batch.logp as Float64Array;
          let worst = 0;
          for (let k = 0; k < logp.length; k++) {
            const x = logp[k]!;
            logp[k] = x + h;
            const up = policyLoss(batch, opts).loss;
            logp[k] = x - h;
            const down = policyLoss(batch, opts).loss;
            logp[k] = x;
            worst = Math.max(worst, Math.abs((up - down) / (2 * h) - r.dLogp[k]!));
          }
          t.ok(
            worst < 1e-8,
            `${lossType} clip=${clipActive} kl=${kl} is=${is}: max |FD − analytic| = ${worst.toExponential(2)}`,
          );
          cases++;
        }
      }
    }
  }
  t.equal(cases, 32);
});

t.test('oldLogp absent ≡ oldLogp = stopgrad(logp): same loss and gradient (ratio 1 in value)', async (t) => {
  const rng = new Rng(7);
  const b = randomBatch(rng, { n: 4, T: 6, clipActive: false, kl: true, is: true }, 0.2, 0.2);
  for (const lossType of LOSS_TYPES) {
    const opts: PolicyLossOptions = { lossType, beta: 0.04, epsilon: 0.2 };
    const withOld = policyLoss({ ...b, oldLogp: Float64Array.from(b.logp) }, opts);
    const { oldLogp: _drop, ...rest } = b;
    const without = policyLoss(rest, opts);
    t.equal(without.loss, withOld.loss, `${lossType} loss`);
    t.same(Array.from(without.dLogp), Array.from(withOld.dLogp), `${lossType} gradient`);
  }
});

// ---- gradient accumulation --------------------------------------------------------------------

function slice(b: PolicyLossBatch, from: number, to: number): PolicyLossBatch {
  const T = b.seqLen;
  const s = (a: Float32Array | Float64Array | undefined) => a?.slice(from * T, to * T);
  const out: PolicyLossBatch = {
    numSequences: to - from,
    seqLen: T,
    logp: s(b.logp)!,
    mask: (b.mask as Uint8Array).slice(from * T, to * T),
    advantages: Array.from(b.advantages).slice(from, to),
  };
  if (b.oldLogp) out.oldLogp = s(b.oldLogp)!;
  if (b.refLogp) out.refLogp = s(b.refLogp)!;
  if (b.behaviourLogp) out.behaviourLogp = s(b.behaviourLogp)!;
  return out;
}

t.test('accumulation: micro-batch losses sum to the full-batch loss (grpo, dr_grpo, dapo)', async (t) => {
  const rng = new Rng(99);
  const full = randomBatch(rng, { n: 6, T: 5, clipActive: true, kl: true, is: true }, 0.2, 0.28);
  let tokens = 0;
  for (let k = 0; k < full.mask.length; k++) tokens += full.mask[k]!;
  const splits: [number, number][] = [
    [0, 2],
    [2, 3],
    [3, 6],
  ]; // unequal sizes and token counts
  const global = { sequences: 6, tokens, microBatches: splits.length };
  for (const lossType of ['grpo', 'dr_grpo', 'dapo'] as const) {
    const opts: PolicyLossOptions = { lossType, beta: 0.04, epsilon: 0.2, epsilonHigh: 0.28, maxCompletionLength: 8 };
    const whole = policyLoss(full, opts);
    const parts = splits.map(([a, b]) => policyLoss(slice(full, a, b), { ...opts, global }));
    const sum = parts.reduce((acc, p) => acc + p.loss, 0);
    t.ok(Math.abs(sum - whole.loss) < 1e-15, `${lossType}: Σ micro ${sum} = full ${whole.loss}`);
    const grads = parts.flatMap((p) => Array.from(p.dLogp));
    t.ok(...near(grads, Array.from(whole.dLogp), 1e-17, `${lossType}: gradients`));
    // Metrics merged from sums equal the full-batch metrics.
    const merged = policyLossMetrics(mergePolicyLossSums(parts.map((p) => p.sums)));
    t.ok(
      ...near(
        Object.values(merged) as number[],
        Object.values(whole.metrics) as number[],
        1e-15,
        `${lossType}: merged metrics`,
      ),
    );
  }
});

t.test(
  'accumulation: bnpo (TRL local token mean) equals full batch only when micro-batches hold equal tokens',
  async (t) => {
    const T = 4;
    // Rows: lengths 2, 2 | 3, 1 → micro-batches with 4 tokens each.
    const mk = (lens: number[]) => {
      const mask = new Uint8Array(lens.length * T);
      lens.forEach((l, i) => {
        for (let t2 = 0; t2 < l; t2++) mask[i * T + t2] = 1;
      });
      return mask;
    };
    const rng = new Rng(5);
    const logp = Float64Array.from({ length: 4 * T }, () => -rng.next());
    const ref = Float64Array.from(logp, (x) => x + 0.1 * (rng.next() - 0.5));
    const adv = [0.5, -1, 2, -0.3];
    const opts = { lossType: 'bnpo' as const, beta: 0.04, epsilon: 0.2 };
    for (const [lens, equal] of [
      [[2, 2, 3, 1], true],
      [[1, 1, 4, 4], false],
    ] as const) {
      const full: PolicyLossBatch = {
        numSequences: 4,
        seqLen: T,
        logp,
        refLogp: ref,
        mask: mk([...lens]),
        advantages: adv,
      };
      const whole = policyLoss(full, opts).loss;
      const global = { sequences: 4, tokens: 0, microBatches: 2 };
      const sum =
        policyLoss(slice(full, 0, 2), { ...opts, global }).loss +
        policyLoss(slice(full, 2, 4), { ...opts, global }).loss;
      if (equal) t.ok(Math.abs(sum - whole) < 1e-15, `equal token counts: ${sum} = ${whole}`);
      else
        t.ok(
          Math.abs(sum - whole) > 1e-3,
          `unequal token counts: ${sum} ≠ ${whole} (use dapo for an exact token mean)`,
        );
    }
  },
);

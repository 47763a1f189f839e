// The objectives and corrections of issue 15, at the loss level: hand-computed cases for GSPO
// (sequence-level ratios), CISPO, SAPO, two-sided clipping (delta) and every behaviour-correction
// mode (TIS / MIS, token / sequence); a float64 finite-difference check of dLoss/dlogp for each;
// and the reductions — num_iterations 1 gives exactly the loss as it was before (a frozen copy of
// it is the oracle), GSPO on length-1 sequences equals token level, TIS with an infinite cap on
// on-policy data equals no correction.
import t from 'tap';
import {
  policyLoss,
  type LogpArray,
  type LossType,
  type PolicyLossBatch,
  type PolicyLossOptions,
} from '../../src/rl/loss.js';
import type { BehaviourCorrection, ImportanceSamplingMode } from '../../src/rl/behaviour-correction.js';
import { Rng } from '../../src/util/rng.js';
import { policyLossBefore } from '../fixtures/policy-loss-before-issue15.js';

const f64 = (...x: number[]) => Float64Array.from(x);
const ln = Math.log;
function near(actual: ArrayLike<number>, expected: number[], tol: number, msg: string): [boolean, string] {
  let worst = actual.length === expected.length ? 0 : Infinity;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  return [worst <= tol, `${msg}: max |Δ| ${worst} ≤ ${tol} (got ${Array.from(actual).join(', ')})`];
}
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

// ---- hand-computed cases ----------------------------------------------------------------------

t.test('GSPO: one length-normalised ratio per sequence, clipped as a whole', async (t) => {
  // One row, two tokens, ratios 1.5 and 0.5: s = exp((ln 1.5 + ln 0.5)/2) = √0.75 = 0.8660254, inside [0.8, 1.2].
  const lp = f64(-1, -2);
  const b: PolicyLossBatch = {
    numSequences: 1,
    seqLen: 2,
    logp: lp,
    oldLogp: f64(-1 - ln(1.5), -2 - ln(0.5)),
    mask: [1, 1],
    advantages: [1],
  };
  const r = policyLoss(b, { lossType: 'grpo', beta: 0, epsilon: 0.2, importanceSamplingLevel: 'sequence' });
  const s = Math.sqrt(0.75);
  // Every token carries −s·A; grpo averages them: loss = −s. d(−s)/dlogp_t = −s/2.
  t.ok(...near([r.loss], [-s], 1e-15, 'loss = −s'));
  t.ok(...near(r.dLogp, [-s / 2, -s / 2], 1e-15, 'dLogp = −s/|y|'));
  t.equal(r.metrics['clip_ratio/region_mean'], 0, 'not clipped');
  // The same tokens at token level: ratios 1.5 (clipped to 1.2, no gradient) and 0.5.
  const tok = policyLoss(b, { lossType: 'grpo', beta: 0, epsilon: 0.2 });
  t.ok(...near([tok.loss], [-(1.2 + 0.5) / 2], 1e-15, 'token level differs: −(1.2 + 0.5)/2'));
  // A = −1 with both ratios 2: s = 2 is outside the range on the side PPO does not clip (A < 0).
  const up: PolicyLossBatch = { ...b, oldLogp: f64(-1 - ln(2), -2 - ln(2)), advantages: [-1] };
  const r2 = policyLoss(up, { lossType: 'grpo', beta: 0, epsilon: 0.2, importanceSamplingLevel: 'sequence' });
  t.ok(...near([r2.loss, ...r2.dLogp], [2, 1, 1], 1e-14, 'loss −min(−2, −1.2) = 2; dLogp = −A·s/|y| = 1'));
  // Sequence-level clip metrics count sequences: A > 0 with s = 2 is clipped high.
  const r3 = policyLoss(
    { ...up, advantages: [1], numSequences: 1 },
    { lossType: 'grpo', beta: 0, epsilon: 0.2, importanceSamplingLevel: 'sequence' },
  );
  t.same(
    [r3.metrics['clip_ratio/high_mean'], r3.loss, ...r3.dLogp],
    [1, -1.2, 0, 0],
    'clipped high: loss −1.2, no gradient, 1 of 1 sequences',
  );
});

t.test('delta (two-sided clipping) caps the unclipped branch', async (t) => {
  // A = −1, ratio 2 (token level): without delta ℓ = −min(−2, −1.2) = 2, dℓ/dlogp = −A·ρ = 2.
  const b: PolicyLossBatch = {
    numSequences: 1,
    seqLen: 1,
    logp: f64(-1),
    oldLogp: f64(-1 - ln(2)),
    mask: [1],
    advantages: [-1],
  };
  const off = policyLoss(b, { lossType: 'grpo', beta: 0, epsilon: 0.2 });
  t.ok(...near([off.loss, off.dLogp[0]!], [2, 2], 1e-14, 'no delta: loss 2, gradient 2'));
  // delta 1.5: ℓ = −min(min(2, 1.5)·(−1), 1.2·(−1)) = 1.5, and the capped branch passes no gradient.
  const on = policyLoss(b, { lossType: 'grpo', beta: 0, epsilon: 0.2, delta: 1.5 });
  t.ok(...near([on.loss, on.dLogp[0]!], [1.5, 0], 1e-14, 'delta 1.5: loss 1.5, gradient 0'));
  // Below delta nothing changes.
  const below = policyLoss(
    { ...b, oldLogp: f64(-1 - ln(1.4)) },
    { lossType: 'grpo', beta: 0, epsilon: 0.2, delta: 1.5 },
  );
  t.ok(...near([below.loss, below.dLogp[0]!], [1.4, 1.4], 1e-14, 'ratio 1.4 < delta: −A·ρ'));
});

t.test('CISPO: clipped, detached IS weight times A·logp, dapo normaliser', async (t) => {
  // Ratios 1.5 and 0.5, epsilon_high 1.2 → weights min(ρ, 1.2) = [1.2, 0.5]; logp [−1, −2]; A = 1; 2 tokens.
  const b: PolicyLossBatch = {
    numSequences: 1,
    seqLen: 2,
    logp: f64(-1, -2),
    oldLogp: f64(-1 - ln(1.5), -2 - ln(0.5)),
    mask: [1, 1],
    advantages: [1],
  };
  const r = policyLoss(b, { lossType: 'cispo', beta: 0, epsilon: 0.2, epsilonHigh: 1.2 });
  // loss = Σ −w·A·logp / 2 = (1.2·1 + 0.5·2)/2 = 1.1; dLogp = −w·A/2 = [−0.6, −0.25].
  t.ok(...near([r.loss], [1.1], 1e-14, 'loss'));
  t.ok(...near(r.dLogp, [-0.6, -0.25], 1e-15, 'dLogp'));
  t.equal(r.metrics.cispo_clip_ratio, 0.5, 'one of two tokens capped (A > 0)');
  t.equal(r.metrics['clip_ratio/region_mean'], undefined, 'no PPO clip metrics for cispo');
  // On-policy (ratio 1 < cap) CISPO's gradient is the plain policy gradient −A (dapo: / tokens).
  const onPolicy = policyLoss(
    { ...b, oldLogp: undefined },
    { lossType: 'cispo', beta: 0, epsilon: 0.2, epsilonHigh: 5 },
  );
  t.ok(...near(onPolicy.dLogp, [-0.5, -0.5], 1e-15, 'on-policy gradient −A/2'));
});

t.test('SAPO: a sigmoid gate of temperature τ instead of clipping', async (t) => {
  // Token level, ratio 1.5, A = 1 (τ_pos = 1): f = −σ(0.5)·4·A; df/dρ = −4·A·σ(1−σ); dℓ/dlogp = df/dρ·ρ.
  const b: PolicyLossBatch = {
    numSequences: 1,
    seqLen: 1,
    logp: f64(-1),
    oldLogp: f64(-1 - ln(1.5)),
    mask: [1],
    advantages: [1],
  };
  const r = policyLoss(b, { lossType: 'sapo', beta: 0, epsilon: 0.2 });
  const s = sigmoid(0.5);
  t.ok(...near([r.loss, r.dLogp[0]!], [-4 * s, -4 * s * (1 - s) * 1.5], 1e-15, 'τ_pos = 1'));
  t.ok(...near([r.loss], [-2.4898373], 1e-7, 'loss written out'));
  // A = −2 uses τ_neg = 1.05: f = −σ(1.05·0.5)·(4/1.05)·(−2).
  const neg = policyLoss({ ...b, advantages: [-2] }, { lossType: 'sapo', beta: 0, epsilon: 0.2 });
  const sn = sigmoid(1.05 * 0.5);
  t.ok(...near([neg.loss, neg.dLogp[0]!], [sn * (4 / 1.05) * 2, 4 * 2 * sn * (1 - sn) * 1.5], 1e-14, 'τ_neg = 1.05'));
  // At ratio 1 the gate's slope is exactly that of the unclipped objective: gradient −A, as GRPO.
  const at1 = policyLoss({ ...b, oldLogp: undefined, advantages: [0.7] }, { lossType: 'sapo', beta: 0, epsilon: 0.2 });
  t.ok(...near([at1.dLogp[0]!], [-0.7], 1e-15, 'on-policy gradient −A'));
  t.equal(at1.metrics['clip_ratio/region_mean'], undefined, 'no clip metrics for sapo (TRL)');
});

t.test('behaviour corrections: TIS / MIS at token and sequence level, with their metrics', async (t) => {
  // One row, two tokens, A = 1, ρ ≡ 1 (no old): behaviour ratios exp(logp − behaviour) = [1.5, 3].
  const b: PolicyLossBatch = {
    numSequences: 1,
    seqLen: 2,
    logp: f64(-1, -1),
    mask: [1, 1],
    advantages: [1],
    behaviourLogp: f64(-1 - ln(1.5), -1 - ln(3)),
  };
  const run = (mode: ImportanceSamplingMode, clipMax: number | null, clipMin: number | null = null) =>
    policyLoss(b, { lossType: 'grpo', beta: 0, epsilon: 0.2, correction: { mode, clipMin, clipMax } });
  // grpo over 2 tokens: loss = −(w0 + w1)/2, dLogp = −w_t/2.
  const expect = (w: number[]) => [-(w[0]! + w[1]!) / 2, -w[0]! / 2, -w[1]! / 2];
  const cases: [string, ReturnType<typeof run>, number[]][] = [
    ['token_truncate C_max 2: w = [1.5, 2]', run('token_truncate', 2), [1.5, 2]],
    ['token_truncate [1.6, 2]: w = [1.6, 2]', run('token_truncate', 2, 1.6), [1.6, 2]],
    ['token_mask C_max 2: w = [1.5, 0]', run('token_mask', 2), [1.5, 0]],
    ['sequence_truncate C_max 2: Π = 4.5 → 2', run('sequence_truncate', 2), [2, 2]],
    ['sequence_mask C_max 5: Π = 4.5 kept', run('sequence_mask', 5), [4.5, 4.5]],
    ['sequence_mask C_max 4: Π = 4.5 dropped', run('sequence_mask', 4), [0, 0]],
    ['sequence_mask C_min 5: Π = 4.5 dropped', run('sequence_mask', null, 5), [0, 0]],
  ];
  for (const [name, r, w] of cases) t.ok(...near([r.loss, ...r.dLogp], expect(w), 1e-14, name));
  const tm = run('token_mask', 2).metrics;
  t.same(
    [
      tm['sampling/importance_sampling_ratio/min'],
      tm['sampling/importance_sampling_ratio/max'],
      tm['sampling/masked_frac'],
    ],
    [0, 1.5, 0.5],
    'token_mask metrics: ratio after masking, masked share',
  );
  const sm = run('sequence_mask', 5).metrics;
  t.ok(
    ...near(
      [sm['sampling/importance_sampling_ratio/mean']!],
      [4.5],
      1e-14,
      'sequence modes report one ratio per sequence',
    ),
  );
  // sampling/kl = mean over tokens of r − 1 − ln r; logp difference |ln r|.
  t.ok(
    ...near(
      [sm['sampling/kl']!, sm['sampling/sampling_logp_difference/mean']!, sm['sampling/sampling_logp_difference/max']!],
      [(1.5 - 1 - ln(1.5) + (3 - 1 - ln(3))) / 2, (ln(1.5) + ln(3)) / 2, ln(3)],
      1e-15,
      'behaviour KL and log-prob difference',
    ),
  );
  // The KL term is not importance-weighted (TRL adds β·kl after the weight).
  const withKl = policyLoss(
    { ...b, refLogp: f64(-1, -1) },
    { lossType: 'grpo', beta: 0.5, epsilon: 0.2, correction: { mode: 'sequence_mask', clipMin: null, clipMax: 4 } },
  );
  t.ok(...near([withKl.loss], [0], 1e-15, 'dropped sequence, KL 0 at ref = logp'));
});

// ---- finite differences ----------------------------------------------------------------------

interface Case {
  name: string;
  opts: PolicyLossOptions;
  cispo?: boolean;
}

function randomBatch(rng: Rng, n: number, T: number): PolicyLossBatch {
  const NT = n * T;
  const logp = new Float64Array(NT),
    old = new Float64Array(NT),
    ref = new Float64Array(NT),
    beh = new Float64Array(NT);
  const mask = new Uint8Array(NT);
  for (let i = 0; i < n; i++) {
    const len = 1 + rng.int(T);
    for (let t = 0; t < T; t++) mask[i * T + t] = t < len ? 1 : 0;
  }
  for (let k = 0; k < NT; k++) {
    logp[k] = -0.2 - 3 * rng.next();
    old[k] = logp[k]! - ln(0.6 + 0.9 * rng.next());
    ref[k] = logp[k]! + 0.8 * (rng.next() - 0.5);
    beh[k] = old[k]! + 1.2 * (rng.next() - 0.5);
  }
  return {
    numSequences: n,
    seqLen: T,
    logp,
    mask,
    advantages: Array.from({ length: n }, () => 2 * rng.next() - 1),
    oldLogp: old,
    refLogp: ref,
    behaviourLogp: beh,
  };
}

/** max |central difference − analytic| over every logp entry (CISPO: old and behaviour move along, so its detached weight and the IS weight stay fixed). */
function fdError(
  b: PolicyLossBatch,
  opts: PolicyLossOptions,
  cispo: boolean,
): { err: number; metrics: Record<string, number | undefined> } {
  const h = 1e-6;
  const r = policyLoss(b, opts);
  const lp = b.logp as Float64Array,
    old = b.oldLogp as Float64Array,
    beh = b.behaviourLogp as Float64Array;
  const shift = (k: number, d: number) => {
    lp[k]! += d;
    if (cispo) {
      old[k]! += d;
      beh[k]! += d;
    }
  };
  let worst = 0;
  for (let k = 0; k < lp.length; k++) {
    shift(k, h);
    const up = policyLoss(b, opts).loss;
    shift(k, -2 * h);
    const down = policyLoss(b, opts).loss;
    shift(k, h);
    worst = Math.max(worst, Math.abs((up - down) / (2 * h) - r.dLogp[k]!));
  }
  return { err: worst, metrics: r.metrics };
}

t.test('dLogp matches float64 central differences for every new objective and correction', async (t) => {
  const modes: (BehaviourCorrection | null)[] = [
    null,
    { mode: 'token_truncate', clipMin: 0.8, clipMax: 1.3 },
    { mode: 'token_mask', clipMin: 0.7, clipMax: 1.4 },
    { mode: 'sequence_truncate', clipMin: null, clipMax: 1.5 },
    { mode: 'sequence_mask', clipMin: 0.2, clipMax: 5 },
  ];
  const cases: Case[] = [];
  for (const correction of modes) {
    const c = correction ? correction.mode : 'none';
    for (const level of ['token', 'sequence'] as const) {
      for (const lossType of ['grpo', 'dapo', 'bnpo', 'dr_grpo'] as LossType[])
        cases.push({
          name: `${lossType} ${level} IS ${c}`,
          opts: {
            lossType,
            beta: 0.04,
            epsilon: 0.2,
            epsilonHigh: 0.28,
            importanceSamplingLevel: level,
            correction,
            maxCompletionLength: 6,
          },
        });
      cases.push({
        name: `grpo delta ${level} IS ${c}`,
        opts: { lossType: 'grpo', beta: 0.04, epsilon: 0.2, delta: 1.25, importanceSamplingLevel: level, correction },
      });
      cases.push({
        name: `sapo ${level} IS ${c}`,
        opts: {
          lossType: 'sapo',
          beta: 0.04,
          epsilon: 0.2,
          sapoTemperaturePos: 1.3,
          sapoTemperatureNeg: 0.9,
          importanceSamplingLevel: level,
          correction,
        },
      });
      cases.push({
        name: `cispo ${level} IS ${c}`,
        opts: {
          lossType: 'cispo',
          beta: 0.04,
          epsilon: 0.2,
          epsilonHigh: 1.1,
          importanceSamplingLevel: level,
          correction,
        },
        cispo: true,
      });
    }
  }
  const rng = new Rng(2024);
  let worstAll = 0;
  const seen = { clipped: 0, cispoCapped: 0, masked: 0, truncated: 0 };
  for (const c of cases) {
    const b = randomBatch(rng, 4, 5);
    const { err, metrics: m } = fdError(b, c.opts, c.cispo === true);
    worstAll = Math.max(worstAll, err);
    if (!(err < 1e-8)) t.fail(`${c.name}: max |FD − analytic| = ${err.toExponential(2)}`);
    if ((m['clip_ratio/region_mean'] ?? 0) > 0) seen.clipped++;
    if ((m.cispo_clip_ratio ?? 0) > 0) seen.cispoCapped++;
    if ((m['sampling/masked_frac'] ?? 0) > 0) seen.masked++;
    if ((m['sampling/truncated_frac'] ?? 0) > 0) seen.truncated++;
  }
  t.ok(worstAll < 1e-8, `${cases.length} cases, worst |FD − analytic| = ${worstAll.toExponential(2)}`);
  t.equal(cases.length, 70);
  // The regimes the gradient has kinks in did occur (clipping, CISPO's cap, masking, truncation).
  t.ok(
    seen.clipped > 10 && seen.cispoCapped > 3 && seen.masked > 5 && seen.truncated > 5,
    `regimes exercised: ${JSON.stringify(seen)}`,
  );
});

// ---- reductions -------------------------------------------------------------------------------

t.test('num_iterations 1 (no old log-probs) gives exactly the loss as it was before issue 15', async (t) => {
  const rng = new Rng(11);
  let compared = 0;
  for (const lossType of ['grpo', 'bnpo', 'dr_grpo', 'dapo'] as const) {
    for (const beta of [0, 0.04]) {
      for (const cap of [null, 2, 1.1]) {
        for (const f32 of [false, true]) {
          const b = randomBatch(rng, 5, 7);
          const conv = (a: LogpArray | undefined) => (a && f32 ? Float32Array.from(a) : a);
          const { oldLogp: _o, ...rest } = b;
          const batch = {
            ...rest,
            logp: conv(b.logp)!,
            refLogp: conv(b.refLogp),
            behaviourLogp: cap === null ? undefined : conv(b.behaviourLogp),
          };
          const global = { sequences: 9, tokens: 40, microBatches: 3 };
          const now = policyLoss(batch, {
            lossType,
            beta,
            epsilon: 0.2,
            epsilonHigh: 0.28,
            maxCompletionLength: 9,
            global,
            correction: cap === null ? null : { mode: 'token_truncate', clipMin: null, clipMax: cap },
          });
          const before = policyLossBefore(batch, {
            lossType,
            beta,
            epsilon: 0.2,
            epsilonHigh: 0.28,
            maxCompletionLength: 9,
            global,
            ...(cap === null ? {} : { importanceSamplingCap: cap }),
          });
          if (now.loss !== before.loss || now.dLogp.some((x, k) => x !== before.dLogp[k]))
            t.fail(`${lossType} β ${beta} cap ${cap} f32 ${f32}: differs`);
          compared++;
        }
      }
    }
  }
  t.equal(compared, 48, '48 settings compared bit for bit (loss and every gradient entry)');
  // With old log-probs (num_iterations > 1) the old code and the new agree too (token level, clip family).
  const b = randomBatch(rng, 4, 6);
  const a = policyLoss(b, {
    lossType: 'grpo',
    beta: 0.04,
    epsilon: 0.2,
    correction: { mode: 'token_truncate', clipMin: null, clipMax: 2 },
  });
  const o = policyLossBefore(b, { lossType: 'grpo', beta: 0.04, epsilon: 0.2, importanceSamplingCap: 2 });
  t.ok(a.loss === o.loss && a.dLogp.every((x, k) => x === o.dLogp[k]), 'with old log-probs: identical');
});

t.test('GSPO on length-1 sequences equals token level', async (t) => {
  const rng = new Rng(5);
  for (const lossType of ['grpo', 'bnpo', 'dr_grpo', 'dapo', 'cispo', 'sapo'] as const) {
    const b = randomBatch(rng, 6, 4);
    const mask = new Uint8Array(24);
    for (let i = 0; i < 6; i++) mask[i * 4] = 1; // every completion is one token long (then padding)
    const batch = { ...b, mask };
    const opts = {
      lossType,
      beta: 0.04,
      epsilon: 0.2,
      epsilonHigh: lossType === 'cispo' ? 1.1 : 0.28,
      delta: 1.3,
      correction: { mode: 'token_truncate', clipMin: null, clipMax: 1.4 } as BehaviourCorrection,
    };
    const tok = policyLoss(batch, { ...opts, importanceSamplingLevel: 'token' });
    const seq = policyLoss(batch, { ...opts, importanceSamplingLevel: 'sequence' });
    t.ok(...near([seq.loss, ...seq.dLogp], [tok.loss, ...tok.dLogp], 1e-15, `${lossType}: loss and gradient`));
  }
});

t.test('TIS with an infinite cap on on-policy data equals no correction', async (t) => {
  const rng = new Rng(8);
  for (const lossType of ['grpo', 'dapo', 'cispo', 'sapo'] as const) {
    for (const level of ['token', 'sequence'] as const) {
      const b = randomBatch(rng, 5, 6);
      // On-policy: the engine reported exactly the learner's log-probs; no old (num_iterations 1).
      const onPolicy = { ...b, oldLogp: undefined, behaviourLogp: Float64Array.from(b.logp) };
      const opts = {
        lossType,
        beta: 0.04,
        epsilon: 0.2,
        epsilonHigh: lossType === 'cispo' ? 3 : 0.28,
        importanceSamplingLevel: level,
      };
      const none = policyLoss(onPolicy, { ...opts, correction: null });
      for (const mode of ['token_truncate', 'sequence_truncate'] as const) {
        const inf = policyLoss(onPolicy, { ...opts, correction: { mode, clipMin: null, clipMax: Infinity } });
        t.ok(
          inf.loss === none.loss && inf.dLogp.every((x, k) => x === none.dLogp[k]),
          `${lossType} ${level} ${mode}: identical`,
        );
      }
    }
  }
});

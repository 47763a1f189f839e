// The learner's crash-recovery commit: a restored state equals the committed one bit for bit
// (adapter, AdamW moments, step, RNG, reply), a later commit replaces it, a damaged one is refused.
import t from 'tap';
import { WeightStore } from '../../src/runtime/weight-store.js';
import { commitLearnerState, learnerRecoverySize, restoreLearnerState } from '../../src/rl/learner-recovery.js';
import { Rng } from '../../src/util/rng.js';

function stateOf(n: number, seed: number) {
  const r = new Rng(seed);
  const arr = () => Float32Array.from({ length: n }, () => r.normal());
  return {
    params: arr(),
    m: arr(),
    v: arr().map(Math.abs),
    optStep: seed,
    rng: new Rng(seed + 1).state(),
    step: seed,
    reply: { step: seed, loss: 0.1 + seed / 3, skipped: '' },
  };
}

t.test('commit and restore', async (t) => {
  const n = 1001; // odd: the meta words are not 8-byte aligned
  const store = WeightStore.create(learnerRecoverySize(n), { maxReaders: 1 });
  const scratch = new Float32Array(learnerRecoverySize(n));
  const into = () => ({ params: new Float32Array(n), m: new Float32Array(n), v: new Float32Array(n) });
  t.equal(restoreLearnerState(store, scratch, into()), null, 'nothing committed yet');
  const a = stateOf(n, 3);
  a.params[5] = NaN; // a NaN weight survives bit for bit (the learner skips such updates, but state is state)
  commitLearnerState(store, scratch, a);
  t.equal(store.version, 4, 'version = step + 1');
  const r = restoreLearnerState(store, new Float32Array(learnerRecoverySize(n)), into())!;
  t.same(Buffer.from(r.params.buffer), Buffer.from(a.params.buffer), 'params bit for bit');
  t.same(Array.from(r.m), Array.from(a.m));
  t.same(Array.from(r.v), Array.from(a.v));
  t.same(
    { optStep: r.optStep, rng: r.rng, step: r.step, reply: r.reply },
    { optStep: 3, rng: a.rng, step: 3, reply: a.reply },
  );
  // Committing the same step again (a retried step) rewrites; the next step publishes.
  commitLearnerState(store, scratch, { ...a, reply: null });
  t.equal(store.version, 4);
  t.equal(restoreLearnerState(store, scratch, into())!.reply, null);
  const b = stateOf(n, 4);
  commitLearnerState(store, scratch, b);
  t.equal(restoreLearnerState(store, scratch, into())!.step, 4);
  // Non-finite metrics survive (a skipped step's grad_norm is NaN); an over-long skip reason is shortened.
  commitLearnerState(store, scratch, {
    ...b,
    reply: { grad_norm: NaN, loss: Infinity, kl: -Infinity, skipped: 'x'.repeat(10_000) },
  });
  const r2 = restoreLearnerState(store, scratch, into())!.reply!;
  t.ok(Number.isNaN(r2.grad_norm), 'NaN kept');
  t.same([r2.loss, r2.kl], [Infinity, -Infinity], '±Infinity kept');
  t.equal((r2.skipped as string).length, 256, 'long text shortened to fit');
  store.corruptActiveForDrill();
  t.throws(
    () => restoreLearnerState(store, scratch, into()),
    /recovery state of step 4 fails its checksum; restart with --resume/,
  );
});

// Top-p / top-k with correct importance ratios: the builtin engine reports the log-prob of the
// truncated, renormalised distribution it sampled from, the learner scores the same tokens under
// the same truncation of its own logits, so on-policy the ratio is 1 (a full-vocabulary learner
// log-prob would give ratio = mass of the kept set, wrongly); the kept set follows vLLM (top-k, then
// top-p on the renormalised top-k); the learner's gradient of the truncated log-prob (through the
// ordinary log-softmax backward with excluded logits set aside) matches finite differences.
import { logSoftmaxGatherBackward } from '../../src/ops/cpu/logsoftmax.js';
import t from 'tap';
import { createBuiltinEngine } from '../../src/engines/builtin/index.js';
import { parseQwen2Config } from '../../src/model/config.js';
import { createRandomModel } from '../../src/model/weights.js';
import { forwardTrain } from '../../src/model/train.js';
import { keptPrefix, scoreRows, EXCLUDED_LOGIT } from '../../src/rl/token-distribution.js';
import { Rng } from '../../src/util/rng.js';
import { TINY_VOCAB, TINY_EOS_ID } from '../../src/data/tasks/index.js';

t.test('kept set: top-k first, then top-p over the renormalised top-k (vLLM / HF order)', async (t) => {
  const p = [0.05, 0.5, 0.15, 0.3]; // sorted: ids 1 (0.5), 3 (0.3), 2 (0.15), 0 (0.05)
  const order: number[] = [];
  const keep = (topP: number, topK: number) => {
    const k = keptPrefix(p, 4, { topP, topK }, order);
    return order.slice(0, k);
  };
  t.same(keep(0.8, 0), [1, 3], 'top_p 0.8: 0.5 + 0.3 reaches 0.8');
  t.same(keep(0.81, 0), [1, 3, 2], 'top_p 0.81 needs the third');
  t.same(keep(1, 2), [1, 3], 'top_k 2');
  // top_k 3 renormalises to [0.526, 0.316, 0.158]: cumulative 0.842 ≥ 0.84 after two tokens (without
  // renormalising it would be 0.8 < 0.84 and keep three).
  t.same(keep(0.84, 3), [1, 3], 'top_p applies to the renormalised top-k');
  t.same(keep(0.3, 0), [1], 'at least one token');
  t.same(keptPrefix([0.25, 0.25, 0.25, 0.25], 4, { topP: 0.5, topK: 0 }, order), 2);
  t.same(order.slice(0, 2), [0, 1], 'ties by lower id');
});

const config = parseQwen2Config({
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  intermediate_size: 48,
  vocab_size: TINY_VOCAB.length,
  max_position_embeddings: 64,
  rope_theta: 10000,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: true,
  bos_token_id: 1,
  eos_token_id: TINY_EOS_ID,
});
const model = createRandomModel(config, 11, { std: 0.3 });
const tokenizer = {
  decode: (ids: ArrayLike<number>) => Array.from(ids, (i) => TINY_VOCAB[i]).join(''),
  eosTokenIds: [TINY_EOS_ID],
};
const prompts = [
  [1, 5, 6, 13, 7, 8, 14],
  [1, 4, 13, 9, 14],
  [1, 12, 11, 10, 13, 3, 3, 3, 14],
].map((a) => ({ ids: Int32Array.from(a) }));

t.test('engine and learner agree on top-p / top-k log-probs: on-policy ratio 1', async (t) => {
  const engine = createBuiltinEngine({ model, tokenizer });
  for (const [topP, topK, temperature] of [
    [0.7, 0, 0.8],
    [1, 4, 1],
    [0.9, 6, 1.3],
  ] as const) {
    const out = await engine.generate(prompts, 6, { temperature, top_p: topP, top_k: topK, max_tokens: 10, seed: 77 });
    let worst = 0,
      worstFull = 0,
      tokens = 0,
      outside = 0;
    for (const c of out) {
      const prompt = prompts[c.promptIndex]!.ids;
      const ids = Int32Array.from([...prompt, ...c.tokenIds]);
      const fwd = forwardTrain(
        model,
        null,
        0,
        { ids, lengths: Int32Array.of(ids.length), seqLen: ids.length, scoreFrom: Int32Array.of(prompt.length) },
        { temperature },
      );
      const rows = scoreRows(
        {
          logits: fwd.logits,
          targets: c.tokenIds,
          rows: c.tokenIds.length,
          vocab: config.vocabSize,
          invTemp: 1 / temperature,
        },
        { topP, topK },
        false,
      );
      outside += rows.outside;
      for (let i = 0; i < c.tokenIds.length; i++, tokens++) {
        worst = Math.max(worst, Math.abs(rows.logp[i]! - c.logprobs[i]!));
        worstFull = Math.max(worstFull, Math.abs(fwd.logp[prompt.length + i]! - c.logprobs[i]!));
      }
    }
    t.equal(outside, 0, "every sampled token is inside the learner's kept set");
    t.ok(
      worst < 2e-5,
      `top_p ${topP} top_k ${topK} T ${temperature}: ${tokens} tokens, max |engine − learner| = ${worst.toExponential(2)} (log-ratio ≈ 0)`,
    );
    t.ok(
      worstFull > 0.05,
      `a full-vocabulary learner log-prob would be off by up to ${worstFull.toFixed(3)} nats (a wrong ratio)`,
    );
  }
});

t.test('gradient of the truncated log-prob through the log-softmax backward matches finite differences', async (t) => {
  const rng = new Rng(3);
  const V = 9,
    M = 4,
    invTemp = 1 / 0.7;
  const opts = { topP: 0.75, topK: 6 };
  const logits = Float64Array.from({ length: M * V }, () => 3 * rng.normal());
  const targets = Int32Array.from({ length: M }, () => rng.int(V));
  const dl = Float64Array.from({ length: M }, () => rng.normal());
  // Analytic: rewrite the excluded logits, pass the kept-set lse to the ordinary backward.
  const work = Float64Array.from(logits);
  const scored = scoreRows({ logits: work, targets, rows: M, vocab: V, invTemp }, opts, true);
  t.ok(scored.outside > 0, "some targets were outside their row's kept set (the widened-set path is covered)");
  t.ok(
    work.some((x) => x === EXCLUDED_LOGIT),
    'excluded logits set aside',
  );
  logSoftmaxGatherBackward(work, dl, scored.lse, targets, M, V, invTemp);
  // Numeric: L = Σ_m dl_m · logp_m(logits), the kept set held fixed (it is piecewise constant).
  const h = 1e-6;
  let worst = 0;
  for (let k = 0; k < M * V; k++) {
    const x = Float64Array.from(logits);
    x[k] = logits[k]! + h;
    const up = scoreRows({ logits: x, targets, rows: M, vocab: V, invTemp }, opts, false).logp.reduce(
      (a, v, m) => a + dl[m]! * v,
      0,
    );
    x[k] = logits[k]! - h;
    const down = scoreRows({ logits: x, targets, rows: M, vocab: V, invTemp }, opts, false).logp.reduce(
      (a, v, m) => a + dl[m]! * v,
      0,
    );
    worst = Math.max(worst, Math.abs((up - down) / (2 * h) - work[k]!));
  }
  t.ok(worst < 1e-7, `max |FD − analytic| = ${worst.toExponential(2)}`);
});

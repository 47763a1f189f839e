// The builtin engine against the model core: greedy = argmax of the full forward, batched = one at a
// time, seeded determinism, log-probs equal the learner's, adapter versions applied and reported.
import t from 'tap';
import { createBuiltinEngine } from '../../src/engines/builtin/index.js';
import { parseQwen2Config } from '../../src/model/config.js';
import { createRandomModel } from '../../src/model/weights.js';
import { forwardTrain } from '../../src/model/train.js';
import { initLoraAdapter, defaultLoraSettings } from '../../src/model/lora.js';
import { Rng } from '../../src/util/rng.js';
import { TINY_VOCAB, TINY_EOS_ID } from '../../src/data/tasks/index.js';
import type { Completion, SamplingParams } from '../../src/engines/types.js';

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
// std 0.3 gives peaked, input-dependent distributions (std 0.02 would be near-uniform).
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
const greedy: SamplingParams = { temperature: 0, top_p: 1, top_k: 0, max_tokens: 12, seed: 0 };
const sampled: SamplingParams = { temperature: 1, top_p: 1, top_k: 0, max_tokens: 12, seed: 1234 };

/** Log-probs of a completion under the training forward (what the learner computes). */
function learnerLogps(
  adapter: ReturnType<typeof initLoraAdapter> | null,
  prompt: Int32Array,
  c: Completion,
  temperature: number,
): Float32Array {
  const ids = Int32Array.from([...prompt, ...c.tokenIds]);
  const scale = adapter ? adapter.settings.alpha / adapter.settings.r : 0;
  const { logp } = forwardTrain(
    model,
    adapter,
    scale,
    { ids, lengths: Int32Array.of(ids.length), seqLen: ids.length, scoreFrom: Int32Array.of(prompt.length) },
    { temperature },
  );
  return logp.slice(prompt.length, ids.length);
}

t.test('greedy decode equals the argmax of the full forward at every position', async (t) => {
  const engine = createBuiltinEngine({ model, tokenizer });
  const out = await engine.generate(prompts, 1, greedy);
  for (const c of out) {
    const prompt = prompts[c.promptIndex]!.ids;
    const ids = Int32Array.from([...prompt, ...c.tokenIds]);
    const { logits } = forwardTrain(model, null, 0, {
      ids,
      lengths: Int32Array.of(ids.length),
      seqLen: ids.length,
      scoreFrom: Int32Array.of(prompt.length),
    });
    const V = config.vocabSize;
    for (let k = 0; k < c.tokenIds.length; k++) {
      let best = 0;
      for (let v = 1; v < V; v++) if (logits[k * V + v]! > logits[k * V + best]!) best = v;
      t.equal(c.tokenIds[k], best, `prompt ${c.promptIndex} position ${k}`);
    }
    t.ok(c.finishReason === 'eos' || c.tokenIds.length === greedy.max_tokens, 'stops at EOS or max_tokens');
  }
});

t.test('batched generation equals one-at-a-time; same seed gives the same completions', async (t) => {
  const engine = createBuiltinEngine({ model, tokenizer, maxBatch: 64 });
  const batched = await engine.generate(prompts, 4, sampled);
  const again = await engine.generate(prompts, 4, sampled);
  t.same(
    again.map((c) => Array.from(c.tokenIds)),
    batched.map((c) => Array.from(c.tokenIds)),
    'repeatable',
  );
  const single = createBuiltinEngine({ model, tokenizer, maxBatch: 1 });
  const one = await single.generate(prompts, 4, sampled);
  t.same(
    one.map((c) => Array.from(c.tokenIds)),
    batched.map((c) => Array.from(c.tokenIds)),
    'maxBatch 1 equals maxBatch 64',
  );
  const other = await engine.generate(prompts, 4, { ...sampled, seed: 99 });
  t.notSame(
    other.map((c) => Array.from(c.tokenIds)),
    batched.map((c) => Array.from(c.tokenIds)),
    'another seed differs',
  );
  const distinct = new Set(batched.filter((c) => c.promptIndex === 0).map((c) => Array.from(c.tokenIds).join(',')));
  t.ok(distinct.size > 1, 'the G samples of one prompt differ');
});

t.test('log-probs equal the learner log-probs for the same tokens and weights', async (t) => {
  const adapter = initLoraAdapter(config, defaultLoraSettings({ r: 4, alpha: 8 }), new Rng(3));
  const rng = new Rng(5);
  for (let i = adapter.layout.size - 1; i >= 0; i--) adapter.params[i] += 0.05 * rng.normal();
  for (const [ad, temperature] of [
    [null, 1],
    [adapter, 0.7],
    [adapter, 1.3],
  ] as const) {
    const engine = createBuiltinEngine({ model, tokenizer });
    if (ad) await engine.setAdapter({ version: 3, settings: ad.settings, layout: ad.layout, params: ad.params });
    const out = await engine.generate(prompts, 2, { ...sampled, temperature });
    let worst = 0;
    for (const c of out) {
      const ref = learnerLogps(ad, prompts[c.promptIndex]!.ids, c, temperature);
      for (let k = 0; k < ref.length; k++) worst = Math.max(worst, Math.abs(ref[k]! - c.logprobs[k]!));
      t.equal(c.policyVersion, ad ? 3 : 0, 'reports the version');
    }
    t.ok(
      worst <= 1e-5,
      `max |Δ logp| ${worst.toExponential(2)} ≤ 1e-5 (adapter ${ad ? 'on' : 'off'}, T ${temperature})`,
    );
  }
});

t.test('a new adapter version is used by the next call and reported', async (t) => {
  const engine = createBuiltinEngine({ model, tokenizer });
  const before = await engine.generate(prompts, 1, greedy);
  const adapter = initLoraAdapter(config, defaultLoraSettings({ r: 4, alpha: 64 }), new Rng(8));
  const rng = new Rng(9);
  for (let i = 0; i < adapter.layout.size; i++) adapter.params[i] = 0.3 * rng.normal();
  await engine.setAdapter({ version: 1, settings: adapter.settings, layout: adapter.layout, params: adapter.params });
  const after = await engine.generate(prompts, 1, greedy);
  t.ok(
    after.every((c) => c.policyVersion === 1),
    'version 1 reported',
  );
  t.ok(before.every((c) => c.policyVersion === 0));
  t.notSame(
    after.map((c) => Array.from(c.tokenIds)),
    before.map((c) => Array.from(c.tokenIds)),
    'output changed with the adapter',
  );
  adapter.params.fill(0);
  const stillOld = await engine.generate(prompts, 1, greedy);
  t.same(
    stillOld.map((c) => Array.from(c.tokenIds)),
    after.map((c) => Array.from(c.tokenIds)),
    'engine holds its own copy of the version',
  );
  await engine.setAdapter(null);
  const base = await engine.generate(prompts, 1, greedy);
  t.same(
    base.map((c) => Array.from(c.tokenIds)),
    before.map((c) => Array.from(c.tokenIds)),
    'back to the base model',
  );
});

t.test('bad requests are clear errors and the engine keeps serving', async (t) => {
  const engine = createBuiltinEngine({ model, tokenizer });
  await t.rejects(engine.generate([{ ids: new Int32Array(0) }], 1, greedy), /prompt 0 is empty/);
  await t.rejects(engine.generate([{ ids: new Int32Array(60).fill(4) }], 1, greedy), /exceeds the context of 64/);
  await t.rejects(engine.generate([{ ids: Int32Array.of(1, 999) }], 1, greedy), /token id 999 outside the vocabulary/);
  const ok = await engine.generate(prompts, 1, greedy);
  t.equal(ok.length, 3, 'still serves');
});

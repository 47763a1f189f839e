// KV-cache decoding against the full (training) forward: logits at every position of several
// sequences of different lengths, decoded together, finishing at different times, with a slot
// reset and reused — with the LoRA adapter on and off.
import t from 'tap';
import { createRandomModel } from '../../src/model/weights.js';
import { defaultLoraSettings, initLoraAdapter, loraScale } from '../../src/model/lora.js';
import { forwardTrain } from '../../src/model/train.js';
import { createKvCache, decodeStep, prefill, resetSlot } from '../../src/model/kv-cache.js';
import { Rng } from '../../src/util/rng.js';
import { tinyConfig } from '../helpers/model-helpers.js';

const c = tinyConfig({ tie_word_embeddings: true });
const model = createRandomModel(c, 4, { std: 0.3, perturbNorms: 0.2 });
const settings = defaultLoraSettings({ r: 4, alpha: 8 });
const adapter = initLoraAdapter(c, settings, new Rng(1));
{
  const r = new Rng(2);
  for (const s of adapter.layout.tensors)
    if (s.name.endsWith('lora_B'))
      for (let i = 0; i < s.shape[0]! * s.shape[1]!; i++) adapter.params[s.offset + i] = 0.2 * r.normal();
}

/** Logits of the full forward at positions 0..len−2 of one sequence. */
function fullLogits(ids: number[], scale: number): Float32Array {
  const batch = {
    ids: Int32Array.from(ids),
    lengths: Int32Array.of(ids.length),
    seqLen: ids.length,
    scoreFrom: Int32Array.of(1),
  };
  return forwardTrain(model, scale ? adapter : null, scale, batch).logits;
}

for (const scale of [loraScale(settings), 0]) {
  t.test(`decode logits equal the full forward at every position (LoRA scale ${scale})`, async (t) => {
    const rng = new Rng(8);
    const seqs = [
      [5, 11],
      [3, 9],
      [7, 40],
      [30, 37],
    ].map(([p, total]) => ({ prompt: p!, ids: Array.from({ length: total! }, () => rng.int(c.vocabSize)) }));
    const V = c.vocabSize;
    const cache = createKvCache(model, 3, 48);
    let worst = 0;
    let compared = 0;
    const check = (got: Float32Array, gotRow: number, ref: Float32Array, refRow: number): void => {
      for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(got[gotRow * V + v]! - ref[refRow * V + v]!));
      compared++;
    };
    // Round 1: sequences 0..2 in slots 0..2. Round 2: sequence 3 reuses slot 1 after a reset.
    for (const round of [[0, 1, 2], [3]]) {
      const slots = round.length === 3 ? [0, 1, 2] : [1];
      if (round.length === 1) resetSlot(cache, 1);
      const refs = round.map((s) => fullLogits(seqs[s]!.ids, scale));
      const all = prefill(
        model,
        scale ? adapter : null,
        scale,
        cache,
        slots,
        round.map((s) => seqs[s]!.ids.slice(0, seqs[s]!.prompt)),
        { allLogits: true },
      );
      let row = 0;
      round.forEach((s, i) => {
        for (let p = 0; p < seqs[s]!.prompt; p++, row++) if (p < seqs[s]!.ids.length - 1) check(all, row, refs[i]!, p);
      });
      // Decode: each step feeds the next true token to every unfinished sequence.
      const pos = round.map((s) => seqs[s]!.prompt);
      for (;;) {
        const live = round.map((_, i) => i).filter((i) => pos[i]! < seqs[round[i]!]!.ids.length);
        if (live.length === 0) break;
        const logits = decodeStep(
          model,
          scale ? adapter : null,
          scale,
          cache,
          live.map((i) => slots[i]!),
          Int32Array.from(live.map((i) => seqs[round[i]!]!.ids[pos[i]!]!)),
        );
        live.forEach((i, j) => {
          const p = pos[i]!;
          if (p < seqs[round[i]!]!.ids.length - 1) check(logits, j, refs[i]!, p);
          pos[i] = p + 1;
        });
      }
      t.equal(cache.lengths[slots[0]!], seqs[round[0]!]!.ids.length, 'cache holds every token');
    }
    t.comment(`${compared} positions compared, max |Δlogit| ${worst.toExponential(2)}`);
    t.equal(
      compared,
      seqs.reduce((a, s) => a + s.ids.length - 1, 0),
      'every position compared',
    );
    t.ok(worst <= 1e-5, `decode logits match the full forward (max |Δ| ${worst})`);
  });
}

t.test('cache errors are clear', async (t) => {
  const cache = createKvCache(model, 2, 4);
  t.throws(
    () => prefill(model, null, 0, cache, [0], [[1, 2, 3, 4, 5]]),
    /slot 0 would hold 5 tokens, cache maxLen is 4/,
  );
  t.throws(() => prefill(model, null, 0, cache, [2], [[1]]), /slot 2 outside \[0, 2\)/);
  t.throws(() => prefill(model, null, 0, cache, [0], [[99]]), /token id 99 .* outside vocabulary/);
});

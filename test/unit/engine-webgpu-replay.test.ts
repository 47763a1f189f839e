// Recorded decode steps (decode-graph.ts): an engine that replays its recorded steps gives, bit for
// bit, the completions of one that encodes every step, while the batch shrinks as sequences end on
// EOS, slots are refilled, and the attention's key split grows with the sequences; and it does
// replay most steps, recording again only when a step's key changes.
import t, { type Test } from 'tap';
import { createWebGpuEngine, type WebGpuEngine } from '../../src/engines/webgpu/index.js';
import type { Completion, PromptInput, SamplingParams } from '../../src/engines/types.js';
import { randomAdapter, tinyModel } from '../helpers/engine-helpers.js';
import { testGpu } from '../helpers/gpu-helpers.js';

function same(t: Test, what: string, a: Completion[], b: Completion[]): void {
  t.same(
    a.map((c) => [c.finishReason, ...c.tokenIds]),
    b.map((c) => [c.finishReason, ...c.tokenIds]),
    `${what}: same finish reasons and ids`,
  );
  t.same(
    a.map((c) => [...c.logprobs, ...c.modelLogprobs!]),
    b.map((c) => [...c.logprobs, ...c.modelLogprobs!]),
    `${what}: same behaviour and raw log-probs, bit for bit`,
  );
}

async function pair(overlap: boolean): Promise<[WebGpuEngine, WebGpuEngine]> {
  const { model, tokenizer } = tinyModel();
  const opts = { model, tokenizer, weightDtype: 'f32' as const, maxBatch: 3, overlap };
  const engines: [WebGpuEngine, WebGpuEngine] = [
    await createWebGpuEngine(opts),
    await createWebGpuEngine({ ...opts, recordDecode: false }),
  ];
  const adapter = randomAdapter(model, 9, 1);
  for (const e of engines) await e.setAdapter(adapter);
  return engines;
}

t.test('replayed decode steps give the completions of encoded ones', async (t) => {
  await testGpu(); // SwiftShader when no driver is configured
  const { tok } = tinyModel();
  const prompts: PromptInput[] = ['12+34=', '7+8=', '505+77=', '9+9='].map((s) => ({
    ids: Int32Array.from(tok.encode(s, false)),
  }));
  for (const overlap of [true, false]) {
    const [replaying, encoding] = await pair(overlap);
    // 12 sequences in 3 slots, sampled: sequences end on EOS mid-batch (the batch shrinks, slots refill).
    const sampled: SamplingParams = { temperature: 1, top_p: 1, top_k: 0, max_tokens: 12, seed: 11 };
    const a = await replaying.generate(prompts, 3, sampled);
    const ra = { ...replaying.lastStats };
    same(t, `sampled, EOS mid-batch, overlap ${overlap}`, a, await encoding.generate(prompts, 3, sampled));
    const ends = a.filter((c) => c.finishReason === 'eos').length;
    t.ok(ends >= 3, `${ends} of ${a.length} sequences end on EOS before max_tokens`);
    t.ok(
      ra.replayedSteps > 0 && ra.recordedSteps >= 2 && ra.replayedSteps + ra.recordedSteps <= ra.decodeSteps,
      `${ra.replayedSteps} of ${ra.decodeSteps} decode steps replayed, ${ra.recordedSteps} recorded`,
    );
    t.equal(
      encoding.lastStats.replayedSteps + encoding.lastStats.recordedSteps,
      0,
      'recordDecode false records nothing',
    );

    // 80 tokens: the longest sequence passes 32, 64 and 96 keys, so the key split (decodeAttentionPlan) changes.
    const long: SamplingParams = { temperature: 0, top_p: 1, top_k: 0, max_tokens: 80, seed: 0, ignore_eos: true };
    const two = prompts.slice(0, 2);
    same(
      t,
      `greedy, 80 tokens, overlap ${overlap}`,
      await replaying.generate(two, 1, long),
      await encoding.generate(two, 1, long),
    );
    const rl = replaying.lastStats;
    t.ok(rl.recordedSteps >= 3, `the key split changed: ${rl.recordedSteps} steps recorded`);
    t.ok(rl.replayedSteps >= rl.decodeSteps - 4, `${rl.replayedSteps} of ${rl.decodeSteps} decode steps replayed`);
    await replaying.close();
    await encoding.close();
  }
});

t.test('recordDecode must be a boolean', async (t) => {
  const { model, tokenizer } = tinyModel();
  await t.rejects(
    createWebGpuEngine({ model, tokenizer, recordDecode: 'yes' as unknown as boolean }),
    /webgpu engine: recordDecode must be true or false, got yes/,
  );
});

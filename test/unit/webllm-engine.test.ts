// End-to-end WebLLM engine on WebGPU (Dawn on SwiftShader here): a Qwen2-0.5B-shaped checkpoint we
// create → tools/convert-to-mlc → the public q0f32 model library; greedy tokens and log-probs are
// compared with an independent CPU forward before and after a LoRA sync; a corrupted sync is
// rejected and the previous version keeps serving.
//
// Needs LORACTOR_MLC_LIB=/path/Qwen2-0.5B-Instruct-q0f32-ctx4k_cs1k-webgpu.wasm (v0_2_48 lib set)
// and a Vulkan driver (VK_ICD_FILENAMES, e.g. chromium's SwiftShader). Skips otherwise.
// SwiftShader is slow (about a minute per token on 2 cores), so only a handful of tokens are made.
import t from 'tap';
import { mlcLib, noWebGpu, syntheticMlcModel } from '../helpers/webllm-fixtures.js';

const lib = mlcLib as string;
const skip = noWebGpu;

// Log-prob tolerance: the GPU kernels and our CPU forward both compute in f32 but reduce in
// different orders (K up to 4864, 24 layers, softmax over 151936 logits); measured differences are
// ≤ 4e-4. 2e-3 leaves margin, while the LoRA used here moves log-probs by ≫ 2e-2, so a sync that
// never reached the GPU cannot pass.
const LOGPROB_TOL = 2e-3;

t.test('WebLLM engine: exact greedy tokens, log-probs and verified LoRA sync', { skip }, async (t) => {
  const { syntheticText } = await import('../../src/engines/webllm/synthetic-checkpoint.js');
  const { createWebLlmEngine } = await import('../../src/engines/webllm/engine.js');
  const { loadReferenceModel, referenceGreedy } = await import('../../src/engines/webllm/cpu-reference.js');
  const { SyncVerificationError } = await import('../../src/engines/webllm/weight-sync.js');
  const { makeTestAdapter } = await import('../../src/engines/webllm/test-adapter.js');

  const { hf, mlcDir } = await syntheticMlcModel();

  const ref = loadReferenceModel(hf);
  const prompt = Int32Array.from([1, 2, 3]);
  const steps = 2;
  const greedy = { temperature: 1, top_p: 1e-9, top_k: 0, max_tokens: steps, seed: 7 };

  const engine = await createWebLlmEngine({ mlcDir, libFile: lib as string, contextWindow: 256 });
  t.teardown(() => engine.close());
  t.comment(`load ${engine.loadSeconds.toFixed(1)} s`);

  const compare = (
    label: string,
    got: { tokenIds: Int32Array; logprobs: Float32Array },
    want: ReturnType<typeof referenceGreedy>,
  ) => {
    for (const m of want.margins)
      t.ok(m > 20 * LOGPROB_TOL, `${label}: reference top-1 margin ${m.toFixed(4)} is clear of the tolerance`);
    t.same(Array.from(got.tokenIds), want.ids, `${label}: greedy token ids equal the CPU reference`);
    const diffs = want.logprobs.map((lp, i) => Math.abs(lp - got.logprobs[i]!));
    t.comment(
      `${label}: logprobs gpu=[${Array.from(got.logprobs).map((x) => x.toFixed(5))}] ref=[${want.logprobs.map((x) => x.toFixed(5))}] max|diff|=${Math.max(...diffs).toExponential(2)}`,
    );
    t.ok(Math.max(...diffs) < LOGPROB_TOL, `${label}: log-probs within ${LOGPROB_TOL}`);
  };

  // Optional measurements (LORACTOR_WEBLLM_BENCH=1): a Tina-sized sync (r=32, all seven modules in
  // every layer) and sampled generation throughput.
  if (process.env.LORACTOR_WEBLLM_BENCH === '1') {
    const mods = Array.from({ length: 24 }, (_, layer) =>
      [
        'self_attn.q_proj',
        'self_attn.k_proj',
        'self_attn.v_proj',
        'self_attn.o_proj',
        'mlp.gate_proj',
        'mlp.up_proj',
        'mlp.down_proj',
      ].map((module) => ({ layer, module })),
    ).flat();
    for (const v of [3, 4]) {
      await engine.setAdapter(
        makeTestAdapter(engine.artifacts.modelConfig, v, 100 + v, { r: 32, alpha: 128, modules: mods, bScale: 1e-3 }),
      );
      const b = engine.lastSyncStats!;
      t.comment(
        `bench sync v${v} (r=32, 7 modules × 24 layers): ${b.tensors} tensors, ${(b.bytes / 2 ** 20).toFixed(0)} MiB, merge ${b.mergeMs.toFixed(0)} ms, write ${b.writeMs.toFixed(0)} ms, verify ${b.verifyMs.toFixed(0)} ms, total ${b.totalMs.toFixed(0)} ms → ${(b.totalMs / (b.bytes / 2 ** 20)).toFixed(2)} ms/MiB (write+verify ${((b.writeMs + b.verifyMs) / (b.bytes / 2 ** 20)).toFixed(2)} ms/MiB)`,
      );
    }
    await engine.setAdapter(null); // back to W0: the base comparison below then also checks the restore
    t.equal(engine.policyVersion, 0);
  }

  const base = (await engine.generate([{ ids: prompt, text: syntheticText(prompt) }], 1, greedy))[0]!;
  t.comment(`base generation: ${JSON.stringify(engine.lastGenerationStats)}`);
  t.equal(base.policyVersion, 0);
  const refBase = referenceGreedy(ref, null, prompt, steps);
  compare('base', base, refBase);

  const v1 = makeTestAdapter(engine.artifacts.modelConfig, 1, 11);
  await engine.setAdapter(v1);
  t.equal(engine.policyVersion, 1, 'version 1 active after a verified sync');
  const s = engine.lastSyncStats!;
  t.comment(
    `sync v1: ${s.tensors} tensors, ${(s.bytes / 2 ** 20).toFixed(1)} MiB, merge ${s.mergeMs.toFixed(0)} ms, write ${s.writeMs.toFixed(0)} ms, verify ${s.verifyMs.toFixed(0)} ms, total ${s.totalMs.toFixed(0)} ms → ${(s.totalMs / (s.bytes / 2 ** 20)).toFixed(2)} ms/MiB`,
  );
  const after = (await engine.generate([{ ids: prompt }], 1, greedy))[0]!;
  t.equal(after.policyVersion, 1);
  const refV1 = referenceGreedy(ref, v1, prompt, steps);
  compare('after LoRA sync', after, refV1);
  t.ok(
    Math.abs(refV1.logprobs[0]! - refBase.logprobs[0]!) > 10 * LOGPROB_TOL || refV1.ids[0] !== refBase.ids[0],
    'the adapter changes the output measurably',
  );

  // A sync whose read-back fails: one tensor is corrupted on the GPU after it is written.
  const v2 = makeTestAdapter(engine.artifacts.modelConfig, 2, 22);
  engine.injectWriteFault('model.layers.0.self_attn.c_attn.weight');
  await t.rejects(engine.setAdapter(v2), SyncVerificationError, 'corrupted sync is rejected');
  t.equal(engine.policyVersion, 1, 'the previous version stays active');
  const again = (await engine.generate([{ ids: prompt }], 1, { ...greedy, max_tokens: 1 }))[0]!;
  t.equal(again.policyVersion, 1);
  t.equal(again.tokenIds[0], refV1.ids[0], 'after the rejected sync the engine still serves version 1 (token)');
  t.ok(
    Math.abs(again.logprobs[0]! - refV1.logprobs[0]!) < LOGPROB_TOL,
    'after the rejected sync the engine still serves version 1 (log-prob)',
  );
});

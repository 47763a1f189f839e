// End to end through a real q4f16_1 model library (Dawn on SwiftShader here): a synthetic checkpoint
// in the library's shape → convert-to-mlc --dtype q4f16_1 → WebLLM; a LoRA adapter synced by the q4
// path (merge and re-quantize on web-llm's own GPU device, written into its q_weight / q_scale
// buffers); greedy tokens and log-probs compared with the independent CPU forward on the weights the
// library holds (q4-reference.ts). What remains between the two is the library's f16 activations and
// kernels. The rollout/learner mismatch — WebLLM's tokens scored by the learner's full-precision
// model (W0 + delta, f32) — is reported, not bounded: 4-bit weights move log-probs by design.
//
// Needs LORACTOR_MLC_LIB_Q4=/path/Qwen2-0.5B-Instruct-q4f16_1-ctx4k_cs1k-webgpu.wasm (or the 1.5B
// library; v0_2_48 lib set) and a Vulkan driver (VK_ICD_FILENAMES). Skips otherwise. SwiftShader
// makes minutes per token, so two tokens before and after the sync.
import t from 'tap';
import { mlcLibQ4, noWebGpuQ4, syntheticMlcModelQ4 } from '../helpers/webllm-fixtures.js';

const lib = mlcLibQ4 as string;

// q4f16_1 kernels compute in f16 (WGSL `enable f16`): an adapter without shader-f16 (Dawn's
// SwiftShader has none) cannot run them. There the engine must refuse the library up front.
const noF16 = noWebGpuQ4 ? false : await (await import('../../src/engines/webllm/node-env.js')).missingShaderF16();
const skip = noWebGpuQ4 || (noF16 ? `${noF16}: a q4f16_1 library needs a GPU with shader-f16` : false);

t.test(
  'a q4f16_1 library on an adapter without shader-f16 is refused before loading, naming the feature',
  {
    skip: noWebGpuQ4 || (noF16 ? false : 'the adapter has shader-f16'),
  },
  async (t) => {
    const { createWebLlmEngine } = await import('../../src/engines/webllm/engine.js');
    const { mlcDir } = await syntheticMlcModelQ4(lib);
    await t.rejects(
      createWebLlmEngine({ mlcDir, libFile: lib, contextWindow: 256 }),
      /is a q4f16_1 library, whose kernels compute in f16, but the WebGPU adapter .* has no shader-f16 feature/,
    );
  },
);

// Tolerance between WebLLM and the CPU forward on the same q4 weights, log-prob per token: the
// library computes activations, norms and attention in f16 (11 significant bits, ~5e-4 relative per
// rounding over 24–28 layers), our reference in f32. The adapter below moves log-probs by far more,
// so a sync that never reached the GPU cannot pass.
const KERNEL_TOL = 0.05;

t.test(
  'WebLLM q4f16_1 library: q4 sync writes the merged adapter, tokens match the CPU on the same weights',
  {
    skip,
  },
  async (t) => {
    const { syntheticText } = await import('../../src/engines/webllm/synthetic-checkpoint.js');
    const { createWebLlmEngine } = await import('../../src/engines/webllm/engine.js');
    const { loadReferenceModel, referenceGreedy, referenceScore } = await import(
      '../../src/engines/webllm/cpu-reference.js'
    );
    const { q4ReferenceModel } = await import('../../src/engines/webllm/q4-reference.js');
    const { makeTestAdapter } = await import('../../src/engines/webllm/test-adapter.js');

    const tc = performance.now();
    const { hf, mlcDir, tag } = await syntheticMlcModelQ4(lib);
    t.comment(`model ${tag}, checkpoint + q4f16_1 conversion ${((performance.now() - tc) / 1000).toFixed(1)} s`);
    const learner = loadReferenceModel(hf);
    const prompt = Int32Array.from([1, 2, 3]);
    const steps = 2;
    const greedy = { temperature: 1, top_p: 1e-9, top_k: 0, max_tokens: steps, seed: 7 };

    const engine = await createWebLlmEngine({ mlcDir, libFile: lib, contextWindow: 256 });
    t.teardown(() => engine.close());
    t.equal(engine.artifacts.lib.quantization, 'q4f16_1');
    t.comment(`load ${engine.loadSeconds.toFixed(1)} s`);

    const check = async (label: string, adapter: Parameters<typeof q4ReferenceModel>[1]) => {
      const got = (await engine.generate([{ ids: prompt, text: syntheticText(prompt) }], 1, greedy))[0]!;
      t.equal(got.policyVersion, adapter?.version ?? 0, `${label}: served by the synced version`);
      const ids = Array.from(got.tokenIds);
      const qModel = q4ReferenceModel(learner, adapter);
      const q = referenceGreedy(qModel, null, prompt, steps);
      const qScored = referenceScore(qModel, null, prompt, ids);
      const full = referenceGreedy(learner, adapter, prompt, steps);
      const fullScored = referenceScore(learner, adapter, prompt, ids);
      const gpu = Array.from(got.logprobs);
      const kernelGap = qScored.logprobs.map((lp, i) => Math.abs(lp - gpu[i]!));
      const learnerGap = fullScored.logprobs.map((lp, i) => lp - gpu[i]!);
      const fmt = (xs: number[]) => `[${xs.map((x) => x.toFixed(5))}]`;
      t.comment(
        `${label}: webllm ids ${JSON.stringify(ids)} lp ${fmt(gpu)}; CPU on q4 weights ids ${JSON.stringify(q.ids)} lp ${fmt(q.logprobs)} margins ${fmt(q.margins)}, scoring webllm's ids ${fmt(qScored.logprobs)} → max|Δ| ${Math.max(...kernelGap).toExponential(2)}`,
      );
      t.comment(
        `${label}: rollout/learner mismatch — learner (f32 W0 + delta) greedy ids ${JSON.stringify(full.ids)}; scoring webllm's ids ${fmt(fullScored.logprobs)}, Δ (learner − webllm) ${fmt(learnerGap)}, mean|Δ| ${(learnerGap.reduce((s, x) => s + Math.abs(x), 0) / steps).toFixed(4)}`,
      );
      // Ids: equal wherever the CPU's top-1 margin on the same weights is clear of the f16 noise, up to
      // the first position where they may legitimately differ (the contexts diverge after it).
      for (let i = 0; i < steps; i++) {
        if (q.margins[i]! <= 2 * KERNEL_TOL) {
          t.comment(
            `${label}: token ${i}: margin ${q.margins[i]!.toFixed(4)} within f16 noise, ids not compared from here`,
          );
          break;
        }
        t.equal(ids[i], q.ids[i], `${label}: token ${i} equals the CPU's greedy token on the same q4 weights`);
      }
      t.ok(
        Math.max(...kernelGap) < KERNEL_TOL,
        `${label}: log-probs within ${KERNEL_TOL} of the CPU on the same q4 weights`,
      );
      return { ids, gpu, qModel };
    };

    const base = await check('base', null);

    // r 4, alpha 16, B ~ U(±0.2): a delta of the order of the 4-bit step, so the re-quantized words change.
    const v1 = makeTestAdapter(engine.artifacts.modelConfig, 1, 11, { r: 4, alpha: 16, bScale: 0.2 });
    await engine.setAdapter(v1);
    t.equal(engine.policyVersion, 1, 'version 1 active after a verified q4 sync');
    const s = engine.lastSyncStats!;
    t.comment(
      `q4 sync v1: ${s.tensors} tensors, ${(s.bytes / 2 ** 20).toFixed(1)} MiB of q4 written, merge+quantize ${s.writeMs.toFixed(0)} ms, verify ${s.verifyMs.toFixed(0)} ms, total ${s.totalMs.toFixed(0)} ms`,
    );
    const after = await check('after q4 sync', v1);
    // The sync reached the GPU: the base weights score WebLLM's new tokens far from what it reported.
    const onBase = referenceScore(base.qModel, null, prompt, after.ids).logprobs;
    const moved = Math.max(...onBase.map((lp, i) => Math.abs(lp - after.gpu[i]!)));
    t.ok(
      moved > 4 * KERNEL_TOL || after.ids.join() !== base.ids.join(),
      `the synced adapter changed the served model (base weights are ${moved.toFixed(4)} away)`,
    );

    await engine.setAdapter(null);
    t.equal(engine.policyVersion, 0, 'back to the base words (verified against the CPU quantization)');
    t.comment(`q4 sync back to base: ${engine.lastSyncStats!.totalMs.toFixed(0)} ms`);
  },
);

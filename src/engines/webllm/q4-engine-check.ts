// The end-to-end check of WebLLM on a q4f16_1 library: greedy tokens and log-probs of the real
// library against the independent CPU forward on the weights it holds (q4-reference.ts), before and
// after a LoRA adapter is synced by the q4 path (merge and re-quantize on web-llm's own GPU device,
// written into its q_weight / q_scale buffers), then back to the base words. What remains between
// the two is the library's f16 activations and kernels. The rollout/learner mismatch (WebLLM's tokens
// scored by the learner's full-precision model, W0 + delta in f32) is reported, not bounded: 4-bit
// weights move log-probs by design.
//
// One body for two callers: the tap test (test/unit/webllm-q4-engine.test.ts, where a q4 library and
// shader-f16 exist) and tools/webllm-q4-check.ts, which the GPU-machine script runs without tap. Both
// pass something with tap's equal/ok/comment.
import { syntheticText } from './synthetic-checkpoint.js';
import { createWebLlmEngine, type WebLlmEngine } from './engine.js';
import { loadReferenceModel, referenceGreedy, referenceScore } from './cpu-reference.js';
import { q4ReferenceModel } from './q4-reference.js';
import { makeTestAdapter } from './test-adapter.js';

/** What the check reports through (tap's Test has these three). */
export interface CheckReporter {
  equal(found: unknown, wanted: unknown, message: string): unknown;
  ok(value: unknown, message: string): unknown;
  comment(message: string): unknown;
}

export interface Q4CheckModel {
  /** The q4f16_1 library. */
  lib: string;
  /** The synthetic checkpoint and its q4f16_1 conversion (tools/convert-to-mlc/synthetic.ts). */
  hf: string;
  mlcDir: string;
}

// Tolerance between WebLLM and the CPU forward on the same q4 weights, log-prob per token: the
// library computes activations, norms and attention in f16 (11 significant bits, ~5e-4 relative per
// rounding over 24–28 layers), our reference in f32. The adapter below moves log-probs by far more,
// so a sync that never reached the GPU cannot pass.
const KERNEL_TOL = 0.05;
/** Tokens generated per comparison: minutes per token on SwiftShader, so few. */
const STEPS = 2;
const PROMPT = Int32Array.from([1, 2, 3]);
const GREEDY = { temperature: 1, top_p: 1e-9, top_k: 0, max_tokens: STEPS, seed: 7 };

type Learner = ReturnType<typeof loadReferenceModel>;
type Adapter = Parameters<typeof q4ReferenceModel>[1];
const fmt = (xs: number[]) => `[${xs.map((x) => x.toFixed(5))}]`;

/** Runs the whole check on `m`, reporting every assertion through `t`; closes the engine it opens. */
export async function checkQ4Engine(t: CheckReporter, m: Q4CheckModel): Promise<void> {
  // The engine first: an adapter without shader-f16 refuses the library before the CPU model loads.
  const engine = await createWebLlmEngine({ mlcDir: m.mlcDir, libFile: m.lib, contextWindow: 256 });
  try {
    const learner = loadReferenceModel(m.hf);
    t.equal(engine.artifacts.lib.quantization, 'q4f16_1', 'the library is q4f16_1');
    t.comment(`load ${engine.loadSeconds.toFixed(1)} s`);
    const base = await compare(t, engine, learner, 'base', null);
    // r 4, alpha 16, B ~ U(±0.2): a delta of the order of the 4-bit step, so the re-quantized words change.
    const v1 = makeTestAdapter(engine.artifacts.modelConfig, 1, 11, { r: 4, alpha: 16, bScale: 0.2 });
    await engine.setAdapter(v1);
    t.equal(engine.policyVersion, 1, 'version 1 active after a verified q4 sync');
    const s = engine.lastSyncStats!;
    t.comment(
      `q4 sync v1: ${s.tensors} tensors, ${(s.bytes / 2 ** 20).toFixed(1)} MiB of q4 written, merge+quantize ${s.writeMs.toFixed(0)} ms, verify ${s.verifyMs.toFixed(0)} ms, total ${s.totalMs.toFixed(0)} ms`,
    );
    const after = await compare(t, engine, learner, 'after q4 sync', v1);
    // The sync reached the GPU: the base weights score WebLLM's new tokens far from what it reported.
    const onBase = referenceScore(base.qModel, null, PROMPT, after.ids).logprobs;
    const moved = Math.max(...onBase.map((lp, i) => Math.abs(lp - after.gpu[i]!)));
    t.ok(
      moved > 4 * KERNEL_TOL || after.ids.join() !== base.ids.join(),
      `the synced adapter changed the served model (base weights are ${moved.toFixed(4)} away)`,
    );
    await engine.setAdapter(null);
    t.equal(engine.policyVersion, 0, 'back to the base words (verified against the CPU quantization)');
    t.comment(`q4 sync back to base: ${engine.lastSyncStats!.totalMs.toFixed(0)} ms`);
  } finally {
    await engine.close();
  }
}

/** WebLLM's greedy tokens under `adapter` against the CPU on the same q4 weights (and the learner's view). */
async function compare(t: CheckReporter, engine: WebLlmEngine, learner: Learner, label: string, adapter: Adapter) {
  const got = (await engine.generate([{ ids: PROMPT, text: syntheticText(PROMPT) }], 1, GREEDY))[0]!;
  t.equal(got.policyVersion, adapter?.version ?? 0, `${label}: served by the synced version`);
  const ids = Array.from(got.tokenIds);
  const gpu = Array.from(got.logprobs);
  const qModel = q4ReferenceModel(learner, adapter);
  const q = referenceGreedy(qModel, null, PROMPT, STEPS);
  const kernelGap = referenceScore(qModel, null, PROMPT, ids).logprobs.map((lp, i) => Math.abs(lp - gpu[i]!));
  t.comment(
    `${label}: webllm ids ${JSON.stringify(ids)} lp ${fmt(gpu)}; CPU on q4 weights ids ${JSON.stringify(q.ids)} lp ${fmt(q.logprobs)} margins ${fmt(q.margins)} → max|Δ| on webllm's ids ${Math.max(...kernelGap).toExponential(2)}`,
  );
  reportMismatch(t, learner, adapter, label, ids, gpu);
  // Ids: equal wherever the CPU's top-1 margin on the same weights is clear of the f16 noise, up to
  // the first position where they may legitimately differ (the contexts diverge after it).
  for (let i = 0; i < STEPS; i++) {
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
}

/** The rollout/learner mismatch: the learner's full-precision model (f32 W0 + delta) on WebLLM's tokens. */
function reportMismatch(
  t: CheckReporter,
  learner: Learner,
  adapter: Adapter,
  label: string,
  ids: number[],
  gpu: number[],
) {
  const full = referenceGreedy(learner, adapter, PROMPT, STEPS);
  const gap = referenceScore(learner, adapter, PROMPT, ids).logprobs.map((lp, i) => lp - gpu[i]!);
  t.comment(
    `${label}: rollout/learner mismatch — learner greedy ids ${JSON.stringify(full.ids)}; Δ (learner − webllm) on webllm's ids ${fmt(gap)}, mean|Δ| ${(gap.reduce((s, x) => s + Math.abs(x), 0) / STEPS).toFixed(4)}`,
  );
}

// The rollout actor hosting WebLLM in its worker thread (ActorSystem → piscina worker → Dawn on
// SwiftShader here), on a Qwen2-0.5B-shaped checkpoint we create (converted by tools/convert-to-mlc).
// Bad requests (empty prompt, prompt over the context window, a lone surrogate turned U+FFFD in
// transit, text that is not the ids' text, top_k) fail alone before any GPU work; a version with a
// non-finite value and a version whose GPU read-back fails are not applied (sync: verified false,
// generate refuses to run stale); the same worker then answers good requests exactly as the CPU
// reference forward does, before and after the adapter is applied.
//
// Needs LORACTOR_MLC_LIB (Qwen2-0.5B-Instruct-q0f32-ctx4k_cs1k-webgpu.wasm) and a Vulkan driver
// (VK_ICD_FILENAMES). SwiftShader makes about a token a minute, so good requests are 1 token and are
// made once per failure class (the bad ones never reach the GPU); the builtin variant in
// rollout-actor.test.ts checks a good request after every single bad one.
import t from 'tap';
import { mlcLib, noWebGpu, syntheticMlcModel } from '../helpers/webllm-fixtures.js';

const lib = mlcLib as string;
const skip = noWebGpu;

// Same tolerance and reasoning as webllm-engine.test.ts (GPU vs CPU f32, different reduction orders).
const LOGPROB_TOL = 2e-3;

t.test('rollout actor on WebLLM in a worker thread: bad requests fail alone, verified syncs', { skip }, async (t) => {
  const t0 = performance.now();
  const { syntheticText } = await import('../../src/engines/webllm/synthetic-checkpoint.js');
  const { loadReferenceModel, referenceGreedy } = await import('../../src/engines/webllm/cpu-reference.js');
  const { ActorSystem } = await import('../../src/runtime/actor-system.js');
  const { WeightStore } = await import('../../src/runtime/weight-store.js');
  const { loadModel } = await import('../../src/model/load.js');
  const { describeModel } = await import('../../src/model/weights.js');
  const { createLoraLayout, initLoraAdapter } = await import('../../src/model/lora.js');
  const { TrainingProtocols } = await import('../../protocols/training.js');
  const { Rng } = await import('../../src/util/rng.js');

  const { hf, mlcDir } = await syntheticMlcModel();

  const model = loadModel(hf);
  const lora = { r: 2, alpha: 8, dropout: 0, targetModules: ['q_proj' as const] };
  const layout = createLoraLayout(model.config, lora);
  const store = WeightStore.create(layout.size);
  const system = await ActorSystem.start({
    'rollout-0': {
      module: 'actors/rollout.ts',
      retries: 0,
      config: {
        model: describeModel(model),
        tokenizerDir: hf,
        store: store.describe(),
        lora,
        readerName: 'rollout-0',
        engine: 'webllm',
        webllm: { mlcDir, libFile: lib, contextWindow: 64, injectWriteFault: 'model.layers.0.self_attn.c_attn.weight' },
      },
    },
  });
  const crashes: string[] = [];
  const sub = system.events$.subscribe((e) => {
    if (e.type === 'crash' || e.type === 'worker-created') crashes.push(e.type);
  });
  t.teardown(async () => {
    sub.unsubscribe();
    await system.shutdown({ drain: false });
  });
  t.comment(`actor started (WebLLM loaded in the worker) after ${((performance.now() - t0) / 1000).toFixed(0)} s`);

  const ids = [1, 2, 3];
  const greedy = { temperature: 1, top_p: 1e-9, top_k: 0, max_tokens: 1, seed: 7 };
  type Reply = {
    engine: string;
    policyVersion: number;
    tokensPerSecond: number;
    timeToFirstTokenS: number;
    syncLatencyMs: number;
    completions: { tokenIds: number[]; logprobs: number[]; policyVersion: number }[];
  };
  // Token ids and log-probs come back as SharedTensor descriptors; the checks read them as arrays.
  const { float32View, int32View } = await import('../../protocols/shared-tensor.js');
  type Wire = Omit<Reply, 'completions'> & {
    completions: {
      tokenIds: Parameters<typeof int32View>[0];
      logprobs: Parameters<typeof float32View>[0];
      policyVersion: number;
    }[];
  };
  const ask = async (prompts: unknown[], extra: Record<string, unknown> = {}): Promise<Reply> => {
    const r = await system.ask<Wire>(
      'rollout-0',
      'generate',
      { step: 1, prompts, n: 1, sampling: greedy, minPolicyVersion: 0, ...extra },
      { protocol: TrainingProtocols.GenerateRequest },
    );
    return {
      ...r,
      completions: r.completions.map((c) => ({
        ...c,
        tokenIds: Array.from(int32View(c.tokenIds)),
        logprobs: Array.from(float32View(c.logprobs)),
      })),
    };
  };
  const ref = loadReferenceModel(hf);
  const good = async (label: string, adapter: Parameters<typeof referenceGreedy>[1], version: number) => {
    const ts = performance.now();
    const r = await ask([{ ids, text: syntheticText(ids), promptIndex: 0 }]);
    const want = referenceGreedy(ref, adapter, ids, 1);
    const c = r.completions[0]!;
    t.same(c.tokenIds, want.ids, `${label}: greedy token equals the CPU reference`);
    t.ok(
      Math.abs(c.logprobs[0]! - want.logprobs[0]!) < LOGPROB_TOL,
      `${label}: log-prob ${c.logprobs[0]!.toFixed(5)} vs reference ${want.logprobs[0]!.toFixed(5)}`,
    );
    t.equal(c.policyVersion, version, `${label}: version ${version}`);
    t.comment(
      `${label}: ${((performance.now() - ts) / 1000).toFixed(0)} s; reply tokens/s ${r.tokensPerSecond.toFixed(4)}, ttft ${r.timeToFirstTokenS.toFixed(1)} s, sync ${r.syncLatencyMs.toFixed(0)} ms`,
    );
    return r;
  };

  const first = await good('first request', null, 0);
  t.equal(first.engine, 'webllm');
  t.ok(first.timeToFirstTokenS > 0 && first.tokensPerSecond > 0, 'reports time to first token and tokens/s');

  await t.rejects(ask([{ ids: [], promptIndex: 4 }]), /prompt 0 is empty.*promptIndex 4/, 'empty prompt');
  await t.rejects(
    ask([
      { ids, promptIndex: 0 },
      { ids: Array.from({ length: 64 }, () => 5), promptIndex: 1 },
    ]),
    /prompt 1 has 64 tokens; with max_tokens 1 it exceeds the context window of 64/,
    'prompt over the context window',
  );
  await t.rejects(
    ask([{ ids, text: 't1 \uD800t2 t3', promptIndex: 2 }]),
    /prompt 0 \(promptIndex 2\): text contains U\+FFFD/,
    'lone surrogate (U+FFFD after msgpack)',
  );
  await t.rejects(
    ask([{ ids, text: 't1 t2 t4', promptIndex: 0 }]),
    /text does not tokenize to its ids/,
    "text that is not the ids' text",
  );
  await t.rejects(
    ask([{ ids, promptIndex: 0 }], { sampling: { ...greedy, top_k: 5 } }),
    /top_k=5 is not supported/,
    'top_k',
  );
  await good('after five bad requests', null, 0);

  const adapter = initLoraAdapter(model.config, lora, new Rng(3));
  const rng = new Rng(4);
  for (let i = 0; i < adapter.params.length; i++) adapter.params[i] = 0.05 * rng.normal();
  const nan = adapter.params.slice();
  nan[7] = Number.NaN;
  store.publish(nan, 1);
  const sync = () =>
    system.ask<{ version: number; verified: boolean; error?: string; latencyMs: number }>(
      'rollout-0',
      'sync',
      { minVersion: 1 },
      { protocol: TrainingProtocols.SyncRequest },
    );
  const s1 = await sync();
  t.same(
    [s1.version, s1.verified],
    [0, false],
    'adapter that does not fit (non-finite value): not applied, version 0 serving',
  );
  t.match(
    s1.error,
    /adapter version 1 was not applied: adapter v1: non-finite value at flat index 7; still serving version 0/,
  );
  await t.rejects(
    ask([{ ids, promptIndex: 0 }], { minPolicyVersion: 1 }),
    /refusing to generate/,
    'generate refuses to run stale (the request needs version 1)',
  );
  store.rewrite(adapter.params, 1);
  const s2 = await sync();
  t.same([s2.version, s2.verified], [0, false], 'GPU read-back failure (injected): not applied');
  t.match(
    s2.error,
    /failed read-back verification for model\.layers\.0\.self_attn\.c_attn\.weight; version 0 restored and still active/,
  );
  store.rewrite(adapter.params, 1);
  const s3 = await sync();
  t.same([s3.version, s3.verified], [1, true], 'republished version applied and verified');
  t.comment(`verified sync of v1: ${s3.latencyMs.toFixed(0)} ms`);
  const v1 = { version: 1, settings: lora, layout, params: adapter.params };
  const [b0, a1] = [referenceGreedy(ref, null, ids, 1), referenceGreedy(ref, v1, ids, 1)];
  t.ok(
    b0.ids[0] !== a1.ids[0] || Math.abs(b0.logprobs[0]! - a1.logprobs[0]!) > 10 * LOGPROB_TOL,
    `the adapter moves the reference log-prob (${b0.logprobs[0]!.toFixed(4)} → ${a1.logprobs[0]!.toFixed(4)}): a sync that never reached the GPU cannot pass`,
  );
  await good('at version 1', v1, 1);
  t.same(crashes, [], 'the original worker served throughout');
  t.comment(`total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
});

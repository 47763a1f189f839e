// The rollout actor in a real worker thread (ActorSystem → piscina), builtin engine on models/tiny:
// every bad request — empty prompt, prompt over the context, text with a lone surrogate (rejected by
// the protocol on the clone transport, replaced by U+FFFD on msgpack), text that is not its ids'
// text — fails alone with an error naming the prompt, and the SAME worker then answers a good request
// exactly as an in-process engine does. A snapshot failing its checksum is not applied: sync replies
// verified:false, generate refuses to run stale, and after a republish the actor serves the version.
// WebLLM init errors (missing / mismatched MLC artifacts) fail the spawn before any GPU work, so
// they are checked here too; the WebLLM serving variant is test/unit/rollout-actor-webllm.test.ts.
import t from 'tap';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ActorSystem, type ActorEvent } from '../../src/runtime/actor-system.js';
import { WeightStore } from '../../src/runtime/weight-store.js';
import { loadModel } from '../../src/model/load.js';
import { describeModel } from '../../src/model/weights.js';
import { loadTokenizer } from '../../src/model/tokenizer.js';
import { createLoraLayout, initLoraAdapter } from '../../src/model/lora.js';
import { createBuiltinEngine } from '../../src/engines/builtin/index.js';
import type { GenerateRequest } from '../../protocols/training.js';
import { RolloutProtocol } from '../../protocols/handlers.js';
import { float32View, int32View, isSharedTensor } from '../../protocols/shared-tensor.js';
import { askRole } from '../../src/runtime/ask-role.js';
import { Rng } from '../../src/util/rng.js';
import { repoRoot } from '../../src/util/paths.js';
import type { LoraSettings } from '../../src/model/adapter-layout.js';
import type { SamplingParams } from '../../src/engines/types.js';

const dir = join(repoRoot(), 'models/tiny');

t.test('rollout actor (builtin): each bad request fails alone, the same worker keeps serving', async (t) => {
  const model = loadModel(dir);
  const tok = loadTokenizer(dir, model.config);
  const lora: LoraSettings = { r: 4, alpha: 16, dropout: 0, targetModules: ['q_proj', 'v_proj'] };
  const layout = createLoraLayout(model.config, lora);
  const store = WeightStore.create(layout.size);
  const base = {
    model: describeModel(model),
    tokenizerDir: dir,
    store: store.describe(),
    lora,
    readerName: 'rollout-0',
    maxBatch: 16,
  };
  const system = await ActorSystem.start({
    'rollout-0': { module: 'actors/rollout.ts', retries: 0, config: { ...base, engine: 'builtin' } },
  });
  const events: ActorEvent[] = [];
  const sub = system.events$.subscribe((e) => events.push(e));
  t.teardown(async () => {
    sub.unsubscribe();
    await system.shutdown({ drain: false });
  });

  const texts = ['12+34=', '7+8='].map((q) =>
    tok.applyChatTemplate([{ role: 'user', content: q }], { addGenerationPrompt: true }),
  );
  const prompts = texts.map((text, i) => ({ ids: tok.encode(text, false), text, promptIndex: 5 + i }));
  const sampling: SamplingParams = { temperature: 1, top_p: 1, top_k: 0, max_tokens: 10, seed: 77 };
  const ask = (msg: Record<string, unknown>, transport?: 'clone') =>
    askRole(
      system,
      'rollout-0',
      RolloutProtocol.generate,
      { step: 1, n: 2, sampling, minPolicyVersion: 0, ...msg } as GenerateRequest,
      transport ? { transport } : {},
    );

  // What a correct answer is: the same engine in this thread, same weights, prompts keyed by promptIndex.
  const local = createBuiltinEngine({
    model,
    tokenizer: { decode: (ids) => tok.decode(ids, true), eosTokenIds: model.config.eosTokenIds },
    maxBatch: 16,
  });
  const expected = async () =>
    (
      await local.generate(
        prompts.map((p) => ({ ids: Int32Array.from(p.ids), seedKey: p.promptIndex })),
        2,
        sampling,
      )
    ).map((c) => ({
      promptIndex: prompts[c.promptIndex]!.promptIndex,
      sampleIndex: c.sampleIndex,
      tokenIds: Array.from(c.tokenIds),
      logprobs: Array.from(c.logprobs),
      policyVersion: c.policyVersion,
    }));
  let want = await expected();
  const good = async (label: string) => {
    const r = await ask({ prompts });
    const bufferOf = (x: unknown) => (isSharedTensor(x) ? x.buffer : null);
    t.ok(
      r.completions.every(
        (c) =>
          isSharedTensor(c.logprobs) &&
          bufferOf(c.tokenIds) !== null &&
          bufferOf(c.tokenIds) === bufferOf(r.completions[0]!.tokenIds),
      ),
      `${label}: ids and log-probs come back as descriptors of one shared buffer each`,
    );
    t.same(
      r.completions.map(({ promptIndex, sampleIndex, tokenIds, logprobs, policyVersion }) => ({
        promptIndex,
        sampleIndex,
        tokenIds: Array.from(int32View(tokenIds)),
        logprobs: Array.from(float32View(logprobs)),
        policyVersion,
      })),
      want,
      `${label}: the same actor answers a good request correctly`,
    );
    return r;
  };

  const first = await good('first request');
  t.equal(first.engine, 'builtin');
  t.ok(
    first.tokensPerSecond > 0 && first.timeToFirstTokenS > 0 && first.timeToFirstTokenS < 60,
    `reports tokens/s ${first.tokensPerSecond.toFixed(0)} and time to first token ${first.timeToFirstTokenS.toFixed(4)} s`,
  );
  t.equal(first.syncLatencyMs, 0, 'no sync needed at version 0');

  await t.rejects(
    ask({ prompts: [prompts[0], { ids: [], promptIndex: 9 }] }),
    /prompt 1 is empty.*promptIndex 9/,
    'empty prompt: error names the prompt',
  );
  await good('after the empty prompt');

  const long = Array.from({ length: model.config.maxPositionEmbeddings }, () => prompts[0]!.ids[1]!);
  await t.rejects(
    ask({ prompts: [{ ids: long, promptIndex: 3 }] }),
    /prompt 0 has 128 tokens; with max_tokens 10 it exceeds the context of 128.*promptIndex 3/,
    'over-long prompt',
  );
  await good('after the over-long prompt');

  // A lone surrogate has no UTF-8 encoding. With structured clone it reaches the worker and the
  // protocol rejects it, naming the field; msgpack replaces it with U+FFFD on the way, and the text
  // no longer tokenizes to the ids.
  const broken = texts[0]!.slice(0, 8) + '\uD800' + texts[0]!.slice(8);
  await t.rejects(
    ask({ prompts: [{ ...prompts[0]!, text: broken }] }, 'clone'),
    /prompts\.0\.text: prompt text contains a lone UTF-16 surrogate/,
    'lone surrogate (clone): rejected naming the field',
  );
  await good('after the lone surrogate (clone)');
  await t.rejects(
    ask({ prompts: [prompts[1], { ...prompts[0]!, text: broken }] }),
    /prompt 1 \(promptIndex 5\): text contains U\+FFFD at character 8/,
    'lone surrogate (msgpack): U+FFFD named',
  );
  await good('after the lone surrogate (msgpack)');
  await t.rejects(
    ask({ prompts: [{ ...prompts[0]!, text: texts[1] }] }),
    /prompt 0 \(promptIndex 5\): text does not tokenize to its ids/,
    'text of another prompt',
  );
  await good('after mismatched text');

  // Version 1 with a flipped bit: not applied, reported; generate refuses rather than run stale.
  const adapter = initLoraAdapter(model.config, lora, new Rng(3));
  const rng = new Rng(4);
  for (let i = 0; i < adapter.params.length; i++) adapter.params[i] = 0.2 * rng.normal();
  store.publish(adapter.params, 1);
  store.corruptActiveForDrill();
  const bad = await askRole(system, 'rollout-0', RolloutProtocol.sync, { minVersion: 1 });
  t.same(
    { version: bad.version, verified: bad.verified },
    { version: 0, verified: false },
    'corrupted version not applied; version 0 still serving',
  );
  t.match(bad.error, /adapter version 1 failed checksum verification; still serving version 0/);
  await t.rejects(
    ask({ prompts, minPolicyVersion: 1 }),
    /failed checksum verification.*refusing to generate for step 1/,
    'generate does not run stale',
  );
  // Async GRPO may accept the previous version (staleness bound): the actor generates on version 0
  // and says the newest one failed, so the coordinator has it republished.
  const stale = await ask({ prompts });
  t.same(
    stale.completions.map((c) => Array.from(int32View(c.tokenIds))),
    want.map((c) => c.tokenIds),
    'generates on version 0 when the request allows it',
  );
  t.equal(stale.policyVersion, 0);
  t.match(
    stale.syncError,
    /adapter version 1 failed checksum verification; still serving version 0/,
    'and reports the rejected version',
  );
  store.rewrite(adapter.params, 1); // the coordinator's republish
  const ok = await askRole(system, 'rollout-0', RolloutProtocol.sync, { minVersion: 1 });
  t.same({ version: ok.version, verified: ok.verified }, { version: 1, verified: true }, 'republished version applied');
  await local.setAdapter({ version: 1, settings: lora, layout: adapter.layout, params: adapter.params });
  want = await expected();
  t.ok(want.every((c) => c.policyVersion === 1));
  await good('at version 1 after the republish');

  // Exact versions (async GRPO: the coordinator names the version, which the learner may have moved
  // past): the actor applies exactly that one while it is resident in the store, even an older one.
  const exact = async (policyVersion: number) => ask({ prompts, policyVersion });
  const v2 = Float32Array.from(adapter.params, (x) => x * 0.5);
  store.publish(v2, 2);
  t.same(store.residentVersions, [2, 1], 'the store keeps versions 2 and 1 (the corrupted copy of 1 was reused first)');
  const at2 = await exact(2);
  t.ok(
    at2.completions.every((c) => c.policyVersion === 2),
    'version 2 when asked for 2',
  );
  const back = await exact(1);
  t.same(
    back.completions.map(({ promptIndex, sampleIndex, tokenIds, logprobs, policyVersion }) => ({
      promptIndex,
      sampleIndex,
      tokenIds: Array.from(int32View(tokenIds)),
      logprobs: Array.from(float32View(logprobs)),
      policyVersion,
    })),
    want,
    'version 1 asked after version 2 was applied and published: exactly version 1 again',
  );
  await t.rejects(
    exact(0),
    /adapter version 0 is no longer resident in the WeightStore \(it keeps 2: 2, 1\)/,
    'an evicted version is an error, not another version',
  );
  store.publish(
    Float32Array.from(adapter.params, (x) => x * 0.25),
    3,
  );
  store.corruptActiveForDrill();
  const refused = await exact(3);
  t.equal(refused.completions.length, 0, 'an exact version failing verification: no completions from another version');
  t.ok((refused as unknown as { retry: boolean }).retry, 'the reply asks for a republish and a new request');
  t.match(refused.syncError, /adapter version 3 failed checksum verification/);

  t.equal(events.filter((e) => e.type === 'crash').length, 0, 'no worker crashed');
  t.equal(events.filter((e) => e.type === 'worker-created').length, 0, 'the original worker served throughout');
});

t.test('rollout actor (webllm): missing or mismatched MLC artifacts fail the spawn, naming the file', async (t) => {
  const model = loadModel(dir);
  const lora: LoraSettings = { r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj'] };
  const store = WeightStore.create(createLoraLayout(model.config, lora).size);
  const cfg = (webllm?: object) => ({
    model: describeModel(model),
    tokenizerDir: dir,
    store: store.describe(),
    lora,
    readerName: 'rollout-0',
    engine: 'webllm',
    ...(webllm ? { webllm } : {}),
  });
  const tmp = mkdtempSync(join(tmpdir(), 'loractor-rollout-mlc-'));
  const spawn = async (config: object) => {
    const s = new ActorSystem();
    try {
      await s.spawn('rollout-0', { module: 'actors/rollout.ts', retries: 0, config });
    } finally {
      await s.shutdown({ drain: false });
    }
  };
  await t.rejects(spawn(cfg()), /rollout: engine 'webllm' needs webllm: \{ mlcDir, libFile \}/);
  await t.rejects(
    spawn(cfg({ mlcDir: join(tmp, 'none'), libFile: join(tmp, 'x.wasm') })),
    new RegExp(`missing MLC artifact: ${join(tmp, 'none', 'mlc-chat-config.json')}`),
  );
  const mlc = join(tmp, 'mlc');
  mkdirSync(mlc);
  const mc = {
    hidden_size: 896,
    intermediate_size: 352,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    vocab_size: 20,
  };
  writeFileSync(join(mlc, 'mlc-chat-config.json'), JSON.stringify({ model_type: 'qwen2', model_config: mc }));
  await t.rejects(
    spawn(cfg({ mlcDir: mlc, libFile: join(tmp, 'x.wasm') })),
    new RegExp(
      `mismatched MLC artifact: ${join(mlc, 'mlc-chat-config.json')} says hidden_size 896, ${join(dir, 'config.json')} says hidden_size 128`,
    ),
  );
  writeFileSync(
    join(mlc, 'mlc-chat-config.json'),
    JSON.stringify({ model_type: 'qwen2', model_config: { ...mc, hidden_size: 128 } }),
  );
  await t.rejects(
    spawn(cfg({ mlcDir: mlc, libFile: join(tmp, 'x.wasm') })),
    new RegExp(`missing ${join(mlc, 'ndarray-cache.json')}`),
    'a shape-matching config without weights: the missing file is named',
  );
});

t.test('generate --in: non-UTF-8 bytes and lone surrogates are errors naming the file and line', async (t) => {
  const { readPromptFile, firstInvalidUtf8 } = await import('../../src/cli/generate.js');
  const tmp = mkdtempSync(join(tmpdir(), 'loractor-gen-utf8-'));
  const file = join(tmp, 'in.jsonl');
  const good = Buffer.from('{"prompt": "12+34="}\n{"prompt": "héllo 😀"}\n', 'utf8');
  writeFileSync(file, good);
  t.same(
    readPromptFile(file).map((p) => p.text),
    ['12+34=', 'héllo 😀'],
    'valid UTF-8 (2- and 4-byte sequences) reads',
  );
  writeFileSync(
    file,
    Buffer.concat([good, Buffer.from('{"prompt": "ab'), Buffer.from([0xe4, 0x41]), Buffer.from('"}\n')]),
  );
  t.throws(
    () => readPromptFile(file),
    new RegExp(`${file}:3: not valid UTF-8 \\(byte 0xe4 at byte 15 of the line\\)`),
    'truncated multi-byte sequence',
  );
  writeFileSync(file, '{"prompt": "x\\ud800y"}\n');
  t.throws(
    () => readPromptFile(file),
    new RegExp(`${file}:1: the prompt contains a lone UTF-16 surrogate`),
    'escaped lone surrogate',
  );
  for (const [bytes, at] of [
    [[0xc0, 0x80], 0],
    [[0x61, 0xed, 0xa0, 0x80], 1],
    [[0xf4, 0x90, 0x80, 0x80], 0],
    [[0x61, 0xff], 1],
    [[0xe2, 0x82, 0xac], -1],
  ] as const) {
    t.equal(
      firstInvalidUtf8(Uint8Array.from(bytes)),
      at,
      `firstInvalidUtf8([${bytes.map((b) => b.toString(16))}]) = ${at}`,
    );
  }
});

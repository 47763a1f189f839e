// The rollout actor: owns one generation engine (builtin CPU engine here; WebLLM through the same
// interface) and keeps it on the newest adapter version. Before generating it applies at least the
// requested version from the WeightStore — a seqlock snapshot, checksum-verified, then acknowledged
// in the store — so every completion carries the exact policy version that produced it, and an
// adapter that never reaches the engine is an error, not a silent run on the initial policy.
import { TrainingProtocols, type GenerateRequest, type SyncRequest, type SyncReply } from '../protocols/training.js';
import { tensorView, isSharedTensor, type SharedTensor } from '../protocols/shared-tensor.js';
import { attachModel, type ModelDescriptor } from '../src/model/weights.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { createLoraLayout } from '../src/model/lora.js';
import type { AdapterLayout, LoraSettings } from '../src/model/adapter-layout.js';
import { createBuiltinEngine } from '../src/engines/builtin/index.js';
import type { GenerationEngine } from '../src/engines/types.js';
import { WeightStore, type WeightStoreDescription } from '../src/runtime/weight-store.js';

export interface RolloutInit {
  model: ModelDescriptor;
  /** Folder with tokenizer.json (+ tokenizer_config.json). */
  tokenizerDir: string;
  store: WeightStoreDescription;
  lora: LoraSettings;
  /** Name under which this actor acknowledges versions in the store. */
  readerName: string;
  engine: 'builtin';
  maxBatch?: number;
}

interface RolloutState {
  engine: GenerationEngine;
  store: WeightStore;
  slot: number;
  layout: AdapterLayout;
  lora: LoraSettings;
  buffer: Float32Array;
}

let S: RolloutState | null = null;

export const accepts = {
  generate: TrainingProtocols.GenerateRequest,
  sync: TrainingProtocols.SyncRequest,
};

export async function init(cfg: RolloutInit): Promise<void> {
  const model = attachModel(cfg.model);
  const tok = loadTokenizer(cfg.tokenizerDir, model.config);
  const eos = model.config.eosTokenIds.length ? model.config.eosTokenIds : tok.eosTokenId !== null ? [tok.eosTokenId] : [];
  if (eos.length === 0) throw new Error('rollout: the model has no EOS token id (config.json eos_token_id or tokenizer_config.json eos_token)');
  const engine = createBuiltinEngine({ model, tokenizer: { decode: (ids) => tok.decode(ids, true), eosTokenIds: eos }, maxBatch: cfg.maxBatch });
  const store = WeightStore.attach(cfg.store);
  const layout = createLoraLayout(model.config, cfg.lora);
  if (layout.size !== store.size) throw new Error(`rollout: WeightStore holds ${store.size} values, the adapter layout needs ${layout.size}`);
  S = { engine, store, slot: store.registerReader(cfg.readerName), layout, lora: cfg.lora, buffer: new Float32Array(layout.size) };
}

function state(): RolloutState {
  if (!S) throw new Error('rollout: not initialised');
  return S;
}

/** Bring the engine to the newest version ≥ minVersion; verified by checksum before it is applied. */
async function applyLatest(minVersion: number, timeoutMs: number): Promise<SyncReply> {
  const s = state();
  const t0 = performance.now();
  if (s.store.version < minVersion) await s.store.waitForVersion(minVersion, timeoutMs);
  if (s.store.version === s.engine.policyVersion) return { version: s.engine.policyVersion, latencyMs: 0, verified: true };
  const snap = s.store.snapshot(s.buffer);
  if (!WeightStore.verify(snap)) {
    throw new Error(`rollout: adapter version ${snap.version} failed checksum verification; still serving version ${s.engine.policyVersion}`);
  }
  await s.engine.setAdapter(snap.version === 0 ? null : { version: snap.version, settings: s.lora, layout: s.layout, params: snap.params });
  s.store.ack(s.slot, snap.version);
  return { version: snap.version, latencyMs: performance.now() - t0, verified: true };
}

export async function sync(msg: SyncRequest): Promise<SyncReply> {
  return applyLatest(msg.minVersion, msg.timeoutMs ?? 30000);
}

const ints = (x: GenerateRequest['prompts'][number]['ids']): Int32Array =>
  isSharedTensor(x) ? Int32Array.from(tensorView(x as SharedTensor & { dtype: 'i32' })) : Int32Array.from(x as ArrayLike<number>);

export async function generate(msg: GenerateRequest): Promise<Record<string, unknown>> {
  const s = state();
  const synced = await applyLatest(msg.minPolicyVersion, 30000);
  const t0 = performance.now();
  const out = await s.engine.generate(msg.prompts.map((p) => ({ ids: ints(p.ids), seedKey: p.promptIndex })), msg.n, msg.sampling);
  const seconds = (performance.now() - t0) / 1000;
  const tokens = out.reduce((a, c) => a + c.tokenIds.length, 0);
  return {
    step: msg.step,
    engine: s.engine.name,
    policyVersion: s.engine.policyVersion,
    syncLatencyMs: synced.latencyMs,
    tokensPerSecond: tokens / seconds,
    seconds,
    completions: out.map((c) => ({
      promptIndex: msg.prompts[c.promptIndex]!.promptIndex,
      sampleIndex: c.sampleIndex,
      tokenIds: Array.from(c.tokenIds),
      logprobs: Array.from(c.logprobs),
      text: c.text,
      finishReason: c.finishReason,
      policyVersion: c.policyVersion,
    })),
  };
}

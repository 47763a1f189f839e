// The rollout actor: owns one generation engine — the builtin CPU engine, the batched webgpu engine
// or WebLLM on WebGPU, created inside this worker thread — and keeps it on the adapter version asked
// for. Before generating it applies the requested version from the WeightStore — exactly the version
// the coordinator chose (async GRPO: it may be one the learner has moved past, still resident in the
// store), or at least a minimum — a seqlock snapshot, checksum-verified, then acknowledged in the
// store — so every completion carries the exact policy version that produced it, a run generates
// from the same versions however its actors are timed, and an adapter that never reaches the engine is an error, not a silent
// run on the initial policy. A bad request (empty or over-long prompt, text that is not the ids'
// text, ids that are not valid UTF-8 for a text engine) fails alone: the checks run before any
// engine work, and the actor keeps serving. A version that fails verification is not applied: sync
// replies `verified: false` (the coordinator republishes) and generate refuses to run stale.
import type { GenerateReply, GenerateRequest, SyncRequestFull, SyncReply } from '../protocols/training.js';
import { tensorView, isSharedTensor, packSharedRows } from '../protocols/shared-tensor.js';
import { acceptsOf, RolloutProtocol } from '../protocols/handlers.js';
import type { RolloutInit } from '../protocols/role-config.js';
import { attachModel } from '../src/model/weights.js';
import { loadTokenizer, type ModelTokenizer } from '../src/model/tokenizer.js';
import { createLoraLayout } from '../src/model/lora.js';
import type { AdapterLayout, LoraSettings } from '../src/model/adapter-layout.js';
import { createRolloutEngine, type GenerationTimings } from '../src/engines/rollout-engine.js';
import type { Completion, GenerationEngine, PromptInput } from '../src/engines/types.js';
import { WeightStore, type WeightSnapshot } from '../src/runtime/weight-store.js';
import { WeightChecksumError } from '../src/runtime/errors.js';

export type { RolloutInit, WebGpuRolloutSettings, WebLlmRolloutSettings } from '../protocols/role-config.js';

interface RolloutState {
  name: string;
  engine: GenerationEngine;
  timings: () => GenerationTimings;
  /** WebLLM: set when a failed sync could not be rolled back (the engine must not serve). */
  unusable: () => string | null;
  tok: ModelTokenizer;
  store: WeightStore;
  slot: number;
  layout: AdapterLayout;
  lora: LoraSettings;
  buffer: Float32Array;
  /** How long the sync that applied the serving version took (provenance of every completion it makes). */
  appliedSyncMs: number;
}

let S: RolloutState | null = null;

// Requests are validated against protocols/handlers.ts RolloutProtocol; the compiler checks each handler against it.
export const accepts = acceptsOf(RolloutProtocol, { generate, sync });

export async function init(cfg: RolloutInit): Promise<void> {
  const model = attachModel(cfg.model);
  const tok = loadTokenizer(cfg.tokenizerDir, model.config);
  const store = WeightStore.attach(cfg.store);
  const layout = createLoraLayout(model.config, cfg.lora);
  if (layout.size !== store.size)
    throw new Error(`rollout: WeightStore holds ${store.size} values, the adapter layout needs ${layout.size}`);
  const { engine, timings, unusable } = await createRolloutEngine(cfg, model, tok);
  S = {
    name: cfg.readerName,
    engine,
    timings,
    unusable,
    tok,
    store,
    slot: store.registerReader(cfg.readerName),
    layout,
    lora: cfg.lora,
    buffer: new Float32Array(layout.size),
    appliedSyncMs: 0,
  };
}

function state(): RolloutState {
  if (!S) throw new Error('rollout: not initialised');
  return S;
}

/**
 * Bring the engine to the newest version ≥ minVersion. The snapshot is checksum-verified before it
 * is applied and the engine verifies its own write (WebLLM read-back); a version failing either, or
 * one the engine cannot take (an adapter that does not fit the MLC artifacts, non-finite values), is
 * NOT applied: the reply says `verified: false`, names the reason, and the previous version keeps
 * serving. Waiting past timeoutMs for the version is an error (thrown).
 */
async function applyLatest(minVersion: number, timeoutMs: number): Promise<SyncReply> {
  const s = state();
  const t0 = performance.now();
  const broken = s.unusable();
  if (broken) throw new Error(`rollout ${s.name}: engine unusable: ${broken}`);
  if (s.store.version < minVersion) await s.store.waitForVersion(minVersion, timeoutMs);
  if (s.store.version < minVersion)
    throw new Error(
      `rollout ${s.name}: adapter version ${minVersion} was not published within ${timeoutMs} ms (latest ${s.store.version})`,
    );
  if (s.store.version === s.engine.policyVersion)
    return { version: s.engine.policyVersion, latencyMs: 0, verified: true };
  return applySnapshot(s.store.snapshot(s.buffer), t0);
}

/** Verify a snapshot, apply it to the engine and acknowledge it; a failure leaves the serving version (`verified: false`). */
async function applySnapshot(snap: WeightSnapshot, t0: number): Promise<SyncReply> {
  const s = state();
  const refuse = (why: string): SyncReply => ({
    version: s.engine.policyVersion,
    latencyMs: performance.now() - t0,
    verified: false,
    error: `rollout ${s.name}: adapter version ${snap.version} ${why}; still serving version ${s.engine.policyVersion}`,
  });
  if (!WeightStore.verify(snap)) return refuse('failed checksum verification');
  try {
    await s.engine.setAdapter(
      snap.version === 0 ? null : { version: snap.version, settings: s.lora, layout: s.layout, params: snap.params },
    );
  } catch (e) {
    const broken = s.unusable();
    if (broken)
      throw new Error(
        `rollout ${s.name}: sync of version ${snap.version} failed and the engine is unusable: ${broken}`,
      );
    return refuse(`was not applied: ${(e as Error).message}`);
  }
  s.store.ack(s.slot, snap.version);
  s.appliedSyncMs = performance.now() - t0;
  return { version: snap.version, latencyMs: s.appliedSyncMs, verified: true };
}

/**
 * Bring the engine to exactly `version` (waiting up to timeoutMs for it to be published). It must
 * still be resident in the store; a copy that fails verification is not applied (`verified: false`).
 */
async function applyExact(version: number, timeoutMs: number): Promise<SyncReply> {
  const s = state();
  const t0 = performance.now();
  const broken = s.unusable();
  if (broken) throw new Error(`rollout ${s.name}: engine unusable: ${broken}`);
  if (s.engine.policyVersion === version) return { version, latencyMs: 0, verified: true };
  if (s.store.version < version) await s.store.waitForVersion(version, timeoutMs);
  if (s.store.version < version)
    throw new Error(
      `rollout ${s.name}: adapter version ${version} was not published within ${timeoutMs} ms (latest ${s.store.version})`,
    );
  const snap = s.store.snapshotVersion(version, s.buffer);
  if (!snap)
    throw new Error(
      `rollout ${s.name}: adapter version ${version} is no longer resident in the WeightStore (it keeps ${s.store.slots}: ${s.store.residentVersions.join(', ')})`,
    );
  return applySnapshot(snap, t0);
}

export async function sync(msg: SyncRequestFull): Promise<SyncReply> {
  return applyLatest(msg.minVersion, msg.timeoutMs);
}

const ints = (x: GenerateRequest['prompts'][number]['ids']): Int32Array =>
  Int32Array.from(isSharedTensor(x) ? tensorView(x) : x);

/** A prompt's text, when given, must be the text whose tokenization is its ids (both engines check). */
function checkPromptText(tok: ModelTokenizer, p: PromptInput, i: number, promptIndex: number): void {
  if (p.text === undefined) return;
  // U+FFFD is what a decoder or msgpack leaves of invalid UTF-8 or a lone surrogate; tokenizers may
  // drop it silently, so it is checked against the ids' own text rather than through tokenization.
  const bad = p.text.indexOf('\uFFFD');
  if (bad >= 0 && !tok.decode(Array.from(p.ids), false).includes('\uFFFD')) {
    throw new Error(
      `prompt ${i} (promptIndex ${promptIndex}): text contains U+FFFD at character ${bad} (invalid UTF-8, or a lone surrogate replaced in transit) that its ids do not`,
    );
  }
  const ids = tok.encode(p.text, false);
  if (ids.length === p.ids.length && ids.every((v, k) => v === p.ids[k])) return;
  throw new Error(
    `prompt ${i} (promptIndex ${promptIndex}): text does not tokenize to its ids: ${ids.length} ids [${ids.slice(0, 8)}...] vs ${p.ids.length} [${Array.from(p.ids.slice(0, 8))}...]`,
  );
}

export async function generate(msg: GenerateRequest): Promise<GenerateReply> {
  const s = state();
  const exact = msg.policyVersion;
  const synced = exact !== undefined ? await applyExact(exact, 30000) : await applyLatest(msg.minPolicyVersion, 30000);
  // The exact version failed verification: no completions (another version would change the run);
  // the reply asks the coordinator to have it republished and to ask again.
  if (exact !== undefined && !synced.verified) return retryReply(s, msg, synced, exact);
  // The newest version failed verification: generating from the one still serving is allowed only
  // when the request accepts it (async GRPO's staleness bound), and the reply says so (syncError) so
  // the coordinator has the version republished; otherwise the request fails rather than run stale.
  if (!synced.verified && s.engine.policyVersion < msg.minPolicyVersion)
    throw new WeightChecksumError(`${synced.error ?? 'sync not verified'}; refusing to generate for step ${msg.step}`);
  let prompts: PromptInput[];
  try {
    prompts = promptInputs(s, msg);
  } catch (e) {
    return failGenerate(s, msg, e);
  }
  const t0 = performance.now();
  const out = await s.engine.generate(prompts, msg.n, msg.sampling).catch((e: unknown) => failGenerate(s, msg, e));
  const seconds = (performance.now() - t0) / 1000;
  return completionsReply(s, msg, synced, out, seconds);
}

/** The reply to a request whose exact version failed verification: no completions, ask again. */
function retryReply(s: RolloutState, msg: GenerateRequest, synced: SyncReply, exact: number): GenerateReply {
  return {
    step: msg.step,
    engine: s.engine.name,
    policyVersion: s.engine.policyVersion,
    syncLatencyMs: s.appliedSyncMs,
    syncError: synced.error ?? 'sync not verified',
    rejectedVersion: exact,
    retry: true,
    tokensPerSecond: 0,
    timeToFirstTokenS: 0,
    seconds: 0,
    completions: [],
  };
}

/** Rethrows a failed request's error under this actor and step, naming the promptIndex of a "prompt N" it names. */
function failGenerate(s: RolloutState, msg: GenerateRequest, e: unknown): never {
  const m = (e as Error).message;
  const at = /prompt (\d+)/.exec(m);
  const which =
    at && msg.prompts[Number(at[1])]
      ? ` [prompt ${at[1]} of this request is promptIndex ${msg.prompts[Number(at[1])]!.promptIndex}]`
      : '';
  throw new Error(`rollout ${s.name}: generate step ${msg.step}: ${m}${which}`);
}

/** The request's prompts as the engine takes them, each text checked against its ids. */
function promptInputs(s: RolloutState, msg: GenerateRequest): PromptInput[] {
  return msg.prompts.map((p, i) => {
    const input: PromptInput = {
      ids: ints(p.ids),
      seedKey: p.promptIndex,
      ...(p.text !== undefined ? { text: p.text } : {}),
    };
    checkPromptText(s.tok, input, i, p.promptIndex);
    return input;
  });
}

/** The reply carrying the completions (and the serving version's provenance and timings). */
function completionsReply(
  s: RolloutState,
  msg: GenerateRequest,
  synced: SyncReply,
  out: Completion[],
  seconds: number,
): GenerateReply {
  const tm = s.timings();
  // Bulk data goes back in shared memory: every completion's ids in one i32 buffer, its log-probs in
  // one f32 buffer (the engine's raw model log-probs in another); completions carry descriptors.
  const tokenIds = packSharedRows(
    'i32',
    out.map((c) => c.tokenIds),
  );
  const logprobs = packSharedRows(
    'f32',
    out.map((c) => c.logprobs),
  );
  const withModel = out.filter((c) => c.modelLogprobs);
  const modelLogprobs = packSharedRows(
    'f32',
    withModel.map((c) => c.modelLogprobs!),
  );
  let withModelAt = 0;
  return {
    step: msg.step,
    engine: s.engine.name,
    policyVersion: s.engine.policyVersion,
    // The sync that applied the serving version (made by this request, or by an earlier sync call).
    syncLatencyMs: s.appliedSyncMs,
    ...(synced.verified ? {} : { syncError: synced.error ?? 'sync not verified', rejectedVersion: s.store.version }),
    tokensPerSecond: tm.tokensPerSecond,
    timeToFirstTokenS: tm.timeToFirstTokenS,
    seconds,
    completions: out.map((c, i) => ({
      promptIndex: msg.prompts[c.promptIndex]!.promptIndex,
      sampleIndex: c.sampleIndex,
      tokenIds: tokenIds[i]!,
      logprobs: logprobs[i]!,
      ...(c.modelLogprobs ? { modelLogprobs: modelLogprobs[withModelAt++]! } : {}),
      text: c.text,
      finishReason: c.finishReason,
      policyVersion: c.policyVersion,
    })),
  };
}

// The generation engine of the rollout actor (actors/rollout.ts): the one its RolloutInit names —
// the builtin CPU engine, the batched webgpu engine or WebLLM on WebGPU — created inside the calling
// worker thread, with how to read the last generate call's timings and whether it may still serve.
import type { RolloutInit } from '../../protocols/role-config.js';
import type { ModelTokenizer } from '../model/tokenizer.js';
import type { Model } from '../model/weights.js';
import { createBuiltinEngine } from './builtin/index.js';
import type { GenerationEngine } from './types.js';

/** Engine-specific timings of the last generate call. */
export interface GenerationTimings {
  /** Time to first token, seconds (builtin: the batched prefill; WebLLM: mean per completion). */
  timeToFirstTokenS: number;
  tokensPerSecond: number;
}

export interface RolloutEngine {
  engine: GenerationEngine;
  timings: () => GenerationTimings;
  /** WebLLM: set when a failed sync could not be rolled back (the engine must not serve). */
  unusable: () => string | null;
}

/** Creates the engine cfg.engine names, on this thread. */
export async function createRolloutEngine(
  cfg: RolloutInit,
  model: Model<Float32Array>,
  tok: ModelTokenizer,
): Promise<RolloutEngine> {
  if (cfg.engine === 'webllm') return webLlmRolloutEngine(cfg, model);
  if (cfg.engine === 'webgpu') return webGpuRolloutEngine(cfg, model, tok);
  if (cfg.engine === 'builtin') return builtinRolloutEngine(cfg, model, tok);
  throw new Error(
    `rollout: engine must be 'builtin', 'webgpu' or 'webllm' (got ${JSON.stringify((cfg as { engine: unknown }).engine)})`,
  );
}

const servesAlways = (): string | null => null;

async function webLlmRolloutEngine(cfg: RolloutInit, model: Model<Float32Array>): Promise<RolloutEngine> {
  const w = cfg.webllm;
  if (!w) throw new Error("rollout: engine 'webllm' needs webllm: { mlcDir, libFile }");
  // Loaded lazily: a builtin rollout worker never pulls in WebGPU. Everything below runs on this
  // worker thread: Dawn (the `webgpu` package), the web-llm bundle and its loader hook.
  const { checkMlcMatchesModel } = await import('./webllm/model-match.js');
  checkMlcMatchesModel(w.mlcDir, model.config, `${cfg.tokenizerDir}/config.json`); // before any GPU work
  const { createWebLlmEngine } = await import('./webllm/engine.js');
  const e = await createWebLlmEngine({
    mlcDir: w.mlcDir,
    libFile: w.libFile,
    contextWindow: w.contextWindow,
    warn: (m) => console.warn(`${cfg.readerName}: ${m}`),
  });
  if (w.injectWriteFault) e.injectWriteFault(w.injectWriteFault);
  return {
    engine: e,
    unusable: () => e.unusable,
    timings: () => ({
      timeToFirstTokenS: e.lastGenerationStats?.meanTimeToFirstTokenS ?? 0,
      tokensPerSecond: e.lastGenerationStats?.tokensPerS ?? 0,
    }),
  };
}

async function webGpuRolloutEngine(
  cfg: RolloutInit,
  model: Model<Float32Array>,
  tok: ModelTokenizer,
): Promise<RolloutEngine> {
  const eos = eosTokenIds(model, tok);
  // Loaded lazily (Dawn only in webgpu workers); the device and the uploaded weights belong to this thread.
  const { createWebGpuEngine } = await import('./webgpu/engine.js');
  const w = cfg.webgpu ?? {};
  const e = await createWebGpuEngine({
    model,
    tokenizer: { decode: (ids) => tok.decode(ids, true), eosTokenIds: eos },
    weightDtype: w.weightDtype ?? 'f16',
    ...(cfg.maxBatch ? { maxBatch: cfg.maxBatch } : {}),
    residentVersions: w.residentVersions ?? 2,
  });
  if (w.injectWriteFault) e.injectWriteFault();
  console.warn(`${cfg.readerName}: engine ${e.description}`);
  return {
    engine: e,
    unusable: servesAlways,
    timings: () => statsTimings(e.lastStats),
  };
}

function builtinRolloutEngine(cfg: RolloutInit, model: Model<Float32Array>, tok: ModelTokenizer): RolloutEngine {
  const eos = eosTokenIds(model, tok);
  const e = createBuiltinEngine({
    model,
    tokenizer: { decode: (ids) => tok.decode(ids, true), eosTokenIds: eos },
    maxBatch: cfg.maxBatch,
  });
  return {
    engine: e,
    unusable: servesAlways,
    timings: () => statsTimings(e.lastStats),
  };
}

/** The model's EOS ids (config.json, else tokenizer_config.json's eos_token); none is an error. */
function eosTokenIds(model: Model<Float32Array>, tok: ModelTokenizer): number[] {
  const eos = model.config.eosTokenIds.length
    ? model.config.eosTokenIds
    : tok.eosTokenId !== null
      ? [tok.eosTokenId]
      : [];
  if (eos.length === 0)
    throw new Error(
      'rollout: the model has no EOS token id (config.json eos_token_id or tokenizer_config.json eos_token)',
    );
  return eos;
}

/** The builtin and webgpu engines' last-call stats as the actor reports them. */
function statsTimings(last: { tokens: number; seconds: number; prefillSeconds: number }): GenerationTimings {
  return { timeToFirstTokenS: last.prefillSeconds, tokensPerSecond: last.tokens / Math.max(1e-9, last.seconds) };
}

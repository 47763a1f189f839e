// Qwen2 + LoRA model API (training forward/backward, KV-cache decoding, formats).
//
// ── Loading ───────────────────────────────────────────────────────────────────────────────────
//   loadModel(dir) → Model<Float32Array>         config.json + model.safetensors (f32/f16/bf16, or
//                                                sharded index), all weights in ONE SharedArrayBuffer
//   describeModel(model) → ModelDescriptor        plain {config, buffer: SAB}; postMessage it
//   attachModel(desc) → Model                     zero-copy views in another worker
//   createRandomModel(config, seed, {std?, perturbNorms?})   tiny models for tests / from-scratch training
//   saveModel(dir, model, dtype?)                 HF layout (config.json + model.safetensors)
//   parseQwen2Config(obj, where) / readQwen2Config(path) → Qwen2Config
//   loadTokenizer(dir, config?) → ModelTokenizer  encode/decode/applyChatTemplate; refuses a tokenizer
//                                                whose ids do not fit config.vocab_size
//   toFloat64(model)                              float64 copy, for gradient checks
//
// ── LoRA (flat block + layout, PEFT naming) ──────────────────────────────────────────────────
//   defaultLoraSettings({r, alpha, dropout, targetModules}) ; loraScale(settings) = alpha / r
//   initLoraAdapter(config, settings, rng) → LoraAdapter {settings, layout, params: Float32Array(SAB)}
//       PEFT init: A ~ U(±1/√in), B = 0.  createLoraLayout(config, settings) → AdapterLayout
//   saveAdapterPeft(dir, adapter, {baseModel?, dtype?}) / loadAdapterPeft(dir, config)
//       adapter_config.json + adapter_model.safetensors, keys base_model.model.<module>.lora_A.weight
//
// ── Training ─────────────────────────────────────────────────────────────────────────────────
//   batch: TrainBatch = { ids: Int32Array[B·T] right-padded, lengths: Int32Array[B], seqLen: T,
//                         scoreFrom: Int32Array[B] (first scored position, ≥1; = prompt length) }
//   forwardTrain(model, adapter|null, loraScale, batch, {temperature?, saveForBackward?, dropoutRng?})
//       → { logp: F[B·T], saved, logits }
//       logp[b·T+t] = log softmax(logits_{t−1}/temperature)[ids[b,t]] for t ∈ [scoreFrom[b], lengths[b]),
//       0 elsewhere. Only scored rows reach the LM head (prompt positions cost no vocab work).
//       loraScale: loraScale(adapter.settings) for the policy, 0 for the reference policy.
//       dropoutRng: applies LoRA dropout (training only); pass a seeded Rng for reproducibility.
//   backwardTrain(saved, dLogp: [B·T], { lora?: F (flat, same layout), base?: ModelWeights<F> })
//       accumulates ∂L/∂(LoRA flat block) and, optionally, ∂L/∂(every base weight)
//       (zerosLike(config, n => new Float32Array(n)) makes the base gradient structure).
//   completionLogprobs(model, adapter|null, scale, [{prompt, completion}], {temperature?, batchSize?})
//       → Float64Array per item (log-probs of completion tokens).
//
// ── Generation (KV cache for many sequences) ─────────────────────────────────────────────────
//   createKvCache(model, maxSeqs, maxLen) → KvCache      slots 0..maxSeqs−1, cache.lengths[slot]
//   prefill(model, adapter|null, scale, cache, slots, prompts[]) → logits [n, V] of each last token
//   decodeStep(model, adapter|null, scale, cache, slots, tokens) → logits [n, V] (view, valid until
//       the next call on this cache); only the listed slots advance, so sequences finish
//       independently. resetSlot(cache, slot) frees a slot for a new sequence.
//   appendTokens(..., {allLogits}) generalises both. Decode logits equal forwardTrain's to float32
//   rounding (bit-identical below 24 tokens; max |Δlogit| 2.3e-6 measured on 40-token sequences,
//   where the training attention takes the matmul path).
//
// Generic over F = Float32Array | Float64Array (float64 for gradient checks). Ops: src/ops/types.ts,
// the cpu implementation (cpuOps) is the default; pass {ops} to swap it.
export * from './config.js';
export * from './weights.js';
export * from './lora.js';
export * from './safetensors.js';
export * from './load.js';
export * from './peft.js';
export * from './tokenizer.js';
export * from './logprobs.js';
export { forwardTrain, backwardTrain, validateBatch } from './train.js';
export type { TrainBatch, ForwardOptions, ForwardResult, SavedForward, TrainGrads } from './train.js';
export { createKvCache, prefill, decodeStep, appendTokens, resetSlot } from './kv-cache.js';
export type { KvCache, AppendOptions } from './kv-cache.js';
export type { AdapterLayout, AdapterTensorSpec, LoraSettings, AdapterSnapshot } from './adapter-layout.js';

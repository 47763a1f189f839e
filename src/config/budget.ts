// What a training run will cost, from its knobs alone, before any work: host memory (every large
// buffer the run allocates, each tied to the knobs that size it) and time (FLOPs per step against a
// measured throughput). `check` prints both and refuses a run whose memory cannot fit, naming the
// knobs to change; runTraining applies the same memory check before it creates the run folder.
//
// The estimates are upper bounds: every completion at max_completion_length, every prompt at the
// prompt limit, nothing recomputed. Buffers follow the implementation: base weights once in shared
// memory (f32); the learner's adapter, gradient and AdamW moments; adapter copies (the double-buffered
// WeightStore, one per rollout engine and the evaluator, the learner's recovery store); one KV cache
// per rollout actor and one for the evaluator; one micro-batch of saved activations in the learner.
// The device dimension is explicit: with `model.engine: "webgpu"` each rollout actor holds, on the
// GPU, its base matrices (model.rollout_weight_dtype), a paged KV cache of that dtype sized as the
// engine sizes it, its resident adapter versions and the decode logits; with `learner.device:
// "webgpu"` the learner's weights, LoRA state and activations live on the GPU (src/model/cost.ts)
// instead of the host. judgeMemory(items, bytes, 'gpu') checks those lines against the GPU.
import type { Qwen2Config } from '../model/config.js';
import { learnerMemory } from '../model/cost.js';
import { moduleDims, type LoraModule } from '../model/lora.js';
import { numel, weightSpecs } from '../model/weights.js';

export type ModelDims = Pick<
  Qwen2Config,
  | 'numLayers'
  | 'hiddenSize'
  | 'intermediateSize'
  | 'numHeads'
  | 'numKvHeads'
  | 'headDim'
  | 'vocabSize'
  | 'maxPositionEmbeddings'
  | 'tieWordEmbeddings'
>;

export interface BudgetKnobs {
  model: ModelDims;
  lora: { r: number; targetModules: readonly LoraModule[] };
  promptsPerStep: number;
  numGenerations: number;
  perDeviceTrainBatchSize: number;
  gradientAccumulationSteps: number;
  /** Tokens a prompt may have (the prompt limit: max_prompt_length within the context). */
  promptTokens: number;
  maxCompletionLength: number;
  /** KL term on: the learner runs a reference pass too. */
  referencePass: boolean;
  /** Async rollouts keep the next step's rollout in memory beside the current one. */
  maxStaleness: number;
  rolloutActors: number;
  rolloutMaxBatch: number;
  learnerRecovery: boolean;
  eval?: { batchSize: number; numSamples: number; maxNewTokens: number; problems: number; everySteps: number };
  /** model.engine (default 'builtin'); 'webgpu' puts the rollout's weights and KV cache on the GPU. */
  engine?: 'builtin' | 'webgpu' | 'webllm';
  /** model.rollout_weight_dtype: the webgpu engine's base matrices and KV cache (default f16). */
  rolloutWeightDtype?: 'f16' | 'f32';
  /** learner.device webgpu: the GPU learner's storage and recomputation (absent: the cpu learner). */
  gpuLearner?: { weightDtype: 'f16' | 'f32'; recompute: boolean; dropout: boolean };
}

export interface BudgetItem {
  item: string;
  bytes: number;
  /** The knobs that size it, as a user would change them. */
  fields: string[];
  device: 'cpu' | 'gpu';
}

const F32 = 4;
// Per generated token the rollout keeps its id, log-prob, text (JS strings, ~4 characters per token
// at 2 bytes) and the copies made on the way to the learner and into rollouts.jsonl.
const BYTES_PER_ROLLOUT_TOKEN = 48;
// The evaluator's builtin engine decodes at most this many sequences together (its default maxBatch).
const EVAL_ENGINE_BATCH = 64;
// The webgpu engine's KV cache is paged in pages of this many tokens (src/engines/webgpu/engine.ts).
const KV_PAGE = 16;
// The GPU learner's LM head works on logits in chunks of this many bytes (its default budget).
const LM_HEAD_CHUNK = 256 * 2 ** 20;

export function baseParams(m: ModelDims): number {
  return weightSpecs({ ...m, eosTokenIds: [], ropeTheta: 1e4, rmsNormEps: 1e-6 } as unknown as Qwen2Config).reduce(
    (s, w) => s + numel(w.shape),
    0,
  );
}

export function loraParams(m: ModelDims, lora: BudgetKnobs['lora']): number {
  let perLayer = 0;
  for (const mod of lora.targetModules) {
    const [out, inF] = moduleDims(m as Qwen2Config, mod);
    perLayer += lora.r * (out + inF);
  }
  return perLayer * m.numLayers;
}

export function completionsPerStep(k: BudgetKnobs): number {
  return k.promptsPerStep * k.numGenerations;
}

/** Every large buffer of a run (host, and the GPU's where a role runs there), with the knobs that size it. */
export function estimateRunMemory(k: BudgetKnobs): BudgetItem[] {
  const P = loraParams(k.model, k.lora);
  const T = k.promptTokens + k.maxCompletionLength;
  const rolloutSeqs = Math.min(k.rolloutMaxBatch, Math.ceil(completionsPerStep(k) / k.rolloutActors));
  return [
    ...adapterStateItems(k, P),
    ...rolloutItems(k, rolloutSeqs, T),
    ...(k.gpuLearner ? [] : [learnerActivationsItem(k, T)]),
    ...(k.engine === 'webgpu' ? webgpuEngineItems(k, P, rolloutSeqs, T) : []),
    ...(k.gpuLearner ? gpuLearnerItems(k, k.gpuLearner) : []),
    ...(k.eval ? [evaluatorItem(k, k.eval)] : []),
  ];
}

/** KV cache bytes per token (every layer's k and v, f32). */
const kvBytesPerToken = (m: ModelDims): number => m.numLayers * 2 * m.numKvHeads * m.headDim * F32;

/** The base weights, the learner's LoRA state and every copy of the adapter the run holds. */
function adapterStateItems(k: BudgetKnobs, P: number): BudgetItem[] {
  const copies = 2 + k.rolloutActors + (k.eval ? 1 : 0) + (k.learnerRecovery ? 9 : 0) + 3;
  return [
    {
      item: 'base weights (f32, shared by all threads)',
      bytes: baseParams(k.model) * F32,
      fields: ['model.path'],
      device: 'cpu',
    },
    {
      item: `LoRA adapter, gradient, AdamW m and v (${P.toLocaleString('en-US')} parameters)`,
      bytes: 4 * P * F32,
      fields: ['lora.lora_r', 'lora.lora_target_modules'],
      device: 'cpu',
    },
    {
      item: `adapter copies (weight store, ${k.rolloutActors} rollout engine(s)${k.eval ? ', evaluator' : ''}${k.learnerRecovery ? ', learner recovery' : ''}, checkpoint)`,
      bytes: copies * P * F32,
      fields: ['lora.lora_r', ...(k.learnerRecovery ? ['run.learner_recovery'] : [])],
      device: 'cpu',
    },
  ];
}

const LENGTH_FIELDS = ['grpo.max_completion_length', 'grpo.max_prompt_length'];

/** The host KV caches of CPU rollout engines (the webgpu engine's are on the GPU) and a step's rollouts. */
function rolloutItems(k: BudgetKnobs, rolloutSeqs: number, T: number): BudgetItem[] {
  const m = k.model;
  const completions = completionsPerStep(k);
  return [
    ...(k.engine === 'webgpu'
      ? []
      : [
          {
            item: `rollout KV caches (${k.rolloutActors} × ${rolloutSeqs} sequences × ${T} tokens)`,
            bytes: k.rolloutActors * rolloutSeqs * (T * kvBytesPerToken(m) + m.vocabSize * F32 * 2),
            fields: ['model.rollout_max_batch', ...LENGTH_FIELDS],
            device: 'cpu' as const,
          },
        ]),
    {
      item: `rollouts of a step (${completions.toLocaleString('en-US')} completions${k.maxStaleness > 0 ? ', two steps in flight' : ''})`,
      bytes: (k.maxStaleness > 0 ? 2 : 1) * completions * T * BYTES_PER_ROLLOUT_TOKEN,
      fields: [
        'grpo.num_generations',
        'grpo.per_device_train_batch_size',
        'grpo.gradient_accumulation_steps',
        'grpo.max_completion_length',
      ],
      device: 'cpu',
    },
  ];
}

/**
 * The CPU learner's saved activations for one micro-batch. Saved per token and layer for the backward:
 * the residual stream, norms, q/k/v/o, the MLP's three intermediate vectors, attention log-sum-exps and
 * the LoRA inputs/intermediates; plus a [tokens, vocab] logits block for the scored (completion) tokens
 * and the backward's scratch.
 */
function learnerActivationsItem(k: BudgetKnobs, T: number): BudgetItem {
  const m = k.model;
  const microSeqs = k.perDeviceTrainBatchSize;
  const perTokenLayer =
    10 * m.hiddenSize + 3 * m.intermediateSize + m.numHeads + 2 * m.numKvHeads * m.headDim + 7 * k.lora.r;
  return {
    item: `learner activations (${microSeqs} sequences × ${T} tokens per micro-batch)`,
    bytes:
      microSeqs *
      (T * m.numLayers * perTokenLayer +
        k.maxCompletionLength * m.vocabSize * 2 +
        4 * T * Math.max(m.hiddenSize, m.intermediateSize)) *
      F32,
    fields: [
      'grpo.per_device_train_batch_size (raise grpo.gradient_accumulation_steps to keep the batch)',
      ...LENGTH_FIELDS,
      'lora.lora_r',
    ],
    device: 'cpu',
  };
}

/** The evaluator's KV cache: its engine batch at the eval's longest length. */
function evaluatorItem(k: BudgetKnobs, e: NonNullable<BudgetKnobs['eval']>): BudgetItem {
  const seqs = Math.min(EVAL_ENGINE_BATCH, e.batchSize * e.numSamples);
  const len = Math.min(k.model.maxPositionEmbeddings, k.promptTokens + e.maxNewTokens);
  return {
    item: `evaluator KV cache (${seqs} sequences × ${len} tokens)`,
    bytes: seqs * len * kvBytesPerToken(k.model),
    fields: ['eval.max_new_tokens', 'eval.batch_size'],
    device: 'cpu',
  };
}

/** GPU memory of the webgpu engine, per rollout actor (each has its own device and weights copy). */
function webgpuEngineItems(k: BudgetKnobs, loraP: number, seqs: number, T: number): BudgetItem[] {
  const m = k.model;
  const dtype = k.rolloutWeightDtype ?? 'f16';
  const bytes = dtype === 'f16' ? 2 : F32;
  const n = k.rolloutActors;
  const actors = n > 1 ? `${n} engines × ` : '';
  // The engine reserves whole pages for every admitted sequence's prompt + max_tokens.
  const tokens = Math.ceil(T / KV_PAGE) * KV_PAGE;
  const kvPerToken = m.numLayers * 2 * m.numKvHeads * m.headDim * bytes;
  const lengthFields = ['grpo.max_completion_length', 'grpo.max_prompt_length'];
  return [
    {
      item: `GPU: rollout base weights (${actors}${dtype})`,
      bytes: n * baseParams(m) * bytes,
      fields: ['model.rollout_weight_dtype', 'model.rollout_actors'],
      device: 'gpu',
    },
    {
      item: `GPU: rollout paged KV cache (${actors}${seqs} sequences × ${tokens} tokens, ${dtype})`,
      bytes: n * seqs * tokens * kvPerToken,
      fields: ['model.rollout_max_batch', ...lengthFields, 'model.rollout_weight_dtype', 'model.rollout_actors'],
      device: 'gpu',
    },
    {
      item: `GPU: resident adapter versions (${actors}max_staleness + 1 = ${k.maxStaleness + 1})`,
      bytes: n * (k.maxStaleness + 1) * loraP * F32,
      fields: ['grpo.max_staleness', 'lora.lora_r'],
      device: 'gpu',
    },
    {
      item: `GPU: decode logits and sampling (${actors}${seqs} sequences × vocabulary)`,
      bytes: n * seqs * m.vocabSize * F32 * 2,
      fields: ['model.rollout_max_batch'],
      device: 'gpu',
    },
  ];
}

/** GPU memory of the webgpu learner (src/model/cost.ts: what learner-device-webgpu allocates). */
function gpuLearnerItems(k: BudgetKnobs, g: NonNullable<BudgetKnobs['gpuLearner']>): BudgetItem[] {
  const est = learnerMemory(
    {
      config: { ...k.model, eosTokenIds: [], ropeTheta: 1e4, rmsNormEps: 1e-6 } as unknown as Qwen2Config,
      sequences: completionsPerStep(k),
      promptLength: k.promptTokens,
      completionLength: k.maxCompletionLength,
      microBatchSequences: k.perDeviceTrainBatchSize,
      loraR: k.lora.r,
      loraModules: k.lora.targetModules,
      weightBytes: g.weightDtype === 'f16' ? 2 : F32,
      reference: k.referencePass,
      recompute: g.recompute,
    },
    { dropout: g.dropout, chunkLogitsBytes: LM_HEAD_CHUNK },
  );
  const batch = 'grpo.per_device_train_batch_size (raise grpo.gradient_accumulation_steps to keep the batch)';
  return [
    {
      item: `GPU: learner base weights (${g.weightDtype})`,
      bytes: est.weights,
      fields: ['learner.weight_dtype'],
      device: 'gpu',
    },
    {
      item: 'GPU: learner LoRA parameters, gradients, AdamW moments',
      bytes: est.lora,
      fields: ['lora.lora_r', 'lora.lora_target_modules'],
      device: 'gpu',
    },
    {
      item: `GPU: learner activations (${k.perDeviceTrainBatchSize} sequences per micro-batch, recompute ${g.recompute ? 'on' : 'off'})`,
      bytes: est.activations,
      fields: [batch, 'learner.recompute', 'grpo.max_completion_length'],
      device: 'gpu',
    },
    {
      item: 'GPU: learner working set (one layer backward / LM-head chunk)',
      bytes: est.working,
      fields: [batch, 'grpo.max_completion_length'],
      device: 'gpu',
    },
  ];
}

export interface MemoryVerdict {
  total: number;
  available: number;
  /** Set when the run cannot fit: one line naming the knobs to change. */
  problem?: string;
  warning?: string;
}

/** Compare the estimate of one device with what it has. */
export function judgeMemory(items: BudgetItem[], available: number, device: 'cpu' | 'gpu' = 'cpu'): MemoryVerdict {
  const mine = items.filter((i) => i.device === device);
  const total = mine.reduce((s, i) => s + i.bytes, 0);
  const where = device === 'cpu' ? 'this machine has' : 'the GPU has';
  if (device === 'gpu' && mine.length === 0) return { total: 0, available };
  // Name the knobs of every part that alone takes a quarter of the device (at least the largest part).
  const sorted = [...mine].sort((a, b) => b.bytes - a.bytes);
  const big = sorted.filter((i, k) => k === 0 || i.bytes > available / 4).slice(0, 3);
  const advice = big.length
    ? `; ${big.length > 1 ? 'the largest parts are' : 'the largest part is'} ${big.map((i) => `${i.item} at ${formatBytes(i.bytes)}: lower ${i.fields.join(', ')}`).join('; ')}`
    : '';
  if (!(total <= available))
    return {
      total,
      available,
      problem: `memory: the run needs about ${formatBytes(total)} but ${where} ${formatBytes(available)}${advice}`,
    };
  if (total > 0.8 * available)
    return {
      total,
      available,
      warning: `memory: the run needs about ${formatBytes(total)}, over 80% of the ${formatBytes(available)} ${where.replace(' has', '')} holds${advice}`,
    };
  return { total, available };
}

export interface TimeEstimate {
  rolloutS: number;
  learnerS: number;
  /** One evaluation. */
  evalS: number;
  /** A step, evaluations spread over their interval. */
  stepS: number;
}

/** Forward FLOPs of one token at context length `ctx` (weights, the LM head, attention over ctx/2 on average, LoRA). */
function forwardFlopsPerToken(m: ModelDims, lora: number, ctx: number): number {
  const layerWeights = (baseParams(m) - m.vocabSize * m.hiddenSize * (m.tieWordEmbeddings ? 1 : 2)) / m.numLayers;
  return (
    2 * (layerWeights * m.numLayers + m.vocabSize * m.hiddenSize + lora) +
    2 * m.numLayers * m.numHeads * m.headDim * ctx
  );
}

/** Seconds per step from FLOPs (every completion at its maximum length) at `flopsPerSecond`: a rough figure, optimistic where small batches run below peak. */
export function estimateStepTime(k: BudgetKnobs, flopsPerSecond: number): TimeEstimate {
  const m = k.model;
  const P = loraParams(m, k.lora);
  const T = k.promptTokens + k.maxCompletionLength;
  const perToken = forwardFlopsPerToken(m, P, T);
  const completions = completionsPerStep(k);
  const rolloutS = (completions * T * perToken) / flopsPerSecond;
  // Reference pass (when beta ≠ 0), policy pass, and the backward through the frozen weights (≈ one more).
  const learnerS = ((k.referencePass ? 3 : 2) * completions * T * perToken) / flopsPerSecond;
  const e = k.eval;
  const evalS = e
    ? (e.problems *
        e.numSamples *
        (k.promptTokens + e.maxNewTokens) *
        forwardFlopsPerToken(m, P, k.promptTokens + e.maxNewTokens)) /
      flopsPerSecond
    : 0;
  const stepS = rolloutS + learnerS + (e && e.everySteps > 0 ? evalS / e.everySteps : 0);
  return { rolloutS, learnerS, evalS, stepS };
}

const GiB = 1024 ** 3;
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return `${n} bytes`;
  if (n >= 1024 * GiB) {
    const t = n / (1024 * GiB);
    return `${t < 1000 ? t.toPrecision(3) : Math.round(t).toLocaleString('en-US')} TiB`;
  }
  if (n >= GiB) return `${(n / GiB).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024).toFixed(1)} KiB`;
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return String(s);
  if (s < 1) return `${(s * 1000).toFixed(0)} ms`;
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} days`;
}

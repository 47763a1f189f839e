// The shapes the webgpu engine's parts share (engine.ts is the entry; see its header): the options,
// statistics and engine interfaces it exports, one running sequence, and the engine state the parts
// (engine-schedule.ts, engine-iteration.ts, engine-kv-cache.ts) take instead of the closure they
// were once part of.
import type { FusedWeights } from './fused-projections.js';
import type { Qwen2Config } from '../../model/config.js';
import type { Model } from '../../model/weights.js';
import type { LayerLoraSlots } from '../../model/lora.js';
import type { AdapterLayout } from '../../model/adapter-layout.js';
import type { Ops } from '../../ops/types.js';
import type { GpuContext } from '../../ops/webgpu/context.js';
import type { WeightDType } from '../../ops/webgpu/model-upload.js';
import type { KvDType, PagedKvCache } from '../../ops/webgpu/paged-kv.js';
import type { GpuTensor } from '../../ops/webgpu/tensor.js';
import type { Rng } from '../../util/rng.js';
import type { TextDecoder } from '../builtin/engine.js';
import type { FinishReason, GenerationEngine } from '../types.js';
import type { AdapterSlots, SyncReport } from './adapters.js';

export interface WebGpuEngineOptions {
  /** The model on the host (config, and the weights to upload unless gpuModel is given). */
  model: Model<Float32Array>;
  tokenizer: TextDecoder;
  /** An existing context and the base weights already on it (shared with a GPU learner). */
  shared?: { ctx: GpuContext; model: Model<GpuTensor> };
  /** Storage of the uploaded base matrices when not shared (default f16). */
  weightDtype?: WeightDType;
  /** KV cache dtype (default: f16 when the base matrices are f16, else f32). */
  kvDtype?: KvDType;
  /** Most sequences decoded together (default 64). */
  maxBatch?: number;
  /** Context length: prompt + completion must fit (default: the model's max_position_embeddings). */
  maxContext?: number;
  /** Adapter versions kept on the GPU (max_staleness + 1; default 2). One more slot takes syncs. */
  residentVersions?: number;
  /** Tokens per KV page (default 16). */
  pageSize?: number;
  /** Most prompt tokens per prefill pass (default 4096). */
  maxPrefillTokens?: number;
  /** Cap on KV cache bytes (default: what maxBatch sequences of a call's longest length need). */
  maxKvBytes?: number;
  /** Adapter features to leave out (tests of portable paths). */
  disableFeatures?: string[];
  /**
   * Passes of at most this many rows use the few-row product for every linear layer (decode-ops.ts);
   * larger ones take the tiled GEMM for the base products (the GEMM route; 0: every pass), while LoRA
   * A products of up to 64 rows stay on the few-row kernel. A number ≥ 0 (Infinity: never the GEMM
   * route). Default: 8, Infinity on CPU adapters.
   */
  skinnyRows?: number;
  /**
   * Run the LoRA A products of q,k,v, and of gate,up, as one product each over the version's stacked A
   * matrices (stacked-lora.ts; uploaded and verified with each version): 3 dispatches fewer per layer.
   * Default true; false runs one A product per branch.
   */
  stackLoraA?: boolean;
  /**
   * Decode q,k,v as one projection (fused-projections.ts): 2 dispatches fewer per layer on the few-row
   * route, up to 5 on the GEMM route (5 at the 1.5B's widths: three split-K products and their reduces
   * become one product wide enough to need no split). Default true. Adapted versions need stackLoraA
   * (the stacked A product their low-rank term reads); without it, or with q,k,v weights not back to
   * back in one buffer (uploadModel puts them so), they run apart.
   */
  fuseQkv?: boolean;
  /**
   * Run gate,up as one projection in prefill and decode (fused-projections.ts), the SwiGLU reading its
   * packed rows: 1 dispatch fewer per layer. Default true; the same conditions as fuseQkv.
   */
  fuseGateUp?: boolean;
  /**
   * With gate,up fused: down_proj reads their packed rows, the SwiGLU formed as its products load them
   * (LinearShape.gatedX): 1 dispatch fewer per layer and no SwiGLU output buffer. Default: on GPUs, off
   * on CPU adapters (decode-ops.ts defaultFoldSwiglu: there the recomputed silu costs more than it saves).
   */
  foldSwiglu?: boolean;
  /**
   * With stackLoraA: each RMSNorm and the stacked LoRA A product after it (q,k,v's; gate,up's) run as one
   * dispatch on the few-row route (skinny-norm-matmul.ts): 2 dispatches fewer per layer. Default true.
   */
  foldNorm?: boolean;
  /**
   * Encode iteration t+1 while the GPU runs iteration t (default true): the host's encoding hides
   * behind the GPU's work, at the cost of one dropped token per sequence that ends on EOS or a stop
   * string. false runs each iteration to its read-back before planning the next.
   */
  overlap?: boolean;
  /**
   * Record a decode step's dispatches and replay them while the rows and the attention's key split are
   * unchanged (decode-graph.ts; vLLM's CUDA graphs): the ops' host work is done once per key instead of
   * every step. Default true; false encodes every step (the reference the replay is tested against).
   */
  recordDecode?: boolean;
}

export interface WebGpuGenerationStats {
  tokens: number;
  seconds: number;
  /** Time to the first sampled tokens (the first prefill and its read-back). */
  prefillSeconds: number;
  sequences: number;
  /** Engine iterations (prefill and/or decode step + read-back). */
  iterations: number;
  /** Most sequences running at once. */
  peakBatch: number;
  /** Host time spent planning and enqueuing GPU work (admission, encoding, uploads, submits). */
  encodeSeconds: number;
  /** Host time spent waiting for read-backs: the GPU's work that encoding did not hide. */
  waitSeconds: number;
  /** Iterations without a prefill, and their share of the two times above (per-step figures). */
  decodeSteps: number;
  decodeEncodeSeconds: number;
  decodeWaitSeconds: number;
  /** Tokens sampled for sequences that had ended in the iteration before (overlap; dropped). */
  discardedTokens: number;
  /** GPU dispatches enqueued. */
  dispatches: number;
  /** Decode steps recorded for replay (each also ran), and decode steps replayed (recordDecode). */
  recordedSteps: number;
  replayedSteps: number;
}

export interface WebGpuEngine extends GenerationEngine {
  readonly description: string;
  readonly ctx: GpuContext;
  readonly kvDtype: KvDType;
  /** Whether iterations overlap (WebGpuEngineOptions.overlap). */
  readonly overlap: boolean;
  /**
   * Whether q,k,v and gate,up can run as one projection each (fuseQkv, fuseGateUp, resolved against the
   * upload: the group's weights back to back; a call fuses a group where its adapter version allows),
   * whether down_proj takes the SwiGLU into its loads (foldSwiglu, resolved) and whether the norms run
   * with the stacked A products (foldNorm, resolved against stackLoraA).
   */
  readonly fused: { qkv: boolean; gateUp: boolean; swiglu: boolean; norm: boolean };
  readonly lastStats: WebGpuGenerationStats;
  /** The last setAdapter: a pointer flip or a verified upload, and how long it took. */
  readonly lastSync: SyncReport | null;
  /** Versions resident on the GPU, oldest first. */
  readonly residentVersions: number[];
  /** Fault drill: corrupt the next adapter upload on the GPU (the sync must reject it). */
  injectWriteFault(): void;
}

export interface Seq {
  job: number;
  prompt: number;
  sample: number;
  slot: number;
  rng: Rng;
  ids: number[];
  lps: number[];
  raws: number[];
  /** Tokens whose keys/values are in the cache (or will be, once the launched iterations run). */
  cached: number;
  /** Tokens sampled, read back or in flight. */
  scheduled: number;
  done: FinishReason | null;
}

/**
 * What the engine's parts share, built once by createWebGpuEngine: the setup fixed at creation, the
 * KV cache (grown between calls) and the adapter version setAdapter last installed.
 */
export interface EngineState {
  opts: WebGpuEngineOptions;
  config: Qwen2Config;
  ctx: GpuContext;
  /** The webgpu ops, few-row passes routed to the skinny kernel (decode-ops.ts). */
  ops: Ops<GpuTensor>;
  /** The base weights on the GPU (uploaded, or shared with a learner). */
  model: Model<GpuTensor>;
  kvDtype: KvDType;
  maxBatch: number;
  maxContext: number;
  pageSize: number;
  maxPrefillTokens: number;
  maxPagesPerSeq: number;
  /** Encode the next iteration before reading back the previous one (WebGpuEngineOptions.overlap, resolved). */
  overlap: boolean;
  /** Replay recorded decode steps (WebGpuEngineOptions.recordDecode, resolved). */
  recordDecode: boolean;
  eos: Set<number>;
  decodeText: (ids: ArrayLike<number>) => string;
  adapters: AdapterSlots;
  /** Persistent per-engine buffers: page table, token per slot, sampler output. */
  table: GpuTensor;
  tokens: GpuTensor;
  out: GpuTensor;
  kv: PagedKvCache | null;
  /** Each layer's q,k,v and gate,up weights as one matrix each (fuseQkv, fuseGateUp), or null: apart. */
  fused: FusedWeights;
  /** down_proj reads gate,up's packed rows through the folded SwiGLU (foldSwiglu, where gate,up fuse). */
  foldSwiglu: boolean;
  /** Each norm and the stacked A product after it as one operation (foldNorm, where A is stacked). */
  foldNorm: boolean;
  version: number;
  lastStats: WebGpuGenerationStats;
  slotsCache: WeakMap<AdapterLayout, LayerLoraSlots[]>;
}

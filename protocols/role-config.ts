// The role configs: what the coordinator hands each actor role's init(config) in every worker
// (through workerData, so SharedArrayBuffers in them, the base weights and the WeightStores, are
// shared, not copied). Declared here so the coordinator, which builds them, never imports actors/.
import type { ModelDescriptor } from '../src/model/weights.js';
import type { LoraSettings } from '../src/model/adapter-layout.js';
import type { LearnerAlgorithm } from '../src/rl/consumers.js';
import type { LearnerDeviceConfig } from '../src/rl/learner-config.js';
import type { WeightStoreDescription } from '../src/runtime/weight-store.js';
import type { FaultDrill } from '../src/runtime/fault-drill.js';
import type { EvalConfigInput } from '../src/eval/config.js';

/** actors/learner.ts init: the model, the adapter store, the algorithm (src/rl/consumers.ts learnerAlgorithm). */
export interface LearnerInit extends LearnerAlgorithm {
  model: ModelDescriptor;
  store: WeightStoreDescription;
  lora: LoraSettings;
  seed: number;
  eosTokenIds: number[];
  baseModelName: string;
  /** Where the forward, backward and optimizer run (config section `learner`). */
  device: LearnerDeviceConfig;
  /** Crash-recovery store of learnerRecoverySize(adapter size) floats; absent = no recovery. */
  recovery?: WeightStoreDescription;
  /** Fault drills (config `faults`, set by the coordinator): mode 'corrupt' on handler 'publish'. */
  __faults?: FaultDrill[];
}

/** The rollout actor's WebLLM engine (model.engine 'webllm'). */
export interface WebLlmRolloutSettings {
  /** MLC artifacts folder (tools/convert-to-mlc). */
  mlcDir: string;
  /** Compiled WebLLM model library (*.wasm, v0_2_48 libs for web-llm 0.2.79). */
  libFile: string;
  /** KV cache length (default: the artifacts' context_window_size). */
  contextWindow?: number;
  /** Fault drill: corrupt this MLC tensor on the GPU right after the next sync writes it. */
  injectWriteFault?: string;
}

/** actors/rollout.ts init: one engine over the shared base weights, reading adapter versions from the store. */
export interface RolloutInit {
  model: ModelDescriptor;
  /** Folder with tokenizer.json (+ tokenizer_config.json). */
  tokenizerDir: string;
  store: WeightStoreDescription;
  lora: LoraSettings;
  /** Name under which this actor acknowledges versions in the store. */
  readerName: string;
  engine: 'builtin' | 'webgpu' | 'webllm';
  /** Required with engine 'webllm'. */
  webllm?: WebLlmRolloutSettings;
  /** Engine 'webgpu' (defaults: f16 weights, 2 resident versions). */
  webgpu?: WebGpuRolloutSettings;
  /** Builtin and webgpu engines: most sequences decoded together. */
  maxBatch?: number;
}

/** The rollout actor's webgpu engine (model.engine 'webgpu'). */
export interface WebGpuRolloutSettings {
  weightDtype?: 'f16' | 'f32';
  /** Adapter versions kept on the GPU: grpo.max_staleness + 1. */
  residentVersions?: number;
  /** Fault drill: corrupt the next adapter upload on the GPU (the sync must reject it). */
  injectWriteFault?: boolean;
}

/** actors/evaluator.ts init. */
export interface EvaluatorConfig {
  /** Model folder (config.json, weights, tokenizer.json, tokenizer_config.json). */
  modelDir: string;
  /** Shared base weights (describeModel()); when absent the weights are loaded from modelDir. */
  model?: ModelDescriptor;
  /** The learner's adapter store; required to evaluate versions > 0. */
  weightStore?: WeightStoreDescription;
  /** LoRA settings of the flat adapter block in the store (its layout is derived from them). */
  lora?: LoraSettings;
  /** Defaults for every request (benchmarks_dir, synthetic_count, batch_size, benchmark_paths, ...). */
  eval?: Partial<EvalConfigInput>;
  /** Where eval.jsonl / eval-summary.* are appended; no files when absent. */
  outDir?: string;
  /** How long to wait for a requested version to be published, ms. Default 60000. */
  versionWaitMs?: number;
}

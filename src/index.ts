// loractor library entry. Each area re-exports its public API here.
export { Rng } from './util/rng.js';
export type { RngState } from './util/rng.js';
// Synthetic reasoning tasks + the tiny model's tokenizer definition (src/data/tasks/).
export * from './data/tasks/index.js';
// Math answer verifier (math_verify 0.5.2 counterpart; src/rewards/verifier/).
export {
  parse,
  verifyParsed,
  verify,
  ANSWER_CFG,
  GOLD_DEFAULT,
  GOLD_LATEX_ONLY,
  GOLD_EXPR_ONLY,
  LIGHTEVAL_PRED,
  latexConfig,
  exprConfig,
  normalizeLatex,
} from './rewards/verifier/index.js';
export type {
  ParsedAnswer,
  ParseOptions,
  VerifyOptions,
  VerifyResult,
  ExtractionConfig,
  NormalizationConfig,
  MathJson,
} from './rewards/verifier/index.js';
// Runtime (actor system, weight store), protocols (messages, codecs, shared tensors), config.
export * from './runtime/index.js';
export * from '../protocols/index.js';
export { askRole, ReplyProtocolError } from './runtime/ask-role.js';
export { loadConfig, validateConfig, ConfigError, rootConfigSchema, actorSpecsFromConfig } from './config/index.js';
export type { LoractorConfig } from './config/index.js';
// What a run costs from its knobs (memory per device, time per step), as `loractor check` prints it.
export {
  estimateRunMemory,
  judgeMemory,
  estimateStepTime,
  type BudgetKnobs,
  type BudgetItem,
} from './config/budget.js';
export { contextLimits } from './config/context-limits.js';
export { runCli } from './main.js';
export type { TrainingOptions } from './main.js';
// Qwen2 model + LoRA + formats (src/model/), operation interface and cpu kernels (src/ops/).
export * from './model/index.js';
export { cpuOps } from './ops/cpu/index.js';
export type { Ops } from './ops/types.js';
// RL: advantages, GRPO-family loss, AdamW + clipping + accumulation, LR schedules, GRPO config (src/rl/).
export * from './rl/index.js';
export { adamwStep } from './ops/cpu/adamw.js';
// Evaluation: benchmarks, answer checking, pass@k runner over any GenerationEngine, outputs (src/eval/).
export * from './eval/index.js';
// Reward functions, registry, config, pool scoring (src/rewards/) and datasets/prompts/sampler (src/data/).
export * from './rewards/index.js';
export {
  accuracyReward,
  accuracyRewardOpenR1,
  lengthReward,
  makeCosineReward,
  lengthStyleCorrect,
} from './rewards/accuracy.js';
export {
  readJsonl as readDatasetJsonl,
  readParquet,
  loadDataset,
  datasetFiles,
  mapTinaRow,
  mapTinaColumns,
  OPEN_R1_SYSTEM_PROMPT,
  OPEN_RS_SYSTEM_PROMPT,
  SYSTEM_PROMPTS,
  systemPromptFor,
  REASON_CHAT_TEMPLATE,
  CHAT_TEMPLATES,
  DEEPSEEK_BOS,
  DEEPSEEK_EOS,
  renderChat,
  buildTinaPrompt,
  truncatePromptIds,
  createRepeatSampler,
} from './data/index.js';
export type {
  Row as DatasetRow,
  RowError as DatasetRowError,
  ReadJsonlOptions,
  ReadResult as JsonlReadResult,
  LoadDatasetOptions,
  LoadedDataset,
  TinaRow,
  ChatMessage as PromptChatMessage,
  RenderChatOptions,
  SystemPromptName,
  RepeatSampler,
  RepeatSamplerState,
  RepeatSamplerOptions,
} from './data/index.js';
// WebLLM engine on WebGPU (Dawn) with verified LoRA weight sync; HF → MLC conversion (src/engines/webllm/, tools/).
export { createWebLlmEngine, completionSeed } from './engines/webllm/engine.js';
export type { WebLlmEngine, WebLlmEngineOptions, WebLlmGenerationStats } from './engines/webllm/engine.js';
export { SyncVerificationError } from './engines/webllm/weight-sync.js';
export type { SyncStats } from './engines/webllm/weight-sync.js';
export { WebLlmInternalsError, SUPPORTED_WEBLLM_VERSION } from './engines/webllm/private-access.js';
export { loadMlcArtifacts, readMlcLibMetadata } from './engines/webllm/mlc-artifacts.js';
export { convertToMlc } from '../tools/convert-to-mlc.js';
export type { ConvertOptions, MlcStorageDtype } from '../tools/convert-to-mlc.js';
// Matmul entry point (WASM-SIMD kernel + row-parallel helper threads; src/ops/matmul.ts, src/ops/wasm/).
export {
  matmulNN,
  matmulNT,
  matmulTN,
  configureMatmulKernel,
  configureMatmulThreads,
  matmulThreadCount,
  warmUpMatmulThreads,
  shutdownMatmulThreads,
  matmulKernelStats,
  wasmKernelStatus,
} from './ops/matmul.js';
export type { FloatArray, MatmulThreadOptions } from './ops/matmul.js';
// Readiness check of a run config (model folder, dataset, MLC artifacts, benchmarks, memory) (src/cli/check.ts).
export { checkConfig, formatReport as formatCheckReport } from './cli/check.js';
export type { CheckReport } from './cli/check.js';
// Builtin CPU generation engine, the GRPO training job (coordinator) and the run report.
export { createBuiltinEngine, sampleToken } from './engines/builtin/index.js';
export type { BuiltinEngine, BuiltinEngineOptions } from './engines/builtin/index.js';
export type { GenerationEngine, SamplingParams, PromptInput, Completion, FinishReason } from './engines/types.js';
export { runTraining } from './coordinator/index.js';
export { resolveRunConfig } from './coordinator/run-config.js';
export type { RunConfig, RunConfigOptions } from './coordinator/run-config.js';
export type { TrainingSummary } from './coordinator/index.js';
export { runGrpoLoop } from './coordinator/grpo-loop.js';
export type { GrpoRoles, GrpoLoopOptions, PromptItem } from './coordinator/grpo-loop.js';
export {
  renderReport,
  createProgress,
  ema,
  formatTurnStep,
  readLatestRecords,
  readStepMetrics,
  recordKeys,
} from './report/index.js';
export type { StepMetrics, EvalSummary, ReportInput } from './report/index.js';

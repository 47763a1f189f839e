// Evaluation: benchmark definitions and loading, answer checking, the runner (pass@1 / pass@k over
// any GenerationEngine), and the outputs (table, eval.jsonl, summary).
export { BENCHMARKS, getBenchmark, loadBenchmark, parseBenchList } from './benchmarks.js';
export type { BenchmarkDef, EvalProblem, GoldKind, LoadedBenchmark, LoadOptions } from './benchmarks.js';
export { readJsonl } from './jsonl.js';
export type { JsonlIssue, JsonlRow } from './jsonl.js';
export { passAtK, reportedKs } from './passk.js';
export { MATH_QUERY_TEMPLATE, GPQA_QUERY_TEMPLATE, mathPrompt, gpqaPrompt } from './prompts.js';
export { createAnswerChecker, extractLetter, loadVerifier, EVAL_PRECISION } from './checker.js';
export type { AnswerChecker, ParsedGold, Judgement } from './checker.js';
export { evalConfigSchema, parseEvalConfig } from './config.js';
export type { EvalConfig, EvalConfigInput } from './config.js';
export { runEval } from './runner.js';
export type {
  EvalRecord,
  BenchmarkSummary,
  EvalResult,
  EvalProgress,
  RunEvalOptions,
  ExcludedProblem,
} from './runner.js';
export { formatTable, writeEvalOutputs, createEvalProgress } from './report.js';
export type { EvalRunMeta } from './report.js';
export { loadChatRenderer, chatRendererFrom, engineDecoder, safeDecode } from './prompt-renderer.js';
export type { ChatRenderer } from './prompt-renderer.js';
export { loadConfiguredBenchmarks, evaluateOnEngine } from './session.js';

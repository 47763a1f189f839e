// One evaluation from a validated config: load the benchmarks, build the answer checker, run on a
// given engine + prompt renderer. Shared by the CLI (src/cli/eval.ts) and the evaluator actor.
import type { GenerationEngine, PromptInput } from '../engines/types.js';
import { loadBenchmark, type LoadedBenchmark } from './benchmarks.js';
import { createAnswerChecker } from './checker.js';
import type { EvalConfig } from './config.js';
import { runEval, type EvalProgress, type EvalResult } from './runner.js';

/** Load every configured benchmark (unknown names, missing files, strict-mode bad lines throw here). */
export function loadConfiguredBenchmarks(cfg: EvalConfig): LoadedBenchmark[] {
  return cfg.benchmarks.map((name) =>
    loadBenchmark(name, {
      dir: cfg.benchmarks_dir,
      limit: cfg.limit,
      strict: cfg.strict,
      paths: cfg.benchmark_paths,
      seed: cfg.data_seed,
      syntheticCount: cfg.synthetic_count,
      syntheticFamily: cfg.synthetic_family,
    }),
  );
}

export async function evaluateOnEngine(
  benchmarks: LoadedBenchmark[],
  cfg: EvalConfig,
  engine: GenerationEngine,
  renderPrompt: (user: string) => PromptInput,
  onProgress?: (p: EvalProgress) => void,
): Promise<EvalResult> {
  const checker = await createAnswerChecker(benchmarks.flatMap((b) => b.problems.map((p) => p.goldKind)));
  return runEval(benchmarks, {
    engine,
    renderPrompt,
    checker,
    samples: cfg.num_samples,
    seed: cfg.seed,
    batchSize: cfg.batch_size,
    sampling: { temperature: cfg.temperature, top_p: cfg.top_p, top_k: cfg.top_k, max_tokens: cfg.max_new_tokens },
    ...(onProgress ? { onProgress } : {}),
  });
}

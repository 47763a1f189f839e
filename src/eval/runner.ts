// The evaluation loop: for each benchmark, render prompts, generate k samples per problem on a
// GenerationEngine (builtin CPU engine or WebLLM — anything implementing src/engines/types.ts),
// judge every completion, and aggregate pass@1 / pass@k / mean@k per benchmark.
import { Rng } from '../util/rng.js';
import { isWorkedFormat } from '../data/tasks/index.js';
import type { GenerationEngine, PromptInput, SamplingParams } from '../engines/types.js';
import type { EvalProblem, LoadedBenchmark } from './benchmarks.js';
import type { AnswerChecker, ParsedGold } from './checker.js';
import { passAtK, reportedKs } from './passk.js';

/** One judged completion (one line of eval.jsonl). */
export interface EvalRecord {
  benchmark: string;
  id: string;
  index: number;
  sample: number;
  prompt: string;
  completion: string;
  gold: string;
  extracted: string | null;
  correct: boolean;
  finish_reason: string;
  completion_tokens: number;
  policy_version: number;
  /** Synthetic task only: the completion has the worked format. */
  format?: boolean;
  level?: number;
}

/** A problem left out of the score because its gold answer did not parse. */
export interface ExcludedProblem {
  benchmark: string;
  id: string;
  gold_text: string;
}

export interface BenchmarkSummary {
  benchmark: string;
  /** Problems scored (excluded ones not counted). */
  problems: number;
  excluded: number;
  samples: number;
  pass_at_1: number;
  /** Unbiased pass@k for k = 1, 2, 4, …, samples. */
  pass_at_k: Record<string, number>;
  /** Mean accuracy over all samples (= pass@1 estimate from k samples). */
  mean_at_k: number;
  /** Share of completions stopped by the token limit. */
  truncated: number;
  mean_completion_tokens: number;
  /** Synthetic task: share of completions in the worked format. */
  format_rate?: number;
  /** Per-level pass@1 where problems have levels. */
  per_level?: Record<string, number>;
  load_issues: number;
  policy_version: number;
}

export interface EvalResult {
  records: EvalRecord[];
  summaries: BenchmarkSummary[];
  excluded: ExcludedProblem[];
  /** Mean pass@1 over benchmarks (Tina's "Avg."). */
  average_pass_at_1: number;
}

export interface EvalProgress {
  benchmark: string;
  done: number;
  total: number;
}

export interface RunEvalOptions {
  engine: GenerationEngine;
  /** Chat template + tokenization of a user message (e.g. from the model's tokenizer). */
  renderPrompt: (userContent: string) => PromptInput;
  checker: AnswerChecker;
  /** Samples per problem (k). */
  samples: number;
  /** Sampling without seed; the per-batch seed is derived from `seed`. */
  sampling: Omit<SamplingParams, 'seed'>;
  seed: number;
  batchSize: number;
  onProgress?: (p: EvalProgress) => void;
}

/** Derived per (benchmark, first problem of the batch) so a benchmark's results do not depend on the others. */
function batchSeed(seed: number, benchmark: string, start: number): number {
  return Rng.derive(seed, 'eval', benchmark, start).nextU32() >>> 1;
}

async function evalBenchmark(bench: LoadedBenchmark, o: RunEvalOptions, out: EvalResult): Promise<void> {
  const scored: { problem: EvalProblem; judged: { correct: boolean }[] }[] = [];
  const work: { problem: EvalProblem; gold: ParsedGold }[] = [];
  for (const problem of bench.problems) {
    const gold = o.checker.parseGold(problem);
    if (gold === null) out.excluded.push({ benchmark: bench.def.name, id: problem.id, gold_text: problem.goldText });
    else work.push({ problem, gold });
  }
  let truncated = 0;
  let tokens = 0;
  let formatted = 0;
  let policyVersion = o.engine.policyVersion;
  o.onProgress?.({ benchmark: bench.def.name, done: 0, total: work.length });
  for (let start = 0; start < work.length; start += o.batchSize) {
    const batch = work.slice(start, start + o.batchSize);
    const prompts = batch.map((w) => o.renderPrompt(w.problem.userPrompt));
    const completions = await o.engine.generate(prompts, o.samples, {
      ...o.sampling,
      seed: batchSeed(o.seed, bench.def.name, start),
    });
    if (completions.length !== batch.length * o.samples) {
      throw new Error(
        `engine '${o.engine.name}' returned ${completions.length} completions, expected ${batch.length * o.samples}`,
      );
    }
    const judged = batch.map(() => [] as { correct: boolean }[]);
    for (const c of completions) {
      const w = batch[c.promptIndex];
      if (!w) throw new Error(`engine '${o.engine.name}' returned promptIndex ${c.promptIndex} outside the batch`);
      const j = o.checker.judge(w.gold, c.text);
      judged[c.promptIndex]!.push(j);
      const format = w.problem.goldKind === 'integer' ? isWorkedFormat(c.text) : undefined;
      if (format) formatted++;
      if (c.finishReason === 'length') truncated++;
      tokens += c.tokenIds.length;
      policyVersion = c.policyVersion;
      out.records.push({
        benchmark: bench.def.name,
        id: w.problem.id,
        index: w.problem.index,
        sample: c.sampleIndex,
        prompt: prompts[c.promptIndex]!.text ?? w.problem.userPrompt,
        completion: c.text,
        gold: w.gold.display,
        extracted: j.extracted,
        correct: j.correct,
        finish_reason: c.finishReason,
        completion_tokens: c.tokenIds.length,
        policy_version: c.policyVersion,
        ...(format !== undefined ? { format } : {}),
        ...(w.problem.level !== undefined ? { level: w.problem.level } : {}),
      });
    }
    for (let i = 0; i < batch.length; i++) scored.push({ problem: batch[i]!.problem, judged: judged[i]! });
    o.onProgress?.({ benchmark: bench.def.name, done: Math.min(start + o.batchSize, work.length), total: work.length });
  }
  out.summaries.push(
    summarize(
      bench,
      scored,
      o.samples,
      { truncated, tokens, formatted, policyVersion },
      out.excluded.filter((e) => e.benchmark === bench.def.name).length,
    ),
  );
}

function summarize(
  bench: LoadedBenchmark,
  scored: { problem: EvalProblem; judged: { correct: boolean }[] }[],
  k: number,
  counts: { truncated: number; tokens: number; formatted: number; policyVersion: number },
  excluded: number,
): BenchmarkSummary {
  const n = scored.length;
  const total = n * k;
  const passK: Record<string, number> = {};
  for (const kk of reportedKs(k)) {
    passK[String(kk)] =
      n === 0 ? 0 : scored.reduce((s, p) => s + passAtK(k, p.judged.filter((j) => j.correct).length, kk), 0) / n;
  }
  const correct = scored.reduce((s, p) => s + p.judged.filter((j) => j.correct).length, 0);
  const levels = new Map<number, { c: number; t: number }>();
  for (const p of scored) {
    if (p.problem.level === undefined) continue;
    const e = levels.get(p.problem.level) ?? { c: 0, t: 0 };
    e.c += p.judged.filter((j) => j.correct).length;
    e.t += p.judged.length;
    levels.set(p.problem.level, e);
  }
  const summary: BenchmarkSummary = {
    benchmark: bench.def.name,
    problems: n,
    excluded,
    samples: k,
    pass_at_1: passK['1'] ?? 0,
    pass_at_k: passK,
    mean_at_k: total ? correct / total : 0,
    truncated: total ? counts.truncated / total : 0,
    mean_completion_tokens: total ? counts.tokens / total : 0,
    load_issues: bench.issues.length,
    policy_version: counts.policyVersion,
  };
  if (bench.def.name === 'synthetic') summary.format_rate = total ? counts.formatted / total : 0;
  if (levels.size > 0) {
    summary.per_level = Object.fromEntries(
      [...levels.entries()].sort((a, b) => a[0] - b[0]).map(([l, e]) => [String(l), e.t ? e.c / e.t : 0]),
    );
  }
  return summary;
}

/** Evaluate every benchmark in order on the engine's current adapter version. */
export async function runEval(benchmarks: LoadedBenchmark[], o: RunEvalOptions): Promise<EvalResult> {
  if (!Number.isInteger(o.samples) || o.samples < 1)
    throw new Error(`samples must be a positive integer, got ${o.samples}`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1)
    throw new Error(`batchSize must be a positive integer, got ${o.batchSize}`);
  const out: EvalResult = { records: [], summaries: [], excluded: [], average_pass_at_1: 0 };
  for (const b of benchmarks) await evalBenchmark(b, o, out);
  out.average_pass_at_1 = out.summaries.length
    ? out.summaries.reduce((s, x) => s + x.pass_at_1, 0) / out.summaries.length
    : 0;
  return out;
}

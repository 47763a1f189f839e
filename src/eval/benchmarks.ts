// Benchmark definitions (which file, which fields, how the gold answer is extracted, which prompt)
// and loading them into a uniform list of evaluation problems.
//
// Gold extraction follows Tina's lighteval tasks (shared/reference/tina-recipe.md §2.4):
//   aime24, aime25, amc23: the `answer` field, parsed as an expression (AMC answers are floats like
//     27.0 in the file; they are rendered the way Python's str() does, "27.0", as lighteval sees them);
//   math500, minerva: the full `solution` text, parsed as LaTeX (last \boxed{});
//   gsm8k: the number after "####" in `answer` (thousands separators dropped), as an expression;
//   gpqa: the letter of the correct choice after a seeded shuffle; only from a user-supplied file
//     (GPQA's authors ask that it not be redistributed: it is never committed or shipped);
//   synthetic: the held-out split of the calibrated addition task (src/data/tasks), integer answer.
import { isAbsolute, join, resolve } from 'node:path';
import { benchmarksDir } from '../util/paths.js';
import { generateTaskItems } from '../data/tasks/index.js';
import { readJsonl, type JsonlIssue } from './jsonl.js';
import { gpqaPrompt, mathPrompt } from './prompts.js';

/** How the gold text is compared: CAS expression, LaTeX, multiple-choice letter, exact integer. */
export type GoldKind = 'expr' | 'latex' | 'letter' | 'integer';

export interface BenchmarkDef {
  name: string;
  description: string;
  /** File relative to the benchmarks dir; null for generated (synthetic) or user-supplied (gpqa) data. */
  file: string | null;
  /** Row field holding the question text. */
  questionField: string;
  /** Row field the gold answer comes from. */
  goldField: string;
  /** How the gold text is taken from the gold field. */
  goldExtraction: 'field' | 'python-float' | 'gsm8k-hash' | 'solution' | 'gpqa-letter' | 'task-answer';
  goldKind: GoldKind;
  prompt: 'math' | 'gpqa' | 'raw';
  /** Row field used as the problem id (falls back to the line number). */
  idField: string | null;
}

export const BENCHMARKS: Readonly<Record<string, BenchmarkDef>> = {
  aime24: {
    name: 'aime24',
    description: 'AIME 2024 (30)',
    file: 'qwen25math/aime24_test.jsonl',
    questionField: 'problem',
    goldField: 'answer',
    goldExtraction: 'field',
    goldKind: 'expr',
    prompt: 'math',
    idField: 'id',
  },
  aime25: {
    name: 'aime25',
    description: 'AIME 2025 I+II (30)',
    file: 'math-evaluation-harness/aime25_test.jsonl',
    questionField: 'problem',
    goldField: 'answer',
    goldExtraction: 'field',
    goldKind: 'expr',
    prompt: 'math',
    idField: null,
  },
  amc23: {
    name: 'amc23',
    description: 'AMC 2023 (40)',
    file: 'qwen25math/amc23_test.jsonl',
    questionField: 'problem',
    goldField: 'answer',
    goldExtraction: 'python-float',
    goldKind: 'expr',
    prompt: 'math',
    idField: 'id',
  },
  math500: {
    name: 'math500',
    description: 'MATH-500 (500)',
    file: 'math-evaluation-harness/math500_test.jsonl',
    questionField: 'problem',
    goldField: 'solution',
    goldExtraction: 'solution',
    goldKind: 'latex',
    prompt: 'math',
    idField: 'unique_id',
  },
  minerva: {
    name: 'minerva',
    description: 'Minerva math (272)',
    file: 'qwen25math/minerva_math_test.jsonl',
    questionField: 'problem',
    goldField: 'solution',
    goldExtraction: 'solution',
    goldKind: 'latex',
    prompt: 'math',
    idField: 'idx',
  },
  gsm8k: {
    name: 'gsm8k',
    description: 'GSM8K test (1319)',
    file: 'qwen25math/gsm8k_test.jsonl',
    questionField: 'question',
    goldField: 'answer',
    goldExtraction: 'gsm8k-hash',
    goldKind: 'expr',
    prompt: 'math',
    idField: 'idx',
  },
  gpqa: {
    name: 'gpqa',
    description: 'GPQA diamond (user-supplied file, HF Idavidrein/gpqa columns)',
    file: null,
    questionField: 'Question',
    goldField: 'Correct Answer',
    goldExtraction: 'gpqa-letter',
    goldKind: 'letter',
    prompt: 'gpqa',
    idField: 'Record ID',
  },
  synthetic: {
    name: 'synthetic',
    description: 'held-out split of the synthetic addition task',
    file: null,
    questionField: 'prompt',
    goldField: 'answer',
    goldExtraction: 'task-answer',
    goldKind: 'integer',
    prompt: 'raw',
    idField: 'problem',
  },
};

/** One problem ready for evaluation. */
export interface EvalProblem {
  benchmark: string;
  /** The id field's value, or `line:N`. */
  id: string;
  /** Position in the loaded list. */
  index: number;
  /** The question as in the file. */
  question: string;
  /** The user message content (the benchmark's prompt template applied; chat template not yet). */
  userPrompt: string;
  /** The text the gold answer is parsed from. */
  goldText: string;
  goldKind: GoldKind;
  /** Difficulty level where the benchmark has one (MATH-500 level, synthetic digit count). */
  level?: number;
}

export interface LoadedBenchmark {
  def: BenchmarkDef;
  /** The file read, or null for generated data. */
  path: string | null;
  problems: EvalProblem[];
  /** Malformed lines / rows skipped (non-strict mode), each with its line number. */
  issues: JsonlIssue[];
}

export interface LoadOptions {
  /** Folder holding the benchmark files (default benchmarksDir(): the package's benchmarks/). */
  dir?: string;
  /** Keep only the first N problems. */
  limit?: number;
  /** Fail on the first malformed line instead of skipping it. */
  strict?: boolean;
  /** Per-benchmark file override (absolute or relative to cwd); required for gpqa. */
  paths?: Record<string, string>;
  /** Data seed: GPQA choice order and which synthetic held-out problems (default 42; not the sampling seed). */
  seed?: number;
  /** Synthetic benchmark size (default 200, as in the calibration) and task family. */
  syntheticCount?: number;
  syntheticFamily?: string;
}

export function getBenchmark(name: string): BenchmarkDef {
  const def = BENCHMARKS[name];
  if (!def) throw new Error(`unknown benchmark '${name}' (known: ${Object.keys(BENCHMARKS).join(', ')})`);
  return def;
}

/** Python's str(float): integral values keep ".0" (lighteval sees AMC's 27.0 as "27.0"). */
function pythonFloatString(v: number): string {
  return Number.isInteger(v) ? v.toFixed(1) : String(v);
}

function goldFrom(def: BenchmarkDef, value: unknown): string {
  switch (def.goldExtraction) {
    case 'field':
    case 'solution':
      if (typeof value !== 'string' && typeof value !== 'number')
        throw new Error(`field '${def.goldField}' must be a string or number`);
      return String(value);
    case 'python-float':
      if (typeof value === 'number') return pythonFloatString(value);
      if (typeof value === 'string') return value;
      throw new Error(`field '${def.goldField}' must be a number or string`);
    case 'gsm8k-hash': {
      if (typeof value !== 'string') throw new Error(`field '${def.goldField}' must be a string`);
      const m = /####\s*(.+?)\s*$/.exec(value);
      if (!m) throw new Error(`field '${def.goldField}' has no "#### <answer>" line`);
      return m[1]!.replace(/,/g, '');
    }
    default:
      throw new Error(`gold extraction '${def.goldExtraction}' is not file-based`);
  }
}

function loadGpqa(def: BenchmarkDef, path: string, opts: LoadOptions): LoadedBenchmark {
  const { rows, issues } = readJsonl(path, opts);
  const problems: EvalProblem[] = [];
  const seed = opts.seed ?? 42;
  for (const { line, value } of rows) {
    const fields = ['Question', 'Correct Answer', 'Incorrect Answer 1', 'Incorrect Answer 2', 'Incorrect Answer 3'];
    const missing = fields.find((f) => typeof value[f] !== 'string');
    if (missing) {
      const message = `missing or non-string field '${missing}'`;
      if (opts.strict) throw new Error(`${path}:${line}: ${message}`);
      issues.push({ file: path, line, message });
      continue;
    }
    const id = typeof value['Record ID'] === 'string' ? (value['Record ID'] as string) : `line:${line}`;
    const { prompt, gold } = gpqaPrompt(
      (value.Question as string).trim(),
      (value['Correct Answer'] as string).trim(),
      [1, 2, 3].map((i) => (value[`Incorrect Answer ${i}`] as string).trim()) as [string, string, string],
      seed,
      id,
    );
    problems.push({
      benchmark: def.name,
      id,
      index: problems.length,
      question: value.Question as string,
      userPrompt: prompt,
      goldText: gold,
      goldKind: 'letter',
    });
  }
  return { def, path, problems: applyLimit(requireProblems(path, problems, issues), opts.limit), issues };
}

/** A benchmark file with no usable problem is an error (a pass@1 over 0 problems would read as 0.00). */
function requireProblems(path: string, problems: EvalProblem[], issues: JsonlIssue[]): EvalProblem[] {
  if (problems.length > 0) return problems;
  if (issues.length === 0) throw new Error(`benchmark file ${path}: no problems (the file is empty)`);
  const first = issues[0]!;
  throw new Error(
    `benchmark file ${path}: no usable problems: all ${issues.length} non-empty line(s) are malformed (first: line ${first.line}: ${first.message})`,
  );
}

function applyLimit(problems: EvalProblem[], limit: number | undefined): EvalProblem[] {
  if (limit === undefined) return problems;
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`limit must be a positive integer, got ${limit}`);
  return problems.slice(0, limit);
}

/** Load one benchmark by name. Unknown name, missing file and (strict) malformed lines throw. */
export function loadBenchmark(name: string, opts: LoadOptions = {}): LoadedBenchmark {
  const def = getBenchmark(name);
  if (def.name === 'synthetic') {
    const count = opts.syntheticCount ?? 200;
    const items = generateTaskItems({ family: opts.syntheticFamily, split: 'heldout', seed: opts.seed ?? 42, count });
    const problems = items.map(
      (it, index): EvalProblem => ({
        benchmark: def.name,
        id: it.problem,
        index,
        question: it.prompt,
        userPrompt: it.prompt,
        goldText: it.answer,
        goldKind: 'integer',
        level: it.level,
      }),
    );
    return { def, path: null, problems: applyLimit(problems, opts.limit), issues: [] };
  }
  const override = opts.paths?.[name];
  let path: string;
  if (override) path = isAbsolute(override) ? override : resolve(override);
  else if (def.file) path = join(opts.dir ?? benchmarksDir(), def.file);
  else throw new Error(`benchmark '${name}' has no bundled file: pass its path (e.g. --gpqa-path FILE.jsonl)`);
  if (def.goldExtraction === 'gpqa-letter') return loadGpqa(def, path, opts);

  const { rows, issues } = readJsonl(path, opts);
  const problems: EvalProblem[] = [];
  for (const { line, value } of rows) {
    let message: string | null = null;
    let goldText = '';
    const question = value[def.questionField];
    if (typeof question !== 'string' || question.length === 0)
      message = `missing or non-string field '${def.questionField}'`;
    else {
      try {
        goldText = goldFrom(def, value[def.goldField]);
      } catch (err) {
        message = (err as Error).message;
      }
    }
    if (message !== null) {
      if (opts.strict) throw new Error(`${path}:${line}: ${message}`);
      issues.push({ file: path, line, message });
      continue;
    }
    const idValue = def.idField ? value[def.idField] : undefined;
    const level = typeof value.level === 'number' ? value.level : undefined;
    problems.push({
      benchmark: def.name,
      id: idValue === undefined || idValue === null ? `line:${line}` : String(idValue),
      index: problems.length,
      question: question as string,
      userPrompt: def.prompt === 'math' ? mathPrompt(question as string) : (question as string),
      goldText,
      goldKind: def.goldKind,
      ...(level !== undefined ? { level } : {}),
    });
  }
  return { def, path, problems: applyLimit(requireProblems(path, problems, issues), opts.limit), issues };
}

/** Parse a comma-separated benchmark list ("aime24,math500"), validating every name. */
export function parseBenchList(list: string): string[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new Error('no benchmark named (e.g. --bench aime24,math500)');
  for (const n of names) getBenchmark(n);
  return names;
}

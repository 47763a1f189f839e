// Shared types of the math answer verifier (a TypeScript counterpart of math_verify).
// Everything here is plain data so parsed answers can cross thread boundaries and be logged as JSON.

/** MathJSON as produced by @cortex-js/compute-engine (numbers, symbols, strings, nested arrays, {num}). */
export type MathJson =
  | number
  | string
  | { num: string }
  | { str: string }
  | { sym: string }
  | MathJsonArray
  | Record<string, unknown>;
export interface MathJsonArray extends Array<MathJson> {}

/**
 * One element of parse()'s result, like math_verify.parse's list: a structured CAS value (first) and/or
 * the raw matched string (the "first_match" fallback). Compared pairwise by verifyParsed.
 */
export type ParsedAnswer =
  | { kind: 'math'; json: MathJson; latex: string; hasFloat: boolean }
  | { kind: 'string'; text: string };

/** Mirrors latex2sympy2_extended's NormalizationConfig (all true / boxed "all" by default). */
export interface NormalizationConfig {
  basicLatex: boolean;
  units: boolean;
  malformedOperators: boolean;
  nits: boolean;
  /** "all": every \boxed{} joined by ","; "last": the last box (plus boxes joined only by and/or/,); boolean: no stripping. */
  boxed: 'all' | 'last' | boolean;
  equations: boolean;
}

export interface LatexExtractionConfig {
  kind: 'latex';
  /** Also try bare LaTeX environments ($..$, \[..\], ...) without an "answer" anchor (priority 300). Default true. */
  tryExtractWithoutAnchor: boolean;
  /** Priority of \boxed{} matches (lower is tried first). math_verify default 50; Tina's rewards use 0. */
  boxedMatchPriority: number;
  normalization: NormalizationConfig;
}

export interface ExprExtractionConfig {
  kind: 'expr';
  /** Also try plain numbers/expressions anywhere in the text (priority 300). Default true. */
  tryExtractWithoutAnchor: boolean;
}

export type ExtractionConfig = LatexExtractionConfig | ExprExtractionConfig;

export interface ParseOptions {
  /** Extraction targets; shorthand strings get the default config of that kind. Default ['latex', 'expr']. */
  extraction?: ('latex' | 'expr')[] | ExtractionConfig[];
  /** first_match: stop at the first regex match even when it fails to parse; any_match: go on. Default any_match. */
  mode?: 'first_match' | 'any_match';
  /** first_match: append the first matched raw string to the result. Default first_match. */
  fallback?: 'first_match' | 'none';
  /** Override of the LaTeX configs' normalization.boxed. */
  boxed?: 'all' | 'last' | boolean;
  /** Override of the LaTeX configs' boxedMatchPriority. */
  boxedPriority?: number;
  /** Override of every config's tryExtractWithoutAnchor. */
  tryExtractWithoutAnchor?: boolean;
  /** Partial override of the LaTeX configs' normalization. */
  normalization?: Partial<NormalizationConfig>;
  /** Wall-clock work budget for CAS parsing, milliseconds (math_verify's parsing_timeout=3 s). Default 1000. */
  budgetMs?: number;
}

export interface VerifyOptions {
  /** Decimal places numbers are rounded to when either side is a float. math_verify default 6 (lighteval 5). */
  precision?: number;
  /** Wall-clock work budget for the comparison of all pairs, milliseconds. Default 1000. */
  budgetMs?: number;
  /** false: variables are matched by position, so f(x) equals f(y) (math_verify `strict`). Default true. */
  strict?: boolean;
  /**
   * Also compare an answer's relation with a gold set ("-2 <= x <= 7" against gold [-2, 7]); a gold
   * relation is always compared with an answer set (math_verify `allow_set_relation_comp`). Default false.
   */
  allowSetRelationComp?: boolean;
}

/** One place an answer may be: a priority, its span (for right-most-first ordering) and its parts. */
export interface Candidate {
  priority: number;
  start: number;
  end: number;
  kind: 'latex' | 'expr';
  /** The LaTeX/expression strings found (several when joined by and/or/, — they become a set). */
  parts: string[];
  /** Parts followed by a percent sign/word ("$28$ %", "28 pct"): value × 1/100. */
  percent?: boolean[];
  /** The plain `\boxed{..}` match: its parts are box contents chosen by the "last" rule. */
  plainBoxed?: boolean;
  /** The raw matched string: the string fallback. */
  raw: string;
  /** Index into the config list that produced this candidate. */
  config: number;
}

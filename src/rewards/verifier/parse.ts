// parse(): text -> ParsedAnswer[] like math_verify.parse. Extraction (extract.ts) finds candidates,
// normalisation (normalize.ts) cleans their LaTeX, @cortex-js/compute-engine turns it into MathJSON.
// Parsing is bounded: candidates above MAX_CAS_CHARS or nested deeper than MAX_DEPTH are not given
// to the CAS, and no new candidate is tried after the work budget is spent.
import { createRequire } from 'node:module';
import type { ComputeEngine } from '@cortex-js/compute-engine';
import { extractCandidates, type Candidate } from './extract.js';
import { DEFAULT_NORMALIZATION, normalizeLatex } from './normalize.js';
import { listAsSet, restructure } from './structure.js';
import type { ExtractionConfig, MathJson, NormalizationConfig, ParseOptions, ParsedAnswer } from './types.js';

const MAX_CAS_CHARS = 1000;
const MAX_DEPTH = 40;
const DEFAULT_BUDGET_MS = 1000;

let engine: ComputeEngine | null = null;
/**
 * One engine per thread, created on first use (construction takes ~0.3 s). The library itself is
 * loaded here too, synchronously through its CommonJS build, so that importing loractor (or any
 * module that only might verify) does not pay its ~0.3 s and ~40 MB.
 */
export function getEngine(): ComputeEngine {
  if (engine) return engine;
  const ce = createRequire(import.meta.url)('@cortex-js/compute-engine') as typeof import('@cortex-js/compute-engine');
  return (engine = new ce.ComputeEngine());
}

export function latexConfig(
  over: {
    tryExtractWithoutAnchor?: boolean;
    boxedMatchPriority?: number;
    normalization?: Partial<NormalizationConfig>;
  } = {},
): ExtractionConfig {
  return {
    kind: 'latex',
    tryExtractWithoutAnchor: over.tryExtractWithoutAnchor ?? true,
    boxedMatchPriority: over.boxedMatchPriority ?? 50,
    normalization: { ...DEFAULT_NORMALIZATION, ...(over.normalization ?? {}) },
  };
}

export function exprConfig(over: { tryExtractWithoutAnchor?: boolean } = {}): ExtractionConfig {
  return { kind: 'expr', tryExtractWithoutAnchor: over.tryExtractWithoutAnchor ?? true };
}

/** The effective extraction configs after shorthand expansion and option overrides. */
export function resolveConfigs(opts: ParseOptions): ExtractionConfig[] {
  const base = (opts.extraction ?? ['latex', 'expr']).map((c): ExtractionConfig => {
    if (c === 'latex') return latexConfig();
    if (c === 'expr') return exprConfig();
    if (typeof c === 'object' && c !== null && (c.kind === 'latex' || c.kind === 'expr')) return c;
    throw new Error(
      `verifier: opts.extraction entries must be 'latex', 'expr' or a config object, got ${JSON.stringify(c)}`,
    );
  });
  return base.map((c) => {
    if (c.kind === 'expr')
      return { ...c, tryExtractWithoutAnchor: opts.tryExtractWithoutAnchor ?? c.tryExtractWithoutAnchor };
    const normalization: NormalizationConfig = { ...c.normalization, ...(opts.normalization ?? {}) };
    if (opts.boxed !== undefined) normalization.boxed = opts.boxed;
    return {
      ...c,
      tryExtractWithoutAnchor: opts.tryExtractWithoutAnchor ?? c.tryExtractWithoutAnchor,
      boxedMatchPriority: opts.boxedPriority ?? c.boxedMatchPriority,
      normalization,
    };
  });
}

export function parse(text: string, opts: ParseOptions = {}): ParsedAnswer[] {
  if (typeof text !== 'string') throw new TypeError(`verifier.parse: text must be a string, got ${typeof text}`);
  const mode = opts.mode ?? 'any_match';
  const configs = resolveConfigs(opts);
  const deadline = Date.now() + (opts.budgetMs ?? DEFAULT_BUDGET_MS);
  const candidates = extractCandidates(text, configs);
  if (candidates.length === 0) return [];
  const out: ParsedAnswer[] = [];
  for (const c of candidates) {
    if (Date.now() > deadline) break;
    const value = candidateToMath(c, configs[c.config]);
    if (value) {
      out.push(value);
      break;
    }
    if (mode === 'first_match') break;
  }
  const fallback = candidates[0].raw.trim();
  if ((opts.fallback ?? 'first_match') === 'first_match' && fallback.length > 0)
    out.push({ kind: 'string', text: fallback });
  return out;
}

function candidateToMath(c: Candidate, cfg: ExtractionConfig): ParsedAnswer | null {
  // The plain \boxed{..} match always takes the "last" boxes (Math-Verify overrides the config).
  // boxed true/false (Tina's len/cosine answers) leaves a box in the string, which latex2sympy's
  // grammar reads as its content: the content is taken here, before normalising, so "10,080" in a
  // box still reads as one number.
  const norm =
    cfg.kind !== 'latex'
      ? null
      : c.plainBoxed
        ? { ...cfg.normalization, boxed: 'last' as const }
        : typeof cfg.normalization.boxed === 'boolean'
          ? { ...cfg.normalization, boxed: 'all' as const }
          : cfg.normalization;
  const latexParts = c.parts.map((p, i) => {
    const latex = norm ? normalizeLatex(p, norm) : exprToLatex(p);
    return c.percent?.[i] && latex.length > 0 ? `\\frac{${latex}}{100}` : latex;
  });
  const values: MathJson[] = [];
  let hasFloat = false;
  for (const latex of latexParts) {
    const v = latexToMath(latex) ?? latexToMath(lastEquation(latex));
    if (!v) return null;
    // "1, 2 and 3": a part that is itself a set contributes its elements
    if (Array.isArray(v.json) && v.json[0] === 'Set' && latexParts.length > 1)
      values.push(...(v.json.slice(1) as MathJson[]));
    else values.push(v.json);
    hasFloat ||= v.hasFloat;
  }
  const latex = latexParts.join(',');
  if (values.length === 1) return { kind: 'math', json: values[0], latex, hasFloat };
  return { kind: 'math', json: ['Set', ...values], latex, hasFloat };
}

/** Math-Verify's fallback when a LaTeX string does not parse: its last "=" part (no "," or ";" in it). */
function lastEquation(latex: string): string {
  if (/[,;]/.test(latex)) return '';
  const parts = latex.split(/(?<![\\<>!])=/);
  return parts.length > 2 ? parts[parts.length - 1] : '';
}

/** A plain-text arithmetic expression ("1,234.5", "3 * 4", "2^10", "2**(1/2)", "10%") as LaTeX. */
export function exprToLatex(expr: string): string {
  let s = expr
    .replace(/−/g, '-')
    .replace(/\*\*/g, '^')
    .replace(/×/g, '\\times ')
    .replace(/÷/g, '\\div ')
    .replace(/\*/g, '\\cdot ');
  s = s.replace(/(\d),(?=\d{3}(?!\d))/g, '$1');
  s = s.replace(/\s*percent\b/g, '%');
  s = bracedExponents(s);
  return normalizeLatex(s, {
    basicLatex: false,
    units: false,
    malformedOperators: true,
    nits: true,
    boxed: false,
    equations: false,
  });
}

/** Plain-text exponents as LaTeX groups: 2^10 -> 2^{10}, 2^(1/2) -> 2^{(1/2)} (in LaTeX 2^10 is 2^1 0). */
function bracedExponents(s: string): string {
  if (!s.includes('^')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    out += s[i];
    if (s[i] !== '^') continue;
    let j = i + 1;
    while (s[j] === ' ') j++;
    let end = j;
    if (s[j] === '(') {
      for (let depth = 0; end < s.length; end++) {
        if (s[end] === '(') depth++;
        else if (s[end] === ')' && --depth === 0) {
          end++;
          break;
        }
      }
    } else {
      if (s[end] === '-') end++;
      while (end < s.length && /[\d.]/.test(s[end])) end++;
    }
    if (end > j) {
      out += `{${s.slice(j, end)}}`;
      i = end - 1;
    }
  }
  return out;
}

function maxDepth(s: string): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch === 123 || ch === 40 || ch === 91) m = Math.max(m, ++d);
    else if (ch === 125 || ch === 41 || ch === 93) d--;
  }
  return m;
}

function containsError(j: MathJson): boolean {
  if (Array.isArray(j)) return j[0] === 'Error' || j.some((x) => containsError(x));
  return false;
}

/** LaTeX -> MathJSON via the compute engine, or null when it does not parse to a valid expression. */
export function latexToMath(latex: string): { json: MathJson; hasFloat: boolean } | null {
  let s = latex.trim();
  if (s.length === 0 || s.length > MAX_CAS_CHARS || maxDepth(s) > MAX_DEPTH) return null;
  // lone surrogates are not text a CAS can read
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s)) return null;
  s = listAsSet(s);
  try {
    // Parse without canonicalising first: canonical forms fold numbers exactly, and a power tower or
    // a huge factorial would make the CAS compute for minutes. Such answers stay strings.
    const raw = getEngine().parse(s, { form: 'raw' });
    if (tooCostly(raw.json as MathJson)) return null;
    const expr = getEngine().box(raw.json as never);
    if (!expr.isValid) return null;
    const json = expr.json as MathJson;
    if (containsError(json)) return null;
    return { json: restructure(json), hasFloat: /\d\.\d/.test(s) };
  } catch {
    return null;
  }
}

const MAX_EXPONENT = 10_000; // 2^{2023} is a real answer; 9^{9^9} is not something to expand
const MAX_FACTORIAL = 2_000;

function intLiteral(j: MathJson): number | null {
  if (typeof j === 'number') return j;
  if (Array.isArray(j) && j[0] === 'Negate') {
    const v = intLiteral(j[1]);
    return v === null ? null : -v;
  }
  if (Array.isArray(j) && j[0] === 'Delimiter') return intLiteral(j[1]);
  if (j && typeof j === 'object' && !Array.isArray(j) && typeof (j as { num?: unknown }).num === 'string')
    return Number((j as { num: string }).num);
  return null;
}

/**
 * True when evaluating the (non-canonical) expression could take unbounded time: exponents that are
 * not small literals (power towers), big factorials or binomials. Iterated operators (sums,
 * products, integrals, limits) are kept: they are compared by structure only, never evaluated
 * (see equal.ts).
 */
export function tooCostly(j: MathJson): boolean {
  if (!Array.isArray(j)) return false;
  const h = j[0];
  if (typeof h === 'string') {
    if (h === 'Power' || h === 'Root') {
      const e = intLiteral(j[2]);
      if (e === null ? containsPower(j[2]) || hasBigLiteral(j[2], 1000) : Math.abs(e) > MAX_EXPONENT) return true;
    }
    if (h === 'Factorial' || h === 'Factorial2' || h === 'Binomial' || h === 'Gamma') {
      for (const a of j.slice(1)) {
        const v = intLiteral(a);
        if (v === null || Math.abs(v) > MAX_FACTORIAL) return true;
      }
    }
  }
  return j.some((x, i) => i > 0 && tooCostly(x));
}

function containsPower(j: MathJson): boolean {
  return Array.isArray(j) && (j[0] === 'Power' || j[0] === 'Factorial' || j.some((x, i) => i > 0 && containsPower(x)));
}

function hasBigLiteral(j: MathJson, limit: number): boolean {
  const v = intLiteral(j);
  if (v !== null) return Math.abs(v) > limit;
  return Array.isArray(j) && j.some((x, i) => i > 0 && hasBigLiteral(x, limit));
}

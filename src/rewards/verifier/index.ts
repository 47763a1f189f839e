// The math answer verifier: parse / verifyParsed / verify and the extraction presets Tina, open-r1
// and lighteval use. A TypeScript counterpart of math_verify 0.5.2 (Tina's pin; tina-recipe.md §2.3), checked
// against the test suite of Math-Verify 0.8 (test/unit/verifier-math-verify.test.ts).
import { mathEqual, newBudget } from './equal.js';
import { exprConfig, latexConfig, parse } from './parse.js';
import type { ParseOptions, ParsedAnswer, VerifyOptions } from './types.js';

export { parse, latexConfig, exprConfig, resolveConfigs, latexToMath } from './parse.js';
export { normalizeLatex, DEFAULT_NORMALIZATION } from './normalize.js';
export { extractCandidates, findBoxes, findLatexEnvs } from './extract.js';
export type * from './types.js';

/** math_verify.parse defaults, used for gold solutions: LaTeX (boxed priority 50) + plain expressions. */
export const GOLD_DEFAULT: Readonly<ParseOptions> = Object.freeze({
  extraction: [latexConfig(), exprConfig()],
  mode: 'first_match',
  fallback: 'first_match',
});

/** Gold through LatexExtractionConfig() only (open-r1 @7041fbc, Tina's len/cosine rewards, lighteval latex gold). */
export const GOLD_LATEX_ONLY: Readonly<ParseOptions> = Object.freeze({
  extraction: [latexConfig()],
  mode: 'first_match',
  fallback: 'first_match',
});

/** Gold through ExprExtractionConfig() only (lighteval's expr gold for AIME/AMC). */
export const GOLD_EXPR_ONLY: Readonly<ParseOptions> = Object.freeze({
  extraction: [exprConfig()],
  mode: 'first_match',
  fallback: 'first_match',
});

/**
 * Tina's answer parse: LaTeX only, NormalizationConfig(nits=False, malformed_operators=False,
 * basic_latex, equations, units, boxed="all"), boxed priority 0, no anchorless matches, first_match.
 * Use `{ ...ANSWER_CFG, boxed: true }` for the len/cosine rewards' variant.
 */
export const ANSWER_CFG: Readonly<ParseOptions> = Object.freeze({
  extraction: [
    latexConfig({
      boxedMatchPriority: 0,
      tryExtractWithoutAnchor: false,
      normalization: { nits: false, malformedOperators: false, boxed: 'all' },
    }),
  ],
  mode: 'first_match',
  fallback: 'first_match',
});

/** lighteval's prediction targets: ExprExtractionConfig() + LatexExtractionConfig(boxed_match_priority=0). */
export const LIGHTEVAL_PRED: Readonly<ParseOptions> = Object.freeze({
  extraction: [exprConfig(), latexConfig({ boxedMatchPriority: 0 })],
  mode: 'any_match',
  fallback: 'first_match',
});

/**
 * True when ANY (gold, answer) pair matches, gold first (math_verify.verify). Structured values
 * compare mathematically; strings compare exactly after trimming; a structured value never equals
 * a string. The budget (default 1 s) bounds all pairs together; when spent the verdict is false.
 */
export function verifyParsed(gold: ParsedAnswer[], answer: ParsedAnswer[], opts: VerifyOptions = {}): boolean {
  if (!Array.isArray(gold) || !Array.isArray(answer))
    throw new TypeError('verifier.verifyParsed: gold and answer must be arrays of ParsedAnswer');
  const precision = opts.precision ?? 6;
  const budget = newBudget(opts.budgetMs ?? 1000);
  for (const g of gold) {
    for (const a of answer) {
      if (g.kind === 'string' && a.kind === 'string') {
        const x = g.text.trim();
        if (x.length > 0 && x === a.text.trim()) return true;
      } else if (g.kind === 'math' && a.kind === 'math') {
        if (textAsLetters(g, a) || textAsLetters(a, g)) return true;
        const ctx = {
          precision,
          hasFloat: g.hasFloat || a.hasFloat,
          budget,
          strict: opts.strict ?? true,
          allowSetRelationComp: opts.allowSetRelationComp ?? false,
        };
        if (mathEqual(g.json, a.json, ctx)) return true;
      }
    }
  }
  return false;
}

/**
 * A text answer against the same word written as math: \text{odd} vs "odd", which the CAS reads as
 * the product o·d·d (Math-Verify compares the concatenated symbol names, ignoring case).
 */
function textAsLetters(
  t: Extract<ParsedAnswer, { kind: 'math' }>,
  m: Extract<ParsedAnswer, { kind: 'math' }>,
): boolean {
  if (typeof t.json !== 'string' || !t.json.startsWith("'")) return false;
  const word = t.json.slice(1, -1).trim();
  const letters = m.latex.replace(/\\mathrm\{e\}/g, 'e').replace(/\s+/g, '');
  return word.length > 1 && /^[a-zA-Z]+$/.test(letters) && letters.toLowerCase() === word.toLowerCase();
}

export interface VerifyResult {
  correct: boolean;
  gold: ParsedAnswer[];
  answer: ParsedAnswer[];
  /** The LaTeX (or raw string) that gold/answer parsed from, for logs. */
  goldText?: string;
  answerText?: string;
}

/**
 * Parse both sides and compare: gold with GOLD_DEFAULT (math_verify.parse defaults), the answer with
 * Tina's ANSWER_CFG, unless overridden.
 */
export function verify(
  gold: string,
  answer: string,
  opts: VerifyOptions & { goldOptions?: ParseOptions; answerOptions?: ParseOptions } = {},
): VerifyResult {
  const g = parse(gold, opts.goldOptions ?? GOLD_DEFAULT);
  const a = parse(answer, opts.answerOptions ?? ANSWER_CFG);
  const text = (p: ParsedAnswer[]): string | undefined =>
    p[0] ? (p[0].kind === 'math' ? p[0].latex : p[0].text) : undefined;
  return { correct: verifyParsed(g, a, opts), gold: g, answer: a, goldText: text(g), answerText: text(a) };
}

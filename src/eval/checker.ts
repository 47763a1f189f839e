// Gold parsing and prediction judging for every gold kind.
//   expr / latex: the project's math verifier (src/rewards/verifier), configured as lighteval's
//     extractive-match metrics in Tina's eval (tina-recipe.md §2.4): gold with Expr or LaTeX
//     extraction, prediction with Expr + LaTeX (\boxed priority 0), any_match, precision 5.
//   integer: the synthetic task — the last \boxed{…} must equal the integer (as the accuracy reward
//     with Tina's ANSWER_CFG, which never reads an unboxed number).
//   letter: GPQA — "Answer: X" style, lighteval's NativeLetters indices in spirit.
// The verifier is loaded lazily so integer/letter benchmarks never load the CAS.
import { lastBoxed } from '../data/tasks/index.js';
import type { EvalProblem, GoldKind } from './benchmarks.js';

/** The parts of the verifier API the evaluator calls (see src/rewards/verifier/index.ts). */
interface VerifierApi {
  parse(text: string, opts?: Record<string, unknown>): unknown[];
  verifyParsed(gold: unknown[], answer: unknown[], opts?: { precision?: number }): boolean;
  GOLD_EXPR_ONLY?: Record<string, unknown>;
  GOLD_LATEX_ONLY?: Record<string, unknown>;
  LIGHTEVAL_PRED?: Record<string, unknown>;
}

export interface ParsedGold {
  kind: GoldKind;
  value: unknown;
  /** Human-readable gold for records and tables. */
  display: string;
  /** True when the verifier matched the gold text but could only keep it as a raw string. */
  stringOnly?: boolean;
}

export interface Judgement {
  /** The extracted prediction (display form), or null when nothing was extracted. */
  extracted: string | null;
  correct: boolean;
}

export interface AnswerChecker {
  /** The parsed gold, or null when the gold cannot be parsed (the problem is then excluded). */
  parseGold(p: EvalProblem): ParsedGold | null;
  judge(gold: ParsedGold, completion: string): Judgement;
}

/** lighteval's metric precision for math and GPQA. */
export const EVAL_PRECISION = 5;

function displayParsed(list: unknown[]): string | null {
  const first = list[0] as { kind?: string; latex?: string; text?: string } | undefined;
  if (!first) return null;
  return first.kind === 'math' ? String(first.latex) : String(first.text ?? JSON.stringify(first));
}

// Letter extraction: explicit "Answer: X" / "answer is (X)" (last occurrence), else \boxed{X},
// else a lone trailing letter. Linear-time regexes (no nested quantifiers).
const ANSWER_LETTER = /answer\s*(?:is)?\s*[:：]?\s*\**\s*\(?\$?([ABCD])\)?(?![A-Za-z])/gi;
export function extractLetter(text: string): string | null {
  let last: string | null = null;
  for (const m of text.matchAll(ANSWER_LETTER)) last = m[1]!.toUpperCase();
  if (last) return last;
  const boxed = lastBoxed(text);
  if (boxed && /^\s*\(?([ABCD])\)?\s*$/i.test(boxed)) return boxed.replace(/[^A-Da-d]/g, '').toUpperCase();
  const tail = /(?:^|[\s(])([ABCD])[).]?\s*$/.exec(text);
  return tail ? tail[1]! : null;
}

function integerJudge(gold: string, completion: string): Judgement {
  const boxed = lastBoxed(completion);
  if (boxed === null) return { extracted: null, correct: false };
  const t = boxed.trim();
  return { extracted: t, correct: /^[0-9]+$/.test(t) && BigInt(t) === BigInt(gold) };
}

let verifierPromise: Promise<VerifierApi> | null = null;
/** The math verifier module, imported on first use so integer/letter benchmarks never load the CAS. */
export function loadVerifier(): Promise<VerifierApi> {
  verifierPromise ??= import('../rewards/verifier/index.js');
  return verifierPromise;
}

/** Build the checker; the math verifier is loaded only when a benchmark has expr/latex golds. */
export async function createAnswerChecker(kinds: Iterable<GoldKind>): Promise<AnswerChecker> {
  const needsVerifier = [...kinds].some((k) => k === 'expr' || k === 'latex');
  const v = needsVerifier ? await loadVerifier() : null;
  const goldOpts = (kind: 'expr' | 'latex'): Record<string, unknown> => ({
    ...(kind === 'expr'
      ? (v!.GOLD_EXPR_ONLY ?? { extraction: ['expr'] })
      : (v!.GOLD_LATEX_ONLY ?? { extraction: ['latex'] })),
    mode: 'any_match',
    fallback: 'first_match',
  });
  // lighteval's extractive match runs gold and prediction extraction in any_match mode.
  const predOpts = v?.LIGHTEVAL_PRED ?? {
    extraction: ['expr', 'latex'],
    boxedPriority: 0,
    mode: 'any_match',
    fallback: 'first_match',
  };
  return {
    parseGold(p: EvalProblem): ParsedGold | null {
      switch (p.goldKind) {
        case 'integer':
          return /^[0-9]+$/.test(p.goldText) ? { kind: 'integer', value: p.goldText, display: p.goldText } : null;
        case 'letter':
          return /^[ABCD]$/.test(p.goldText) ? { kind: 'letter', value: p.goldText, display: p.goldText } : null;
        case 'expr':
        case 'latex': {
          let parsed: unknown[];
          try {
            parsed = v!.parse(p.goldText, goldOpts(p.goldKind));
          } catch {
            return null;
          }
          // Empty = unparseable (math_verify/lighteval semantics). A gold that matched but only
          // survives as the raw-string fallback still counts (lighteval compares it as a string);
          // it is flagged so reports can list it.
          if (parsed.length === 0) return null;
          const cas = parsed.some((x) => (x as { kind?: string }).kind === 'math');
          return { kind: p.goldKind, value: parsed, display: displayParsed(parsed) ?? p.goldText, stringOnly: !cas };
        }
      }
    },
    judge(gold: ParsedGold, completion: string): Judgement {
      switch (gold.kind) {
        case 'integer':
          return integerJudge(gold.value as string, completion);
        case 'letter': {
          const letter = extractLetter(completion);
          return { extracted: letter, correct: letter === gold.value };
        }
        default: {
          let pred: unknown[];
          try {
            pred = v!.parse(completion, predOpts);
          } catch {
            return { extracted: null, correct: false };
          }
          let correct = false;
          try {
            correct = pred.length > 0 && v!.verifyParsed(gold.value as unknown[], pred, { precision: EVAL_PRECISION });
          } catch {
            correct = false;
          }
          return { extracted: displayParsed(pred), correct };
        }
      }
    },
  };
}

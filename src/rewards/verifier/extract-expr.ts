// Plain-text answers (ExprExtractionConfig): numbers with thousands separators or a decimal comma
// ("1 000", "1,000.99", "1,22"), a currency sign before them, a percent sign or word after them, and
// simple arithmetic expressions ("10/9", "2 + 3"). Mirrors Math-Verify's expression regexes: an
// answer starts after whitespace, "=" or the start of the text; an expression must be followed by
// punctuation, whitespace or the end, a number need not be ("1,000.99€", "10m²"). Hand-written
// scanners keep every pass linear in the text length.
import type { Candidate, ExprExtractionConfig } from './types.js';

const MAX_PER_SOURCE = 64;
/** Anchor hits examined per anchor, right-most first (a text may repeat "answer" a million times). */
const MAX_HITS = 4096;
/** Longest arithmetic expression considered, in characters. */
const MAX_EXPR = 256;

const CURRENCY = new Set('$€£¥₹₽₪₩₫฿₡₢₣₤₥₦₧₨₭₮₯₰₱₲₳₴₵₶₷₸₺₻₼₾₿');
const OPS = new Set('+-*×/^()÷');
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const UNICODE_SPACE = /\s/;
const isSpace = (c: string | undefined): boolean =>
  c === ' ' ||
  c === '\n' ||
  c === '\t' ||
  c === '\r' ||
  c === '\f' ||
  c === '\v' ||
  (c !== undefined && c.charCodeAt(0) > 127 && UNICODE_SPACE.test(c));
const isExprChar = (c: string | undefined): boolean =>
  c !== undefined && (isDigit(c) || c === '.' || isSpace(c) || OPS.has(c));
/** What may follow an expression: `(?:\*\*)?(?:\.|,|:|\s|\)|\$|$)`. */
function suffixAt(text: string, k: number): boolean {
  if (text.startsWith('**', k)) k += 2;
  const c = text[k];
  return c === undefined || c === '.' || c === ',' || c === ':' || c === ')' || c === '$' || isSpace(c);
}

export interface ExprMatch {
  /** Where the match starts (its prefix character) and ends (after any suffix character). */
  start: number;
  end: number;
  /** The answer as a plain expression: digits without separators, or the expression text. */
  value: string;
  percent: boolean;
}

/** One past a run of digits starting at k (k itself when there is none). */
function digitsEnd(text: string, k: number): number {
  while (isDigit(text[k])) k++;
  return k;
}

/** One past `\s*(?:%|[Pp]ercentage|[Pp]ercent|[Pp]ct)` at k, or -1. */
function percentEnd(text: string, k: number): number {
  while (isSpace(text[k])) k++;
  if (text[k] === '%') return k + 1;
  if (text[k] !== 'p' && text[k] !== 'P') return -1;
  for (const w of ['ercentage', 'ercent', 'ct']) if (text.startsWith(w, k + 1)) return k + 1 + w.length;
  return -1;
}

/**
 * A number at body position b (after the prefix), with an optional currency sign before it, in
 * Math-Verify's order of forms: 1,234.56 / 1 234 (thousands groups), 123.45 / 123,45 (decimal point
 * or comma), .5, 123. Returns its value with separators removed and leading zeros dropped.
 */
function numberAt(text: string, b: number): { end: number; value: string; percent: boolean } | null {
  if (CURRENCY.has(text[b] ?? '')) b++;
  const neg = text[b] === '-';
  const k = neg ? b + 1 : b;
  let int = '';
  let frac = '';
  let end = -1;
  const intEnd = digitsEnd(text, k);
  if (text[k] !== undefined && text[k] >= '1' && text[k] <= '9') {
    // thousands groups: 1-3 digits, then one or more [ ,]ddd
    let j = Math.min(digitsEnd(text, k), k + 3);
    let groups = 0;
    while ((text[j] === ' ' || text[j] === ',') && digitsEnd(text, j + 1) >= j + 4) {
      j += 4;
      groups++;
    }
    if (groups > 0) {
      int = text.slice(k, j);
      end = j;
      if (text[j] === '.' && isDigit(text[j + 1])) {
        end = digitsEnd(text, j + 1);
        frac = '.' + text.slice(j + 1, end);
      }
    }
  }
  if (end < 0 && intEnd > k && (text[intEnd] === '.' || text[intEnd] === ',') && isDigit(text[intEnd + 1])) {
    int = text.slice(k, intEnd);
    end = digitsEnd(text, intEnd + 1);
    frac = '.' + text.slice(intEnd + 1, end);
  }
  if (end < 0 && !neg && text[b] === '.' && isDigit(text[b + 1])) {
    end = digitsEnd(text, b + 1);
    frac = text.slice(b, end);
  }
  if (end < 0 && intEnd > k) [int, end] = [text.slice(k, intEnd), intEnd];
  if (end < 0) return null;
  int = int.replace(/[ ,]/g, '').replace(/^0+/, '') || '0';
  const p = percentEnd(text, end);
  return { end: p < 0 ? end : p, value: (neg ? '-' : '') + int + frac, percent: p >= 0 };
}

/** An arithmetic expression at body position b (it must hold an operator), with its suffix. */
function exprAt(text: string, b: number): { end: number; value: string } | null {
  let k = b;
  if (text[k] === '-') k++;
  if (text[k] === '(') k++;
  if (text[k] === '-') k++;
  if (!isDigit(text[k])) return null;
  const firstDigit = k;
  let runEnd = k + 1;
  let firstOp = -1;
  while (runEnd < text.length && runEnd - b < MAX_EXPR && isExprChar(text[runEnd])) {
    if (firstOp < 0 && OPS.has(text[runEnd])) firstOp = runEnd;
    runEnd++;
  }
  if (firstOp < 0 || firstOp <= firstDigit) return null;
  // the longest body ending where a suffix follows, with at least one character after the operator
  for (let e = runEnd; e >= firstOp + 2; e--) {
    if (suffixAt(text, e))
      return { end: Math.min(text.length, e + (text.startsWith('**', e) ? 3 : 1)), value: text.slice(b, e) };
  }
  return null;
}

const isPrefix = (c: string | undefined): boolean => c === '=' || isSpace(c);

function bodyOf(text: string, s: number, atTextStart: boolean): number {
  const b = atTextStart ? s : s + 1;
  return text.startsWith('**', b) ? b + 2 : b;
}

/** Math-Verify's expression pattern with its prefix at s (or at the very start of the text). */
/**
 * For increasing positions b: does an operator occur in the run of expression characters starting
 * at b (a necessary condition for an expression there)? Both searches move forward only: O(n) total.
 */
function operatorAhead(text: string): (b: number) => boolean {
  const op = /[+\-*×/^()÷]/g;
  const stop = /[^\d.\s+\-*×/^()÷]/g;
  let nextOp = -1;
  let nextStop = -1;
  return (b) => {
    if (nextOp < b) {
      op.lastIndex = b;
      nextOp = op.exec(text)?.index ?? Infinity;
    }
    if (nextStop < b) {
      stop.lastIndex = b;
      nextStop = stop.exec(text)?.index ?? Infinity;
    }
    return nextOp < nextStop && nextOp - b < MAX_EXPR;
  };
}

function exprOnlyAt(text: string, s: number, atTextStart = false): ExprMatch | null {
  if (!atTextStart && !isPrefix(text[s])) return null;
  const e = exprAt(text, bodyOf(text, s, atTextStart));
  return e ? { start: s, end: e.end, value: e.value, percent: false } : null;
}

/**
 * Math-Verify's number pattern with its prefix at s (or at the very start of the text). Unlike
 * Math-Verify, a number glued to more mathematics ("5!", "2^{10}", "2\\sqrt{3}", "3/x") is not read
 * as that number alone: it is no answer at all.
 */
function numberOnlyAt(text: string, s: number, atTextStart = false): ExprMatch | null {
  if (!atTextStart && !isPrefix(text[s])) return null;
  const n = numberAt(text, bodyOf(text, s, atTextStart));
  if (!n || (!n.percent && GLUED.has(text[n.end] ?? ''))) return null;
  return { start: s, ...n };
}
const GLUED = new Set('!^_\\{(+-*×/÷');

/** The answer pattern with its prefix at position s: an expression, else a number. */
export function exprOrNumberAt(text: string, s: number): ExprMatch | null {
  return exprOnlyAt(text, s) ?? numberOnlyAt(text, s);
}

/** A prefix character followed by what a body can begin with (a digit, sign, point, bracket or currency). */
const START = /[\s=](?:\*\*)?[\d\-.($€£¥₹₽₪₩₫฿₡₢₣₤₥₦₧₨₭₮₯₰₱₲₳₴₵₶₷₸₺₻₼₾₿]/g;

/** Calls fn(s) for each position in [from, to) where an answer may start; stops when fn returns true. */
function forEachStart(text: string, from: number, to: number, fn: (s: number) => unknown): void {
  START.lastIndex = from;
  for (let m = START.exec(text); m && m.index < to; m = START.exec(text)) {
    if (fn(m.index) === true) return;
    START.lastIndex = m.index + 1;
  }
}

interface ExprAnchor {
  priority: number;
  re: RegExp;
  find: (text: string, at: number) => ExprMatch | null;
}

/** `(?!\s*=)` after the answer. */
const notBeforeEquals = (text: string, m: ExprMatch): boolean => !/^\s*=/.test(text.slice(m.end, m.end + 64));

/** "answer(:)" then `(?:.{0,100}=\s*|.{0,50}?)` then the answer, not followed by "=". */
function afterAnswer(text: string, at: number): ExprMatch | null {
  const nl = text.indexOf('\n', at);
  const lineEnd = nl < 0 ? text.length : nl;
  // greedy: the right-most "=" within 100 characters whose following whitespace leads to an answer
  for (let q = Math.min(lineEnd - 1, at + 100); q >= at; q--) {
    if (text[q] !== '=') continue;
    let w = q + 1;
    while (isSpace(text[w])) w++;
    if (w > q + 1) {
      const m = exprOrNumberAt(text, w - 1);
      if (m && notBeforeEquals(text, m)) return m;
    }
  }
  // lazy: the first answer starting within 50 characters
  let found: ExprMatch | null = null;
  forEachStart(text, at, Math.min(lineEnd + 1, at + 51), (s) => {
    const m = exprOrNumberAt(text, s);
    if (m && notBeforeEquals(text, m)) found = m;
    return found !== null;
  });
  return found;
}

const EXPR_ANCHORS: ExprAnchor[] = [
  {
    priority: 0,
    re: /final answer is/gi,
    find: (text, at) => {
      let w = at + (text[at] === ':' ? 1 : 0);
      while (isSpace(text[w])) w++;
      const s = text[w] === '=' ? w : w - 1;
      if (s < at || (s === w - 1 && !isSpace(text[s]))) return null;
      const m = exprOrNumberAt(text, s);
      return m && /^\.?\s?I hope/.test(text.slice(m.end, m.end + 8)) ? m : null;
    },
  },
  {
    priority: 50,
    re: /final answer/gi,
    find: (text, at) => {
      const window = /\s+is:?/g;
      window.lastIndex = at;
      for (let w = window.exec(text); w && w.index - at <= 100; w = window.exec(text)) {
        if (text.slice(at, w.index).includes('\n')) return null;
        const m = exprOrNumberAt(text, w.index + w[0].length);
        if (m) return m;
      }
      return null;
    },
  },
  { priority: 100, re: /answer:/gi, find: afterAnswer },
  { priority: 200, re: /answer/gi, find: afterAnswer },
];

/** Expression candidates of one config: anchored (priorities 0-200) and, if asked, anchorless (300). */
export function exprCandidates(
  text: string,
  cfg: ExprExtractionConfig,
  ci: number,
  anchorHits: (re: RegExp) => number[],
): Candidate[] {
  const out: Candidate[] = [];
  const cand = (m: ExprMatch, priority: number, start = m.start): Candidate => ({
    priority,
    start,
    end: m.end,
    kind: 'expr',
    parts: [m.value],
    percent: [m.percent],
    raw: m.value,
    config: ci,
  });
  for (const a of EXPR_ANCHORS) {
    const hits = anchorHits(a.re);
    const found: Candidate[] = [];
    const lowest = Math.max(0, hits.length - 2 * MAX_HITS);
    for (let h = hits.length - 2; h >= lowest && found.length < MAX_PER_SOURCE; h -= 2) {
      const m = a.find(text, hits[h + 1]);
      if (m) found.push(cand(m, a.priority, hits[h]));
    }
    out.push(...found.reverse());
  }
  if (cfg.tryExtractWithoutAnchor) {
    // Math-Verify runs the expression regex and the number regex separately (each non-overlapping)
    for (const want of ['expr', 'number'] as const) {
      const found: Candidate[] = [];
      let lastEnd = 0;
      const mayHoldExpr = operatorAhead(text);
      const consider = (s: number, atStart: boolean): void => {
        if (s < lastEnd) return;
        if (want === 'expr' && !mayHoldExpr(bodyOf(text, s, atStart))) return;
        const m = want === 'expr' ? exprOnlyAt(text, s, atStart) : numberOnlyAt(text, s, atStart);
        if (!m) return;
        found.push(cand(m, 300));
        if (found.length > 4 * MAX_PER_SOURCE) found.splice(0, found.length - MAX_PER_SOURCE);
        lastEnd = m.end;
      };
      consider(0, true);
      forEachStart(text, 0, text.length, (s) => consider(s, false));
      out.push(...found.slice(-MAX_PER_SOURCE));
    }
  }
  return out;
}

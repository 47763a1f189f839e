// Answer extraction: where in a text the answer is. Mirrors Math-Verify's regex table (priorities
// 0/50/100/200/300, boxed at boxedMatchPriority, right-most first within a priority) with
// hand-written scanners: every pass is linear in the text length, so 10 MB of text or 10,000 nested
// braces cannot trigger the catastrophic backtracking a lazy `\$(.+?)\$` regex can. Expression
// (plain number) extraction is in extract-expr.ts.
import { exprCandidates } from './extract-expr.js';
import type { Candidate, ExtractionConfig, LatexExtractionConfig } from './types.js';

export type { Candidate };

export interface LatexEnv {
  start: number;
  /** One past the closing delimiter (before any percent suffix). */
  end: number;
  content: string;
  /** One past the percent suffix ("$5$ %"), or `end` when there is none. */
  after: number;
  percent: boolean;
}

export interface Box {
  start: number; // index of the backslash of \boxed / \fbox
  end: number; // one past the closing brace
  content: string;
}

const MAX_PER_SOURCE = 64;
const MAX_JOINED = 6; // Math-Verify joins a first environment and up to 5 more into one set

/**
 * Top-level \boxed{..} / \fbox{..} with balanced braces. One stack pass that visits only braces
 * (found with indexOf, escaped \{ \} skipped), so the cost is O(n) with a small constant.
 */
export function findBoxes(text: string): Box[] {
  if (!text.includes('\\boxed') && !text.includes('\\fbox')) return [];
  const boxOpeners = new Map<number, number>(); // brace position -> box start
  for (const cmd of ['\\boxed', '\\fbox']) {
    for (let k = text.indexOf(cmd); k >= 0; k = text.indexOf(cmd, k + cmd.length)) {
      let j = k + cmd.length;
      while (j < text.length && (text.charCodeAt(j) === 32 || text.charCodeAt(j) === 9)) j++;
      if (text.charCodeAt(j) === 123) boxOpeners.set(j, k);
    }
  }
  const stack: number[] = [];
  const found: { start: number; end: number; open: number }[] = [];
  let nextOpen = text.indexOf('{');
  let nextClose = text.indexOf('}');
  while (nextOpen >= 0 || nextClose >= 0) {
    const isOpen = nextClose < 0 || (nextOpen >= 0 && nextOpen < nextClose);
    const p = isOpen ? nextOpen : nextClose;
    if (isOpen) nextOpen = text.indexOf('{', p + 1);
    else nextClose = text.indexOf('}', p + 1);
    if (isEscaped(text, p)) continue; // \{ and \} are literal braces, not grouping
    if (isOpen) stack.push(p);
    else if (stack.length > 0) {
      const open = stack.pop()!;
      const start = boxOpeners.get(open);
      if (start !== undefined) found.push({ start, end: p + 1, open });
    }
  }
  // Boxes were recorded at their closing brace: inner ones first. Keep the outermost only.
  found.sort((x, y) => x.start - y.start);
  const top: Box[] = [];
  for (const b of found) {
    if (top.length > 0 && b.start < top[top.length - 1].end) continue;
    top.push({ start: b.start, end: b.end, content: text.slice(b.open + 1, b.end - 1).trim() });
  }
  return top;
}

/** An odd number of backslashes right before position p escapes the character at p. */
function isEscaped(text: string, p: number): boolean {
  let n = 0;
  while (p - n - 1 >= 0 && text.charCodeAt(p - n - 1) === 92) n++;
  return n % 2 === 1;
}

const BOX_SEPARATOR = /\b(?:and|or)\b|,|;/;

/**
 * latex2sympy2_extended's "last" rule: the last box, plus each box before it that is close (under 10
 * characters between) or, with different content, within 70 characters and separated by and/or/,/;.
 * Consecutive identical contents are kept once. Returns the chosen contents left to right.
 */
export function lastBoxContents(text: string, boxes: readonly Box[]): string[] {
  if (boxes.length === 0) return [];
  const chosen = [boxes[boxes.length - 1].content];
  for (let k = boxes.length - 2; k >= 0; k--) {
    const between = text.slice(boxes[k].end, boxes[k + 1].start);
    const content = boxes[k].content;
    const close = between.length < 10;
    const separated = content !== chosen[chosen.length - 1] && between.length < 70 && BOX_SEPARATOR.test(between);
    if (!close && !separated) break;
    if (content !== chosen[chosen.length - 1]) chosen.push(content);
  }
  return chosen.reverse();
}

/**
 * LaTeX math environments in left-to-right, non-overlapping order, as Math-Verify's patterns find
 * them: $$..$$ and \[..\] (may span lines); $..$ ($ not preceded by a backslash or a digit) and \(..\)
 * on one line; a bare \frac{n}{m} of plain numbers. Each may be followed by a percent sign or word.
 * A delimiter whose closer does not occur again is remembered as absent, so failing searches cost
 * O(n) in total.
 */
export function findLatexEnvs(text: string): LatexEnv[] {
  const envs: LatexEnv[] = [];
  const absent = new Set<string>();
  const find = (needle: string, from: number): number => {
    if (absent.has(needle)) return -1;
    let k = text.indexOf(needle, from);
    while (k > 0 && text.charCodeAt(k - 1) === 92) k = text.indexOf(needle, k + 1); // an escaped closer is content
    if (k < 0) absent.add(needle);
    return k;
  };
  let nextNl = -2; // next newline at or after a position, cached like the delimiters
  const newlineBefore = (from: number, to: number): boolean => {
    if (nextNl !== -1 && nextNl < from) nextNl = text.indexOf('\n', from);
    return nextNl !== -1 && nextNl < to;
  };
  let nextD = -2;
  let nextB = -2;
  let i = 0;
  while (i < text.length) {
    if (nextD !== -1 && nextD < i) nextD = text.indexOf('$', i);
    if (nextB !== -1 && nextB < i) nextB = text.indexOf('\\', i);
    const p = nextD < 0 ? nextB : nextB < 0 ? nextD : Math.min(nextD, nextB);
    if (p < 0) break;
    let open = '';
    let close = '';
    let inline = false;
    if (text[p] === '$') {
      if (text[p + 1] === '$') [open, close] = ['$$', '$$'];
      else if (p > 0 && /[\\\d]/.test(text[p - 1])) {
        i = p + 1;
        continue;
      } else [open, close, inline] = ['$', '$', true];
    } else if (text[p + 1] === '[') [open, close] = ['\\[', '\\]'];
    else if (text[p + 1] === '(') [open, close, inline] = ['\\(', '\\)', true];
    else {
      const frac = BARE_FRAC;
      frac.lastIndex = p;
      const neg = p > 0 && text[p - 1] === '-' ? 1 : 0;
      if (frac.test(text)) {
        envs.push(withPercent(text, p - neg, frac.lastIndex, text.slice(p - neg, frac.lastIndex)));
        i = frac.lastIndex;
      } else i = p + 2; // some other command or escaped char (\$ included)
      continue;
    }
    const k = find(close, p + open.length);
    if (k < 0 || (inline && newlineBefore(p, k)) || k === p + open.length) {
      // inline math does not cross lines: this opener has no closer; the next delimiter may open one
      i = p + open.length;
      continue;
    }
    envs.push(withPercent(text, p, k + close.length, text.slice(p + open.length, k)));
    i = k + close.length;
  }
  return envs;
}

function withPercent(text: string, start: number, end: number, content: string): LatexEnv {
  const after = percentSuffixEnd(text, end);
  return { start, end, content, after: after < 0 ? end : after, percent: after >= 0 };
}

const PERCENT_WORDS = ['ercentage', 'ercent', 'ct'];
/** One past `\s*(?:\\?%|[Pp]ercentage|[Pp]ercent|[Pp]ct)` at k (not followed by a letter), or -1. */
function percentSuffixEnd(text: string, k: number): number {
  while (k < text.length && (text[k] === ' ' || text[k] === '\n' || text[k] === '\t' || text[k] === '\r')) k++;
  const c = text[k];
  if (c === '%') return k + 1;
  if (c === '\\' && text[k + 1] === '%') return k + 2;
  if (c !== 'p' && c !== 'P') return -1;
  for (const w of PERCENT_WORDS) {
    const e = k + 1 + w.length;
    if (text.startsWith(w, k + 1) && !/[a-zA-Z]/.test(text[e] ?? '')) return e;
  }
  return -1;
}

/** Math-Verify's plain-context environment: a bare \frac of two plain numbers. */
const BARE_FRAC = /\\frac\{-?\d+(?:[.,]\d+)?\}\{-?\d+(?:[.,]\d+)?\}/y;

// Math-Verify: `\s*(?:,?and|,?or|,)\s*` between joined environments.
const JOINER = /^\s*(?:,?and|,?or|,)\s*$/;

/** Environments k, k+1, ... joined by and/or/, (at most MAX_JOINED), as one group. */
function groupFrom(
  text: string,
  envs: LatexEnv[],
  k: number,
  accept: (e: LatexEnv) => boolean = () => true,
): LatexEnv[] {
  const group = [envs[k]];
  while (group.length < MAX_JOINED && k + group.length < envs.length) {
    const next = envs[k + group.length];
    const prev = group[group.length - 1];
    if (!accept(next) || next.start - prev.after > 200 || !JOINER.test(text.slice(prev.after, next.start))) break;
    group.push(next);
  }
  return group;
}

/** Left-to-right non-overlapping groups (as a regex's finditer would find them). */
function groupAll(text: string, envs: LatexEnv[], accept: (e: LatexEnv) => boolean = () => true): LatexEnv[][] {
  const groups: LatexEnv[][] = [];
  for (let k = 0; k < envs.length; ) {
    if (!accept(envs[k])) {
      k++;
      continue;
    }
    const g = groupFrom(text, envs, k, accept);
    groups.push(g);
    k += g.length;
  }
  return groups;
}

/**
 * Anchors in the order Math-Verify tries them. `re` finds the anchor words; the environment then
 * starts right after `gap` (a sticky regex), or is the first one starting within `window`
 * characters (the regexes' lazy `.{0,N}?`).
 */
interface Anchor {
  priority: number;
  re: RegExp;
  gap?: RegExp;
  window?: number;
  tail?: RegExp; // sticky: must follow the environment group, e.g. ". I hope"
}
const ANCHORS: Anchor[] = [
  { priority: 0, re: /final answer is/gi, gap: /:?\s*/y, tail: /\.?\s?I hope/y },
  // `final answer.{0,100}?\s+is:?\s*`: searched as "\s+is" occurrences starting within 100 characters
  { priority: 50, re: /final answer/gi, gap: /\s+is:?\s*/g },
  { priority: 100, re: /answer:/gi, window: 50 },
  { priority: 200, re: /answer/gi, window: 50 },
];

export function extractCandidates(text: string, configs: ExtractionConfig[]): Candidate[] {
  const out: Candidate[] = [];
  let envs: LatexEnv[] | null = null;
  const getEnvs = (): LatexEnv[] => (envs ??= findLatexEnvs(text));
  let boxes: Box[] | null = null;
  const hitCache = new Map<RegExp, number[]>();
  const anchorHits = (re: RegExp): number[] => {
    let hits = hitCache.get(re);
    if (!hits) {
      hits = [];
      for (const m of text.matchAll(re)) hits.push(m.index!, m.index! + m[0].length);
      hitCache.set(re, hits);
    }
    return hits;
  };
  // Candidates are tried right-most first and parsing stops at the first success (or the budget),
  // so each producer keeps only its right-most MAX_PER_SOURCE matches: bounded sort and memory.
  const keep = (list: Candidate[]): void => {
    for (const c of list.length > MAX_PER_SOURCE ? list.slice(-MAX_PER_SOURCE) : list) out.push(c);
  };
  configs.forEach((cfg, ci) => {
    if (cfg.kind === 'expr') {
      // already bounded per anchor and per pattern (keep() would drop the anchored ones)
      for (const c of exprCandidates(text, cfg, ci, anchorHits)) out.push(c);
      return;
    }
    if (cfg.boxedMatchPriority >= 0) {
      boxes ??= findBoxes(text);
      if (boxes.length > 0) addBoxCandidates(text, boxes, getEnvs(), cfg, ci, keep);
    }
    for (const a of ANCHORS) {
      const hits = anchorHits(a.re);
      if (hits.length > 0) keep(anchorCandidates(text, a, getEnvs(), hits, ci));
    }
    if (cfg.tryExtractWithoutAnchor) {
      // only the right-most environments can become kept candidates: group just the tail
      const tail = getEnvs().slice(-(MAX_PER_SOURCE + 1) * MAX_JOINED);
      keep(
        groupAll(text, tail)
          .slice(-MAX_PER_SOURCE)
          .map((g) => envCandidate(g, 300, ci, g[0].start)),
      );
    }
  });
  // lower priority first; within a priority the right-most match first (end desc, start asc)
  out.sort((a, b) => a.priority - b.priority || b.end - a.end || a.start - b.start);
  return out;
}

/** Walk an anchor's hits right to left and stop once MAX_PER_SOURCE candidates are found. */
function anchorCandidates(text: string, a: Anchor, envs: LatexEnv[], hits: number[], ci: number): Candidate[] {
  const found: Candidate[] = [];
  let e = envs.length; // envs are sorted by start: walk an index down as hits move left
  for (let h = hits.length - 2; h >= 0 && found.length < MAX_PER_SOURCE; h -= 2) {
    const at = hits[h + 1];
    while (e > 0 && envs[e - 1].start >= at) e--;
    // envs[e] is the first environment starting at or after the anchor
    let k = -1;
    if (a.window !== undefined) {
      if (e < envs.length && envs[e].start - at <= a.window) k = e;
    } else k = envAfterGap(text, a.gap!, at, envs, e);
    if (k < 0) continue;
    const group = groupFrom(text, envs, k);
    if (a.tail) {
      a.tail.lastIndex = group[group.length - 1].after;
      if (!a.tail.test(text)) continue;
    }
    found.push(envCandidate(group, a.priority, ci, hits[h]));
  }
  return found.reverse();
}

/** The environment starting right where `gap` ends after position at (sticky gap: at at; global gap: within 100 characters). */
function envAfterGap(text: string, gap: RegExp, at: number, envs: LatexEnv[], from: number): number {
  const starts = (pos: number): number => {
    for (let j = from; j < envs.length && envs[j].start <= pos; j++) if (envs[j].start === pos) return j;
    return -1;
  };
  gap.lastIndex = at;
  if (gap.sticky) return gap.test(text) ? starts(gap.lastIndex) : -1;
  for (let tries = 0, m = gap.exec(text); m && m.index - at <= 100 && tries < 8; tries++, m = gap.exec(text)) {
    const j = starts(m.index + m[0].length);
    if (j >= 0) return j;
    gap.lastIndex = m.index + 1;
  }
  return -1;
}

function envCandidate(group: LatexEnv[], priority: number, config: number, start: number): Candidate {
  const end = group[group.length - 1].after;
  return {
    priority,
    start,
    end,
    kind: 'latex',
    parts: group.map((e) => e.content),
    percent: group.map((e) => e.percent),
    raw: group.map((e) => e.content).join(','),
    config,
  };
}

/**
 * Boxed answers at cfg.boxedMatchPriority, as Math-Verify's two boxed patterns: environments that
 * contain a box (joined by and/or/,; normalised with the config's boxed mode), and the plain
 * `\boxed{.+}` match from the first `\boxed{` to the last `}` of the text, whose boxes are chosen by
 * the "last" rule whatever the config says.
 */
function addBoxCandidates(
  text: string,
  boxes: Box[],
  envs: LatexEnv[],
  cfg: LatexExtractionConfig,
  ci: number,
  keep: (c: Candidate[]) => void,
): void {
  if (boxes.length === 0) return;
  const hasBox = (e: LatexEnv): boolean => e.content.includes('\\boxed') || e.content.includes('\\fbox');
  keep(
    groupAll(text, envs, hasBox)
      .slice(-MAX_PER_SOURCE)
      .map((g) => envCandidate(g, cfg.boxedMatchPriority, ci, g[0].start)),
  );
  // (loractor also starts it at a bare \fbox{..}, which Math-Verify's pattern does not match)
  const firstBoxed = text.indexOf('\\boxed{');
  const firstFbox = text.indexOf('\\fbox{');
  const first = firstBoxed < 0 ? firstFbox : firstFbox < 0 ? firstBoxed : Math.min(firstBoxed, firstFbox);
  const lastBrace = text.lastIndexOf('}');
  if (first < 0 || lastBrace < first) return;
  const inside = boxes.filter((b) => b.start >= first && b.end <= lastBrace + 1);
  const parts = lastBoxContents(text, inside);
  if (parts.length === 0) return;
  keep([
    {
      priority: cfg.boxedMatchPriority,
      start: first,
      end: lastBrace + 1,
      kind: 'latex',
      parts: [parts.join(',')],
      plainBoxed: true,
      raw: parts.join(','),
      config: ci,
    },
  ]);
}

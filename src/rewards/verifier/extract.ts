// Answer extraction: where in a text the answer is. Mirrors math_verify 0.5.2's regex table
// (priorities 0/50/100/200/300, boxed at boxedMatchPriority, right-most first within a priority)
// but with hand-written scanners: every pass is linear in the text length, so 10 MB of text or
// 10,000 nested braces cannot trigger the catastrophic backtracking a lazy `\$(.+?)\$` regex can.
import type { ExtractionConfig, LatexExtractionConfig } from './types.js';

/** One place an answer may be: a priority, its span (for right-most-first ordering) and its parts. */
export interface Candidate {
  priority: number;
  start: number;
  end: number;
  kind: 'latex' | 'expr';
  /** The LaTeX/expression strings found (several when joined by and/or/, — they become a set). */
  parts: string[];
  /** The raw matched string: the string fallback. */
  raw: string;
  /** Index into the config list that produced this candidate. */
  config: number;
}

export interface LatexEnv {
  start: number;
  end: number;
  content: string;
}

interface Box {
  start: number; // index of the backslash of \boxed / \fbox
  end: number; // one past the closing brace
  content: string;
  line: number;
}

const MAX_PER_SOURCE = 64;
const MAX_JOINED = 5; // math_verify joins at most 5 environments into one set

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
  let line = 0;
  let lineScan = 0; // newlines are counted incrementally up to each top-level box start
  for (const b of found) {
    if (top.length > 0 && b.start < top[top.length - 1].end) continue;
    for (let k = text.indexOf('\n', lineScan); k >= 0 && k < b.start; k = text.indexOf('\n', k + 1)) line++;
    lineScan = b.start;
    top.push({ start: b.start, end: b.end, content: text.slice(b.open + 1, b.end - 1), line });
  }
  return top;
}

/** An odd number of backslashes right before position p escapes the character at p. */
function isEscaped(text: string, p: number): boolean {
  let n = 0;
  while (p - n - 1 >= 0 && text.charCodeAt(p - n - 1) === 92) n++;
  return n % 2 === 1;
}

/**
 * LaTeX math environments in left-to-right, non-overlapping order: $$..$$, \[..\], \(..\), $..$
 * ($ not preceded by a backslash or a digit, as in math_verify). A delimiter whose closer does not
 * occur again is remembered as absent, so failing searches cost O(n) in total.
 */
export function findLatexEnvs(text: string): LatexEnv[] {
  const envs: LatexEnv[] = [];
  const absent = new Set<string>();
  const find = (needle: string, from: number): number => {
    if (absent.has(needle)) return -1;
    let k = text.indexOf(needle, from);
    // a closing "$" must not be escaped
    while (k > 0 && needle === '$' && text.charCodeAt(k - 1) === 92) k = text.indexOf(needle, k + 1);
    if (k < 0) absent.add(needle);
    return k;
  };
  // next "$" / "\\" at or after i, re-searched only when i passes the cached hit: O(n) overall
  let nextD = -2;
  let nextB = -2;
  let i = 0;
  while (i < text.length) {
    if (nextD !== -1 && nextD < i) nextD = text.indexOf('$', i);
    if (nextB !== -1 && nextB < i) nextB = text.indexOf('\\', i);
    const d = nextD;
    const b = nextB;
    const p = d < 0 ? b : b < 0 ? d : Math.min(d, b);
    if (p < 0) break;
    const c = text[p];
    let open = '';
    let close = '';
    if (c === '$') {
      if (text[p + 1] === '$') {
        open = '$$';
        close = '$$';
      } else if (p > 0 && /[\\\d]/.test(text[p - 1])) {
        i = p + 1;
        continue;
      } else {
        open = '$';
        close = '$';
      }
    } else if (text[p + 1] === '[') {
      open = '\\[';
      close = '\\]';
    } else if (text[p + 1] === '(') {
      open = '\\(';
      close = '\\)';
    } else {
      i = p + 2; // some other command or escaped char (\$ included)
      continue;
    }
    const k = find(close, p + open.length + 1);
    if (k < 0) {
      i = p + open.length;
      continue;
    }
    envs.push({ start: p, end: k + close.length, content: text.slice(p + open.length, k) });
    i = k + close.length;
  }
  return envs;
}

const JOINER = /^\s*(?:,|;|\band\b|\bor\b|\\text\{\s*(?:and|or)\s*\}|\\(?:quad|qquad))?\s*$/i;

/** Merge runs of environments separated only by and/or/commas (at most MAX_JOINED) into groups. */
function groupEnvs(text: string, envs: LatexEnv[]): LatexEnv[][] {
  const groups: LatexEnv[][] = [];
  for (const e of envs) {
    const g = groups[groups.length - 1];
    if (g && g.length < MAX_JOINED) {
      const gap = e.start - g[g.length - 1].end;
      if (gap <= 12 && JOINER.test(text.slice(g[g.length - 1].end, e.start))) {
        g.push(e);
        continue;
      }
    }
    groups.push([e]);
  }
  return groups;
}

const NUM = String.raw`(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+`;
// numbers, optionally signed, joined by simple arithmetic operators, optional trailing percent
const EXPR_SRC = String.raw`[-−]?(?:${NUM})(?:[ \t]*[-+*/^×÷][ \t]*[-−]?(?:${NUM}))*(?:[ \t]*(?:%|\\%| percent\b))?`;

/** Anchors in the order math_verify tries them; the regexes are literal-led and linear. */
interface Anchor {
  priority: number;
  re: RegExp; // global, matched against the original text; ends where the answer starts
  tail?: RegExp; // must follow the answer (sticky), e.g. ". I hope"
}
const ANCHORS: Anchor[] = [
  { priority: 0, re: /final answer is[ \t]*:?[ \t]*/gi, tail: /[\s.]{0,4}I hope/iy },
  { priority: 50, re: /final answer(?:[^\n]{0,100}?)[ \t]is[ \t]*:?[ \t]*/gi },
  { priority: 100, re: /answer[ \t]*:[ \t]*/gi },
  { priority: 200, re: /answer(?:[ \t]+is)?[ \t]*/gi },
];

export function extractCandidates(text: string, configs: ExtractionConfig[]): Candidate[] {
  const out: Candidate[] = [];
  let envs: LatexEnv[] | null = null;
  let envByStart: Map<number, number> | null = null;
  const getEnvs = (): LatexEnv[] => (envs ??= findLatexEnvs(text));
  const getEnvIndex = (): Map<number, number> => {
    if (!envByStart) {
      envByStart = new Map();
      getEnvs().forEach((e, k) => envByStart!.set(e.start, k));
    }
    return envByStart;
  };
  let boxes: Box[] | null = null;
  // [start, end] pairs of each anchor's matches, shared by the LaTeX and expression configs
  const hitCache = new Map<Anchor, number[]>();
  const anchorHits = (a: Anchor): number[] => {
    let hits = hitCache.get(a);
    if (!hits) {
      hits = [];
      for (const m of text.matchAll(a.re)) hits.push(m.index!, m.index! + m[0].length);
      hitCache.set(a, hits);
    }
    return hits;
  };

  // Candidates are tried right-most first and parsing stops at the first success (or the budget),
  // so each producer keeps only its right-most MAX_PER_SOURCE matches: bounded sort and memory.
  const keep = (list: Candidate[]): void => {
    for (const c of list.length > MAX_PER_SOURCE ? list.slice(-MAX_PER_SOURCE) : list) out.push(c);
  };
  configs.forEach((cfg, ci) => {
    if (cfg.kind === 'latex') {
      boxes ??= findBoxes(text);
      addBoxCandidates(text, boxes, cfg, ci, out);
      for (const a of ANCHORS) {
        const found: Candidate[] = [];
        // walk the anchor hits right to left and stop once MAX_PER_SOURCE candidates are found
        const hits = anchorHits(a);
        for (let h = hits.length - 2; h >= 0 && found.length < MAX_PER_SOURCE; h -= 2) {
          const at = hits[h + 1];
          const k = getEnvIndex().get(at);
          if (k === undefined) continue;
          const group = [getEnvs()[k]];
          while (group.length < MAX_JOINED && k + group.length < getEnvs().length) {
            const next = getEnvs()[k + group.length];
            const between = text.slice(group[group.length - 1].end, next.start);
            if (between.length > 12 || !JOINER.test(between)) break;
            group.push(next);
          }
          const end = group[group.length - 1].end;
          if (a.tail) {
            a.tail.lastIndex = end;
            if (!a.tail.test(text)) continue;
          }
          found.push(envCandidate(text, group, a.priority, ci, hits[h]));
        }
        keep(found.reverse());
      }
      if (cfg.tryExtractWithoutAnchor) {
        // only the right-most environments can become kept candidates: group just the tail
        const tail = getEnvs().slice(-(MAX_PER_SOURCE + 1) * MAX_JOINED);
        keep(groupEnvs(text, tail).slice(-MAX_PER_SOURCE).map((g) => envCandidate(text, g, 300, ci, g[0].start)));
      }
    } else {
      for (const a of ANCHORS) {
        const re = new RegExp(EXPR_SRC, 'y');
        const found: Candidate[] = [];
        const hits = anchorHits(a);
        for (let h = hits.length - 2; h >= 0 && found.length < MAX_PER_SOURCE; h -= 2) {
          const at = hits[h + 1];
          re.lastIndex = at;
          const e = re.exec(text);
          if (!e || !exprBoundaryAfter(text, at + e[0].length)) continue;
          if (a.tail) {
            a.tail.lastIndex = at + e[0].length;
            if (!a.tail.test(text)) continue;
          }
          found.push({ priority: a.priority, start: hits[h], end: at + e[0].length, kind: 'expr', parts: [e[0]], raw: e[0], config: ci });
        }
        keep(found.reverse());
      }
      if (cfg.tryExtractWithoutAnchor) {
        const re = new RegExp(EXPR_SRC, 'g');
        const found: Candidate[] = [];
        for (const e of text.matchAll(re)) {
          const s = e.index!;
          if (s > 0 && !/[\s=(\[{:$]/.test(text[s - 1])) continue;
          if (!exprBoundaryAfter(text, s + e[0].length)) continue;
          found.push({ priority: 300, start: s, end: s + e[0].length, kind: 'expr', parts: [e[0]], raw: e[0], config: ci });
          if (found.length > 4 * MAX_PER_SOURCE) found.splice(0, found.length - MAX_PER_SOURCE);
        }
        keep(found);
      }
    }
  });
  // lower priority first; within a priority the right-most match first (end desc, start asc)
  out.sort((a, b) => a.priority - b.priority || b.end - a.end || a.start - b.start);
  return out;
}

function exprBoundaryAfter(text: string, k: number): boolean {
  return k >= text.length || /[\s.,;:!?)\]}$]/.test(text[k]);
}

function envCandidate(text: string, group: LatexEnv[], priority: number, config: number, start: number): Candidate {
  const end = group[group.length - 1].end;
  return {
    priority,
    start,
    end,
    kind: 'latex',
    parts: group.map((e) => e.content),
    raw: group.map((e) => e.content).join(','),
    config,
  };
}

/** One candidate per line holding boxes (math_verify's `\\boxed{.+}` does not cross newlines). */
function addBoxCandidates(text: string, boxes: Box[], cfg: LatexExtractionConfig, ci: number, out: Candidate[]): void {
  let i = 0;
  while (i < boxes.length) {
    let j = i;
    while (j + 1 < boxes.length && boxes[j + 1].line === boxes[i].line) j++;
    let chosen = boxes.slice(i, j + 1);
    if (cfg.normalization.boxed !== 'all') {
      // "last": the last box plus the boxes before it that are joined to it only by and/or/,
      // (positions are in the same text, so the gap is the substring between them)
      let k = chosen.length - 1;
      while (k > 0 && chosen[k].start - chosen[k - 1].end <= 12 && JOINER.test(text.slice(chosen[k - 1].end, chosen[k].start).replace(/\$/g, ''))) k--;
      chosen = chosen.slice(k);
    }
    out.push({
      priority: cfg.boxedMatchPriority,
      start: chosen[0].start,
      end: chosen[chosen.length - 1].end,
      kind: 'latex',
      parts: chosen.map((b) => b.content),
      raw: chosen.map((b) => b.content).join(','),
      config: ci,
    });
    i = j + 1;
  }
}

// LaTeX normalisation before CAS parsing: the rules of latex2sympy2_extended 1.0.6 `normalize_latex`
// (as used by math_verify 0.5.2), grouped like its NormalizationConfig flags. Every regex here is
// linear: single character classes under each quantifier, no nested unbounded repetition.
import { findBoxes, lastBoxContents } from './extract.js';
import type { NormalizationConfig } from './types.js';

export const DEFAULT_NORMALIZATION: NormalizationConfig = {
  basicLatex: true,
  units: true,
  malformedOperators: true,
  nits: true,
  boxed: 'all',
  equations: true,
};

/** Longer strings are left alone: they will not be CAS-parsed anyway (see parse.ts MAX_CAS_CHARS). */
const MAX_NORMALIZE_CHARS = 20_000;

// Unit words removed after a number (latex2sympy2_extended's list, abridged to the common ones).
const UNIT_WORDS = [
  'degrees?',
  'deg',
  'radians?',
  'rad',
  'meters?',
  'metres?',
  'centimeters?',
  'millimeters?',
  'kilometers?',
  'cm',
  'mm',
  'km',
  'm',
  'inch(?:es)?',
  'in',
  'feet',
  'foot',
  'ft',
  'yards?',
  'yd',
  'miles?',
  'mi',
  'mph',
  'kph',
  'km/h',
  'm/s',
  'seconds?',
  'secs?',
  's',
  'minutes?',
  'mins?',
  'hours?',
  'hrs?',
  'h',
  'days?',
  'weeks?',
  'months?',
  'years?',
  'grams?',
  'g',
  'kilograms?',
  'kg',
  'mg',
  'pounds?',
  'lbs?',
  'ounces?',
  'oz',
  'tons?',
  'liters?',
  'litres?',
  'l',
  'ml',
  'gallons?',
  'quarts?',
  'pints?',
  'cups?',
  'dollars?',
  'cents?',
  'units?',
  'square',
  'sq',
  'cubic',
  'cu',
  'points?',
  'people',
  'persons?',
  'students?',
  'ways?',
  'times',
  'sides?',
  'edges?',
  'faces?',
  'vertices',
  'marbles?',
  'coins?',
  'boxes',
  'books?',
  'pages?',
  'apples?',
  'eggs?',
  'balls?',
  'cars?',
  'trees?',
  'boys?',
  'girls?',
  'children',
  'men',
  'women',
  'ergs?',
  'joules?',
  'j',
  'watts?',
  'w',
  'volts?',
  'v',
  'amps?',
  'ohms?',
  'hz',
  'kelvin',
  'k',
  'ev',
  'kev',
  'mev',
  'gev',
  'au',
  'pc',
  'kpc',
  'mpc',
  'ly',
  'nm',
  'angstroms?',
  'newtons?',
  'n',
  'pa',
  'atm',
];
const UNIT_ALT = UNIT_WORDS.join('|');
const TEXT_UNIT_RE = new RegExp(
  String.raw`\\text\{\s*(?:${UNIT_ALT})(?:\s*/\s*(?:${UNIT_ALT}))?\s*\}(?:\^\{?\d\}?)?`,
  'gi',
);
const BARE_UNIT_RE = new RegExp(String.raw`([\d}])\s+(?:${UNIT_ALT})\b(?:\^\{?\d\}?)?(?=\s|$|[.,;])`, 'gi');

/**
 * Content of the boxes in `s` per the boxed rule: "all" joins every box by "," (consecutive
 * identical contents once), "last" keeps the last box and its close or and/or-separated neighbours.
 */
function stripBoxes(s: string, mode: 'all' | 'last'): string {
  const boxes = findBoxes(s);
  if (boxes.length === 0) return s;
  if (mode === 'last') return lastBoxContents(s, boxes).join(',');
  return boxes
    .map((b) => b.content)
    .filter((c, i, all) => i === 0 || c !== all[i - 1])
    .join(',');
}

/**
 * latex2sympy's `\approx`: "x \approx 11" is 11 (an only-symbols left side is named, the value is
 * on the right); "1/3 \approx 0.33" is 1/3 (the approximation is dropped).
 */
function dropApprox(s: string): string {
  const k = s.indexOf('\\approx');
  if (k < 0) return s;
  const left = s.slice(0, k);
  const right = s.slice(k + '\\approx'.length);
  return /^\s*[a-zA-Z](?:_\{?\w+\}?)?\s*$/.test(left) ? dropApprox(right) : left;
}

/** Matrices as latex2sympy reads them: [\begin{array}..\end{array}] is a matrix; a trailing row break is not a row. */
function normalizeMatrices(s: string): string {
  if (!s.includes('\\begin{')) return s;
  return s
    .replace(/\\\\\s*(?=\\end\{)/g, '')
    .replace(/[[(]\s*(\\begin\{array\})/g, '$1')
    .replace(/(\\end\{array\})\s*[\])]/g, '$1');
}

/** A ratio a:b is a quotient (latex2sympy's `:` is division); a:0 / 12:00 (a clock time) stays as written. */
function ratiosAsQuotients(s: string): string {
  if (!s.includes(':')) return s;
  return s.replace(/(?<![\\:])\s*:(?![=:])\s*(?!0+(?![\d.]))/g, ' \\div ');
}

export function normalizeLatex(input: string, cfg: NormalizationConfig): string {
  let s = input;
  if (s.length > MAX_NORMALIZE_CHARS) return s;
  if (cfg.boxed === 'all' || cfg.boxed === 'last') s = stripBoxes(s, cfg.boxed);

  if (cfg.basicLatex) {
    s = s.replace(/[\n\t\r]/g, ' ');
    // "\\frac" (doubly escaped) -> "\frac"; in a matrix "\\" is a row break
    if (!/matrix|array/.test(s)) s = s.replace(/\\\\(?=[a-zA-Z])/g, '\\');
    s = s.replace(/\\(?:left|right)\s*\.|\\(?:left|right|[bB]igg?[lr]?)(?![a-zA-Z])/g, '');
    s = normalizeMatrices(s);
    s = s.replace(/\^\{?\\(?:mathrm|text)\{(?:th|st|nd|rd)\}\}?/g, '');
    s = s.replace(/\\mathrm\{th\}/g, '');
    s = s.replace(/\\!\s*/g, '');
    s = s.replace(/\\displaystyle|\\textstyle/g, '');
    s = s.replace(/\\\$|\$/g, '');
    s = s.replace(/"/g, '');
    s = s.replace(
      /\\(?:mathrm|mathit|mathbf|mathsf|textbf|textit|textrm|textnormal|textup|mbox|bf|rm|it)\s*\{/g,
      '\\text{',
    );
    s = s.replace(/\\text\{\s*\}/g, '');
    // \mathrm{e} -> e, \mathbf{10} -> 10: a lone letter or number in text style is still math
    s = s.replace(/\\text\{\s*([a-zA-Z]|\d[\d.,]*)\s*\}/g, '$1');
    s = s.replace(/\\text\{\s*(?:percentage|percent|pct)\s*\}/g, '\\%');
    // \text{(C)}: a multiple-choice letter in parentheses is the letter
    s = s.replace(/\\text\{\s*\(\s*([A-Za-z])\s*\)\s*\}/g, '$1');
    s = s.replace(/\\[dtc]frac/g, '\\frac');
    s = s.replace(/~=/g, '\\approx');
    s = s.replace(/\s*\{\s*,\s*\}/g, ',');
    s = s.replace(/,?\s*\\text\{\s*(?:and|or)\s*\}/g, ',');
    s = s.replace(/(?<![a-zA-Z\\])(?:,?\s*(?:and|or))(?![a-zA-Z])/g, ',');
    s = s.replace(/\\q?quad/g, ' ');
    s = s.replace(/(?<!\\)\\[ ,;:]|~/g, ' ');
    s = s.replace(/\\(?:ldots|cdots|dots)(?![a-zA-Z])/g, ' ');
    s = s.replace(/(?<![\\a-zA-Z])(?:infinity|inf)(?![a-zA-Z])/g, '\\infty');
    s = s.replace(/\s*\b(?:percentage|percent|pct)\b/g, '\\%');
    s = s.replace(/(^|\s)sqrt(?=[\s({\d])/g, '$1\\sqrt');
    s = s.replace(/(^|[\s{(,=])\.(\d)/g, '$10.$2');
    s = ratiosAsQuotients(dropApprox(s));
  }

  if (cfg.units) {
    s = s.replace(/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°|\\degree/g, '');
    s = s.replace(TEXT_UNIT_RE, '');
    // a trailing \text{..} after a value is a unit (e.g. "5\text{ apples}")
    s = s.replace(/([^\s{])\s*\\text\{[^{}]*\}(?:\^\{?\d\}?)?\s*$/, '$1');
    s = s.replace(BARE_UNIT_RE, '$1');
  }

  if (cfg.equations && !/[,;]/.test(s)) {
    // "x = y = 5" -> "5"; a single "x = 5" stays an equation (compared as an assignment)
    const parts = s.split(/(?<![<>!\\:])=(?!=)/);
    if (parts.length > 2) s = parts[parts.length - 1];
  }

  if (cfg.malformedOperators) {
    s = s.replace(/\\frac\s*(\d)\s*(\d)/g, '\\frac{$1}{$2}');
    s = s.replace(/\\frac\s*(\d)\s*\{/g, '\\frac{$1}{');
    s = s.replace(/\\frac\s*\{([^{}]*)\}\s*(\d)/g, '\\frac{$1}{$2}');
    s = s.replace(/\\sqrt\s*(\d|[a-zA-Z](?![a-zA-Z]))/g, '\\sqrt{$1}');
    s = s.replace(/(?<!\\)\bsqrt\s*\(([^()]*)\)/g, '\\sqrt{$1}');
    s = s.replace(/^\s*(-?\d+)\s*\/\s*(\d+)\s*$/, '\\frac{$1}{$2}');
  }

  // percent: "10\%" -> 10 * 1/100 exactly (math_verify: gold 10 vs 10% is not equal)
  s = s.replace(/(\d+(?:\.\d+)?)\s*\\?%/g, '\\frac{$1}{100}');
  s = s.replace(/\\?%/g, '');

  // thousands separators when the whole answer is one number: 1,000,000 / 1\,000 / 1 000
  const t = s.trim();
  if (/^-?\d{1,3}(?:(?:,|\s)\d{3})+(?:\.\d+)?$/.test(t)) s = t.replace(/[,\s]/g, '');

  if (cfg.nits) {
    s = s.replace(/^\s*\.(\d)/, '0.$1');
    if (s.trim() === '0.5') s = '\\frac{1}{2}';
  }
  return trimEnd(s.trim());
}

/** Drop trailing dots and spaces ("5." -> "5") with a loop: `/[.\s]+$/` is quadratic on long runs. */
function trimEnd(s: string): string {
  let k = s.length;
  while (k > 0 && (s[k - 1] === '.' || s[k - 1] === ' ')) k--;
  return s.slice(0, k).trim();
}

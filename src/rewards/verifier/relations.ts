// Relations as Math-Verify compares them: assignment chains ("x = 5 + 5 = 10" is x = 10), a
// relation against a set ("-2 <= x <= 7" is [-2, 7], "1 <= |z| <= 3/2" is [-3/2, -1] ∪ [1, 3/2]),
// and equations that are the same up to rearranging and scaling ("2x + 4y - 3 = 0" is
// "y = -x/2 + 3/4").
import { isOnlySymbols } from './structure.js';
import type { MathJson } from './types.js';
import { args, head } from './mathjson.js';

export const RELATIONS = new Set(['Equal', 'NotEqual', 'Less', 'LessEqual', 'Greater', 'GreaterEqual']);
const INVERSE: Record<string, string> = {
  Less: 'Greater',
  LessEqual: 'GreaterEqual',
  Greater: 'Less',
  GreaterEqual: 'LessEqual',
  Equal: 'Equal',
  NotEqual: 'NotEqual',
};

export const isRelationHead = (h: string | null): boolean => h !== null && RELATIONS.has(h);
export const isEquation = (j: MathJson): boolean => head(j) === 'Equal' && args(j).length >= 2;
/** "lhs = ... = rhs" whose left side is built only from symbols. */
export const isAssignment = (j: MathJson): boolean => isEquation(j) && isOnlySymbols(args(j)[0]);
/** The last right-hand side of a chain "a = b = c" (c). */
export const lastRhs = (j: MathJson): MathJson => args(j)[args(j).length - 1];
/** An assignment chain "x = a = b" as "x = b". */
export const truncateAssignment = (j: MathJson): MathJson => ['Equal', args(j)[0], lastRhs(j)];

/** "x ∈ S" is "x = S" (latex2sympy's interpret_contains_as_eq). */
export function elementAsEquation(j: MathJson): MathJson {
  return head(j) === 'Element' && args(j).length === 2 ? ['Equal', args(j)[0], args(j)[1]] : j;
}

export interface Interval {
  lo: MathJson;
  hi: MathJson;
  loOpen: boolean;
  hiOpen: boolean;
}

const NEG_INF = 'NegativeInfinity';
const POS_INF = 'PositiveInfinity';

/**
 * The set a one-variable relation describes, as a union of intervals, or null when it is not of a
 * shape handled here: v < c, c <= v, lo < v <= hi (one chain or an And of two), where v is any
 * expression with unknowns (a symbol, f(x)) or |u| (which gives two intervals).
 */
export function relationToSet(
  j: MathJson,
  hasUnknowns: (x: MathJson) => boolean,
  numeric: (x: MathJson) => number | null,
): Interval[] | null {
  const bounds = relationBounds(j, hasUnknowns);
  if (!bounds) return null;
  const { term, lo, hi, loOpen, hiOpen } = bounds;
  if (head(term) !== 'Abs') return [{ lo, hi, loOpen, hiOpen }];
  // |u| within [lo, hi]: u in [-hi, -lo] ∪ [lo, hi] when lo > 0; (-hi, hi) when the floor is not above 0
  const l = lo === NEG_INF ? -Infinity : numeric(lo);
  if (l === null) return null;
  const neg = (x: MathJson): MathJson => (x === POS_INF ? NEG_INF : ['Negate', x]);
  if (l < 0 || (l === 0 && !loOpen))
    return hi === POS_INF
      ? [{ lo: NEG_INF, hi: POS_INF, loOpen: true, hiOpen: true }]
      : [{ lo: neg(hi), hi, loOpen: hiOpen, hiOpen }];
  if (hi === POS_INF)
    return [
      { lo: NEG_INF, hi: neg(lo), loOpen: true, hiOpen: loOpen },
      { lo, hi: POS_INF, loOpen, hiOpen: true },
    ];
  return [
    { lo: neg(hi), hi: neg(lo), loOpen: hiOpen, hiOpen: loOpen },
    { lo, hi, loOpen, hiOpen },
  ];
}

interface Bounds {
  term: MathJson;
  lo: MathJson;
  hi: MathJson;
  loOpen: boolean;
  hiOpen: boolean;
}

function relationBounds(j: MathJson, hasUnknowns: (x: MathJson) => boolean): Bounds | null {
  const h = head(j);
  if (h === 'And' && args(j).length === 2) {
    const a = relationBounds(args(j)[0], hasUnknowns);
    const b = relationBounds(args(j)[1], hasUnknowns);
    if (!a || !b || JSON.stringify(a.term) !== JSON.stringify(b.term)) return null;
    const lower = a.lo !== NEG_INF ? a : b;
    const upper = a.hi !== POS_INF ? a : b;
    return { term: a.term, lo: lower.lo, loOpen: lower.loOpen, hi: upper.hi, hiOpen: upper.hiOpen };
  }
  if (h !== 'Less' && h !== 'LessEqual' && h !== 'Greater' && h !== 'GreaterEqual') return null;
  // a < b < c, read left to right (Greater reversed)
  const items = h === 'Less' || h === 'LessEqual' ? args(j) : [...args(j)].reverse();
  const open = h === 'Less' || h === 'Greater';
  const k = items.findIndex((x) => hasUnknowns(x));
  if (k < 0 || items.length > 3 || items.some((x, i) => i !== k && hasUnknowns(x))) return null;
  return {
    term: items[k],
    lo: k > 0 ? items[k - 1] : NEG_INF,
    loOpen: k > 0 ? open : true,
    hi: k < items.length - 1 ? items[k + 1] : POS_INF,
    hiOpen: k < items.length - 1 ? open : true,
  };
}

/** A set answer as a union of intervals: an interval, a union of them, a pair (a, b) or [a, b], the reals. */
export function setAsIntervals(j: MathJson): Interval[] | null {
  const h = head(j);
  const unOpen = (x: MathJson): [MathJson, boolean] => (head(x) === 'Open' ? [args(x)[0], true] : [x, false]);
  if (h === 'Interval' && args(j).length === 2) {
    const [lo, loOpen] = unOpen(args(j)[0]);
    const [hi, hiOpen] = unOpen(args(j)[1]);
    return [{ lo, hi, loOpen: loOpen || lo === NEG_INF, hiOpen: hiOpen || hi === POS_INF }];
  }
  // (a, b) is the open interval, [a, b] (a 2-element list) the closed one
  if ((h === 'Tuple' || h === 'Delimiter' || h === 'List') && args(j).length === 2)
    return [{ lo: args(j)[0], hi: args(j)[1], loOpen: h !== 'List', hiOpen: h !== 'List' }];
  if (j === 'RealNumbers') return [{ lo: NEG_INF, hi: POS_INF, loOpen: true, hiOpen: true }];
  if (h === 'Union') {
    const parts = args(j).map(setAsIntervals);
    return parts.every((p) => p !== null) ? (parts as Interval[][]).flat() : null;
  }
  return null;
}

/** Two unions of intervals are the same set: every interval has an equal partner (order-free). */
export function intervalsEq(a: Interval[], b: Interval[], eq: (x: MathJson, y: MathJson) => boolean): boolean {
  const same = (x: Interval, y: Interval): boolean =>
    x.loOpen === y.loOpen && x.hiOpen === y.hiOpen && eq(x.lo, y.lo) && eq(x.hi, y.hi);
  return (
    a.length === b.length && a.every((x) => b.some((y) => same(x, y))) && b.every((y) => a.some((x) => same(x, y)))
  );
}

/**
 * Two relations: the same kind with equal sides, or equal lhs − rhs; the flipped kind with opposite
 * lhs − rhs; chains element by element; else (`proportional`) equations whose lhs − rhs are
 * constant multiples of each other (positive multiples for inequalities).
 */
export function relationEq(
  a: MathJson,
  b: MathJson,
  eq: (x: MathJson, y: MathJson) => boolean,
  proportional: (x: MathJson, y: MathJson, positive: boolean) => boolean,
): boolean {
  const ha = head(a)!;
  const hb = head(b)!;
  if (ha === 'And' || hb === 'And') {
    return (
      ha === hb &&
      args(a).length === args(b).length &&
      args(a).every((x, i) => relationEq(x, args(b)[i], eq, proportional))
    );
  }
  const xa = args(a);
  const xb = args(b);
  if (xa.length !== xb.length || xa.length < 2) return false;
  if (ha === hb && xa.every((x, i) => eq(x, xb[i]))) return true;
  if (INVERSE[ha] === hb && xa.every((x, i) => eq(x, xb[xb.length - 1 - i]))) return true;
  if (xa.length !== 2) return false;
  const da: MathJson = ['Subtract', xa[0], xa[1]];
  const db: MathJson = ['Subtract', xb[0], xb[1]];
  if (ha === hb && eq(da, db)) return true;
  if (INVERSE[ha] === hb && eq(da, ['Subtract', xb[1], xb[0]])) return true;
  if (ha === hb) return proportional(da, db, ha !== 'Equal' && ha !== 'NotEqual');
  if (INVERSE[ha] === hb) return proportional(da, ['Subtract', xb[1], xb[0]], true);
  return false;
}

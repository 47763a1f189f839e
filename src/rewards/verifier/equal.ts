// Equivalence of two parsed answers (Math-Verify's `sympy_expr_eq` semantics) over MathJSON, with
// @cortex-js/compute-engine for numeric evaluation and simplification. Order of tests: assignments
// and equations (mathEqual) -> structure -> relations -> collections (sets, tuples, intervals,
// matrices) -> numbers (exact BigInt rationals; rounded to `precision` places when either side is a
// float) -> symbolic (isSame, simplify, then agreement at seeded random points). Sums, products,
// integrals and limits are compared by structure only: evaluating them could take unbounded time.
// A Budget bounds the work.
import { Rng } from '../../util/rng.js';
import { evaluateMatrix } from './matrix.js';
import { getEngine } from './parse.js';
import {
  elementAsEquation,
  intervalsEq,
  isAssignment,
  isEquation,
  lastRhs,
  relationEq,
  relationToSet,
  setAsIntervals,
  truncateAssignment,
} from './relations.js';
import { isRelation } from './structure.js';
import type { MathJson } from './types.js';
import { args, head } from './mathjson.js';
import { closeEq, numeric, roundedEq, toRational } from './numbers.js';

export interface Budget {
  deadline: number;
  steps: number;
}

export interface CompareContext {
  precision: number;
  /** Either side was written with a decimal point (a sympy Float): compare rounded values. */
  hasFloat: boolean;
  budget: Budget;
  /** false: variables are matched by position (f(x) equals f(y)). Default true. */
  strict?: boolean;
  /** Also turn an answer's relation into a set when the gold is a set. Default false (Math-Verify). */
  allowSetRelationComp?: boolean;
}

const MAX_STEPS = 5000;
const MAX_NODES = 400; // larger expressions skip simplify / random-point evaluation
const MAX_SIMPLIFY_NODES = 80;
const ITERATED = new Set(['Sum', 'Product', 'Integrate', 'Limit', 'D', 'Derivative']);
const SEQUENCES = new Set(['Tuple', 'List', 'Sequence', 'Delimiter']);

export function newBudget(ms: number): Budget {
  return { deadline: Date.now() + ms, steps: 0 };
}

function spent(b: Budget): boolean {
  return ++b.steps > MAX_STEPS || Date.now() > b.deadline;
}

const isSymbol = (j: MathJson): j is string => typeof j === 'string' && !j.startsWith("'");
const isString = (j: MathJson): j is string => typeof j === 'string' && j.startsWith("'");

function nodes(j: MathJson): number {
  return Array.isArray(j) ? j.reduce<number>((n, x) => n + nodes(x as MathJson), 1) : 1;
}

/**
 * Top-level entry, gold first (Math-Verify's sympy_expr_eq): assignment chains are truncated; an
 * equation answer against a non-equation gold gives its last right-hand side; an assignment gold
 * against a non-equation answer gives its right-hand side; a relation gold against a set answer
 * becomes a set (and the reverse only with allowSetRelationComp). Elements of sets and tuples are
 * compared by this same rule.
 */
export function mathEqual(gold: MathJson, pred: MathJson, ctx: CompareContext): boolean {
  if (spent(ctx.budget)) return false;
  gold = elementAsEquation(gold);
  pred = elementAsEquation(pred);
  if (ctx.strict === false) pred = renameVariables(gold, pred);
  const goldAssign = isAssignment(gold);
  const predAssign = isAssignment(pred);
  const goldEq = isEquation(gold);
  const predEq = isEquation(pred);
  if (goldAssign) gold = truncateAssignment(gold);
  if (predAssign) pred = truncateAssignment(pred);
  if (predEq && !goldEq) pred = lastRhs(pred);
  else if (goldAssign && !predEq) gold = lastRhs(gold);
  const goldSet = isRelation(gold) ? setAsIntervals(pred) : null;
  if (goldSet) {
    const g = relationToSet(gold, hasUnknowns, numericValue);
    return g !== null && intervalsEq(g, goldSet, (x, y) => eq(x, y, ctx));
  }
  if (ctx.allowSetRelationComp && isRelation(pred)) {
    const gs = setAsIntervals(gold);
    const p = gs && relationToSet(pred, hasUnknowns, numericValue);
    if (gs && p) return intervalsEq(gs, p, (x, y) => eq(x, y, ctx));
  }
  return eq(gold, pred, ctx);
}

function eq(a: MathJson, b: MathJson, ctx: CompareContext): boolean {
  if (spent(ctx.budget)) return false;
  if (JSON.stringify(a) === JSON.stringify(b)) return true;
  if (isString(a) || isString(b)) return isString(a) && isString(b) && textEq(a.slice(1, -1), b.slice(1, -1));
  // e and E are the same constant (sympy's E); the CAS reads \mathrm{e}/e as ExponentialE
  if (isSymbol(a) && isSymbol(b)) return isE(a) && isE(b);
  const ha = head(a);
  const hb = head(b);
  if (ha === 'Annotated') return eq(args(a)[0], b, ctx);
  if (hb === 'Annotated') return eq(a, args(b)[0], ctx);

  // relations: same kind with equal sides, flipped, or the same equation rearranged / scaled
  const ra = isRelation(a);
  const rb = isRelation(b);
  if (ra || rb)
    return (
      ra &&
      rb &&
      relationEq(
        a,
        b,
        (x, y) => eq(x, y, ctx),
        (x, y, positive) => proportional(x, y, positive, ctx),
      )
    );

  // intervals (and open interval (a,b) == 2-tuple, [a,b] == closed interval)
  if (ha === 'Interval' || hb === 'Interval' || ha === 'Union' || hb === 'Union') {
    const ia = setAsIntervals(a);
    const ib = setAsIntervals(b);
    if (ia && ib) return intervalsEq(ia, ib, (x, y) => eq(x, y, ctx));
  }
  const ca = collection(a);
  const cb = collection(b);
  if (ca || cb) {
    const same = (x: MathJson, y: MathJson): boolean => mathEqual(x, y, ctx);
    if (ca && cb) {
      if (ca.ordered && cb.ordered) {
        if (ca.items.length === 2 && ca.kind !== cb.kind) return false; // (a,b) is open, [a,b] closed
        return ca.items.length === cb.items.length && ca.items.every((x, i) => same(x, cb.items[i]));
      }
      return setEq(ca.items, cb.items, same);
    }
    // a one-element set ({5} or {5, 5} from repeated boxes) against a scalar
    const c = (ca ?? cb)!;
    return !c.ordered && c.items.length >= 1 && c.items.every((x) => (ca ? same(x, b) : same(a, x)));
  }
  const ma = evaluateMatrix(a);
  const mb = evaluateMatrix(b);
  if (head(ma) === 'Matrix' && head(mb) === 'Matrix') return eq(args(ma)[0], args(mb)[0], ctx);
  if (head(ma) === 'Matrix' || head(mb) === 'Matrix') return false;
  return valueEq(a, b, ctx);
}

/** Text answers: equal after trimming; words of more than one letter ignore case (latex2sympy lowercases symbols). */
function textEq(x: string, y: string): boolean {
  const a = x.trim();
  const b = y.trim();
  return a === b || (a.length > 1 && a.toLowerCase() === b.toLowerCase());
}

/** strict=false: the answer's variables renamed to the gold's, in sorted order, when they are as many. */
function renameVariables(gold: MathJson, pred: MathJson): MathJson {
  const g = unknownsOf(gold);
  const p = unknownsOf(pred);
  if (g.length !== p.length || g.length === 0) return pred;
  const map = new Map(p.map((v, i) => [v, g[i]]));
  const rename = (j: MathJson): MathJson =>
    typeof j === 'string' && map.has(j)
      ? map.get(j)!
      : Array.isArray(j)
        ? (j.map((x, i) => (i === 0 && typeof x === 'string' ? x : rename(x as MathJson))) as MathJson)
        : j;
  return rename(pred);
}

function unknownsOf(j: MathJson): string[] {
  try {
    return [...getEngine().box(j as never).unknowns].sort();
  } catch {
    return [];
  }
}

const isE = (s: string): boolean => s === 'E' || s === 'ExponentialE' || s === 'e';

interface Collection {
  kind: string;
  ordered: boolean;
  items: MathJson[];
}
function collection(j: MathJson): Collection | null {
  const h = head(j);
  if (h === 'Set' || h === 'Union') return { kind: h, ordered: false, items: args(j) };
  if (h !== null && SEQUENCES.has(h)) return { kind: h === 'List' ? 'List' : 'Tuple', ordered: true, items: args(j) };
  if (j === 'EmptySet') return { kind: 'Set', ordered: false, items: [] };
  return null;
}

function setEq(xs: MathJson[], ys: MathJson[], same: (x: MathJson, y: MathJson) => boolean): boolean {
  // equal as sets: every element has a partner on the other side (duplicates allowed)
  return xs.every((x) => ys.some((y) => same(x, y))) && ys.every((y) => xs.some((x) => same(x, y)));
}

function hasUnknowns(j: MathJson): boolean {
  try {
    return getEngine().box(j as never).unknowns.length > 0;
  } catch {
    return true;
  }
}

// ---- numbers and symbolic values --------------------------------------------------------------

function valueEq(a: MathJson, b: MathJson, ctx: CompareContext): boolean {
  if (spent(ctx.budget)) return false;
  if (hasIterated(a) || hasIterated(b)) return sameExpression(a, b);
  const qa = toRational(a);
  const qb = toRational(b);
  if (qa && qb) {
    if (qa.n * qb.d === qb.n * qa.d) return true;
    if (!ctx.hasFloat) return false;
  }
  const ce = getEngine();
  let ea;
  let eb;
  try {
    ea = ce.box(a as never);
    eb = ce.box(b as never);
  } catch {
    return false;
  }
  const vars = [...new Set([...ea.unknowns, ...eb.unknowns])];
  if (vars.length === 0) {
    const na = numeric(a);
    const nb = numeric(b);
    if (!na || !nb) return false;
    if (ctx.hasFloat) return roundedEq(na.re, nb.re, ctx.precision) && roundedEq(na.im, nb.im, ctx.precision);
    if (qa && qb) return false;
    // irrational constants: equal up to double rounding (sympy: (a-b).evalf(chop=True) == 0)
    return closeEq(na.re, nb.re, 1e-12) && closeEq(na.im, nb.im, 1e-12);
  }
  if (nodes(a) + nodes(b) > MAX_NODES) return false;
  try {
    if (ea.isSame(eb)) return true;
    if (Date.now() > ctx.budget.deadline) return false;
    // simplify expands powers: only for small expressions with small exponents
    if (
      nodes(a) + nodes(b) <= MAX_SIMPLIFY_NODES &&
      maxExponent(a) <= 12 &&
      maxExponent(b) <= 12 &&
      ea.simplify().isSame(eb.simplify())
    )
      return true;
  } catch {
    /* fall through to evaluation */
  }
  return agreeAtRandomPoints(a, b, vars, ctx);
}

/**
 * Symbolic identity by evaluation: two expressions that agree at several random points of
 * (0.3, 2.3)^k are equal with probability 1 for the algebraic/elementary expressions seen as
 * answers. Seeded, so verdicts are reproducible.
 */
function agreeAtRandomPoints(a: MathJson, b: MathJson, vars: string[], ctx: CompareContext): boolean {
  const rng = new Rng(0x5eed);
  let agreed = 0;
  for (let trial = 0; trial < 6; trial++) {
    if (Date.now() > ctx.budget.deadline) return false;
    const subs: Record<string, number> = {};
    for (const v of vars) subs[v] = 0.3 + 2 * rng.next();
    const na = numeric(a, subs);
    const nb = numeric(b, subs);
    if (!na || !nb) continue;
    if (!closeEq(na.re, nb.re, 1e-9) || !closeEq(na.im, nb.im, 1e-9)) return false;
    agreed++;
  }
  return agreed >= 3;
}

function hasIterated(j: MathJson): boolean {
  return (
    Array.isArray(j) &&
    ((typeof j[0] === 'string' && ITERATED.has(j[0])) || j.some((x, i) => i > 0 && hasIterated(x as MathJson)))
  );
}

/** Structural identity after canonical ordering (never evaluates). */
function sameExpression(a: MathJson, b: MathJson): boolean {
  try {
    return getEngine()
      .box(a as never)
      .isSame(getEngine().box(b as never));
  } catch {
    return false;
  }
}

/** The real value of a constant expression, or null. */
function numericValue(j: MathJson): number | null {
  if (hasIterated(j)) return null;
  const v = numeric(j);
  return v && v.im === 0 ? v.re : null;
}

/**
 * x = k·y for a constant k ≠ 0 (k > 0 when `positive`), checked at seeded random points: the same
 * equation rearranged or scaled ("2x + 4y - 3 = 0" vs "y = -x/2 + 3/4"; "x^2/4 + y^2/3 = 1" vs
 * "x^2/16 + y^2/12 = 1/4").
 */
function proportional(x: MathJson, y: MathJson, positive: boolean, ctx: CompareContext): boolean {
  if (hasIterated(x) || hasIterated(y) || nodes(x) + nodes(y) > MAX_NODES) return false;
  const vars = [...new Set([...unknownsOf(x), ...unknownsOf(y)])];
  if (vars.length === 0) return false;
  const rng = new Rng(0x5eed);
  let ratio: number | null = null;
  let agreed = 0;
  for (let trial = 0; trial < 6; trial++) {
    if (Date.now() > ctx.budget.deadline) return false;
    const subs: Record<string, number> = {};
    for (const v of vars) subs[v] = 0.3 + 2 * rng.next();
    const nx = numeric(x, subs);
    const ny = numeric(y, subs);
    if (!nx || !ny || nx.im !== 0 || ny.im !== 0 || !Number.isFinite(nx.re) || !Number.isFinite(ny.re)) continue;
    if (Math.abs(ny.re) < 1e-12) {
      if (Math.abs(nx.re) > 1e-9) return false;
      continue;
    }
    const r = nx.re / ny.re;
    if (ratio === null) ratio = r;
    else if (!closeEq(r, ratio, 1e-9)) return false;
    agreed++;
  }
  return agreed >= 3 && ratio !== null && Math.abs(ratio) > 1e-12 && (!positive || ratio > 0);
}

function maxExponent(j: MathJson): number {
  if (!Array.isArray(j)) return 0;
  let m = 0;
  if (j[0] === 'Power') {
    const e = j[2];
    m = typeof e === 'number' ? Math.abs(e) : Infinity;
  }
  for (let i = 1; i < j.length; i++) m = Math.max(m, maxExponent(j[i] as MathJson));
  return m;
}

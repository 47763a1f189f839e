// Equivalence of two parsed answers (math_verify 0.5.2 `sympy_expr_eq` semantics) over MathJSON,
// with @cortex-js/compute-engine for numeric evaluation and simplification. Order of tests:
// structure -> relations/assignments -> collections (sets, tuples, intervals, matrices) ->
// numbers (exact BigInt rationals; rounded to `precision` places when either side is a float) ->
// symbolic (isSame, simplify, then agreement at seeded random points). A Budget bounds the work.
import { Rng } from '../../util/rng.js';
import { getEngine } from './parse.js';
import type { MathJson } from './types.js';

export interface Budget {
  deadline: number;
  steps: number;
}

export interface CompareContext {
  precision: number;
  /** Either side was written with a decimal point (a sympy Float): compare rounded values. */
  hasFloat: boolean;
  budget: Budget;
}

const MAX_STEPS = 5000;
const MAX_NODES = 400; // larger expressions skip simplify / random-point evaluation
const MAX_SIMPLIFY_NODES = 80;
const RELATIONS = new Set(['Equal', 'NotEqual', 'Less', 'LessEqual', 'Greater', 'GreaterEqual']);
const SEQUENCES = new Set(['Tuple', 'List', 'Sequence', 'Delimiter']);

export function newBudget(ms: number): Budget {
  return { deadline: Date.now() + ms, steps: 0 };
}

function spent(b: Budget): boolean {
  return ++b.steps > MAX_STEPS || Date.now() > b.deadline;
}

const head = (j: MathJson): string | null => (Array.isArray(j) && typeof j[0] === 'string' ? j[0] : null);
const args = (j: MathJson): MathJson[] => (Array.isArray(j) ? j.slice(1) : []);
const isSymbol = (j: MathJson): j is string => typeof j === 'string' && !j.startsWith("'");
const isString = (j: MathJson): j is string => typeof j === 'string' && j.startsWith("'");

function nodes(j: MathJson): number {
  return Array.isArray(j) ? j.reduce<number>((n, x) => n + nodes(x as MathJson), 1) : 1;
}

/** Top-level entry: gold first, as in math_verify.verify. */
export function mathEqual(gold: MathJson, pred: MathJson, ctx: CompareContext): boolean {
  if (spent(ctx.budget)) return false;
  // assignment gold "x = rhs" (or "x \in S") against a bare answer: compare the right-hand side
  const hg = head(gold);
  const hp = head(pred);
  if ((hg === 'Equal' || hg === 'Element') && isSymbol(args(gold)[0]) && !(hp && (RELATIONS.has(hp) || hp === 'Element'))) {
    if (eq(args(gold)[1], pred, ctx)) return true;
  }
  // an equation answer against a non-equation gold: take the answer's last right-hand side
  if ((hp === 'Equal' || hp === 'Element') && !(hg && (RELATIONS.has(hg) || hg === 'Element'))) {
    if (eq(gold, args(pred)[args(pred).length - 1], ctx)) return true;
  }
  return eq(gold, pred, ctx);
}

function eq(a: MathJson, b: MathJson, ctx: CompareContext): boolean {
  if (spent(ctx.budget)) return false;
  if (JSON.stringify(a) === JSON.stringify(b)) return true;
  if (isString(a) || isString(b)) return isString(a) && isString(b) && a.slice(1, -1).trim() === b.slice(1, -1).trim();
  // e and E are the same constant (sympy's E); the CAS reads \mathrm{e}/e as ExponentialE
  if (isSymbol(a) && isSymbol(b)) return isE(a) && isE(b);
  const ha = head(a);
  const hb = head(b);
  if (ha === 'Annotated') return eq(args(a)[0], b, ctx);
  if (hb === 'Annotated') return eq(a, args(b)[0], ctx);

  // relations: same kind with equal sides, or equal (lhs - rhs); the CAS already flips > into <
  const ra = ha !== null && RELATIONS.has(ha);
  const rb = hb !== null && RELATIONS.has(hb);
  if (ra || rb) {
    if (ra && rb) return relationEq(a, b, ha!, ctx);
    const ia = ra ? relationToInterval(a) : toInterval(a, true);
    const ib = rb ? relationToInterval(b) : toInterval(b, true);
    return ia !== null && ib !== null && intervalEq(ia, ib, ctx);
  }

  // intervals (and open interval (a,b) == 2-tuple, [a,b] == closed interval)
  if (ha === 'Interval' || hb === 'Interval') {
    const ia = toInterval(a, true);
    const ib = toInterval(b, true);
    return ia !== null && ib !== null && intervalEq(ia, ib, ctx);
  }
  const ca = collection(a);
  const cb = collection(b);
  if (ca || cb) {
    if (ca && cb) {
      if (ca.ordered && cb.ordered) {
        if (ca.items.length === 2 && ca.kind !== cb.kind) return false; // (a,b) is open, [a,b] closed
        return ca.items.length === cb.items.length && ca.items.every((x, i) => eq(x, cb.items[i], ctx));
      }
      return setEq(ca.items, cb.items, ctx);
    }
    // a one-element set ({5} or {5, 5} from repeated boxes) against a scalar
    const c = (ca ?? cb)!;
    return !c.ordered && c.items.length >= 1 && c.items.every((x) => (ca ? eq(x, b, ctx) : eq(a, x, ctx)));
  }
  if (ha === 'Matrix' && hb === 'Matrix') return eq(args(a)[0], args(b)[0], ctx);
  if (ha === 'Matrix' || hb === 'Matrix') return false;
  return valueEq(a, b, ctx);
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

function setEq(xs: MathJson[], ys: MathJson[], ctx: CompareContext): boolean {
  // equal as sets: every element has a partner on the other side (duplicates allowed)
  return xs.every((x) => ys.some((y) => eq(x, y, ctx))) && ys.every((y) => xs.some((x) => eq(x, y, ctx)));
}

interface Interval {
  lo: MathJson;
  hi: MathJson;
  loOpen: boolean;
  hiOpen: boolean;
}
function toInterval(j: MathJson, allowPairs: boolean): Interval | null {
  const h = head(j);
  const unOpen = (x: MathJson): [MathJson, boolean] => (head(x) === 'Open' ? [args(x)[0], true] : [x, false]);
  if (h === 'Interval' && args(j).length === 2) {
    const [lo, loOpen] = unOpen(args(j)[0]);
    const [hi, hiOpen] = unOpen(args(j)[1]);
    return { lo, hi, loOpen, hiOpen };
  }
  if (allowPairs && (h === 'Tuple' || h === 'List') && args(j).length === 2) {
    const open = h === 'Tuple';
    return { lo: args(j)[0], hi: args(j)[1], loOpen: open, hiOpen: open };
  }
  if (j === 'RealNumbers') return { lo: 'NegativeInfinity', hi: 'PositiveInfinity', loOpen: true, hiOpen: true };
  return null;
}

function intervalEq(a: Interval, b: Interval, ctx: CompareContext): boolean {
  return a.loOpen === b.loOpen && a.hiOpen === b.hiOpen && eq(a.lo, b.lo, ctx) && eq(a.hi, b.hi, ctx);
}

/** "x < 3" -> (-inf, 3), "2 <= x" -> [2, inf): a relation in one variable against an interval answer. */
function relationToInterval(j: MathJson): Interval | null {
  const h = head(j);
  if (h !== 'Less' && h !== 'LessEqual') return null;
  const [l, r] = args(j);
  const open = h === 'Less';
  if (isSymbol(l) && !hasUnknowns(r)) return { lo: 'NegativeInfinity', hi: r, loOpen: true, hiOpen: open };
  if (isSymbol(r) && !hasUnknowns(l)) return { lo: l, hi: 'PositiveInfinity', loOpen: open, hiOpen: true };
  return null;
}

function relationEq(a: MathJson, b: MathJson, h: string, ctx: CompareContext): boolean {
  if (h !== head(b)) return false;
  const [la, ra] = args(a);
  const [lb, rb] = args(b);
  if (la === undefined || lb === undefined || ra === undefined || rb === undefined) return false;
  if (eq(la, lb, ctx) && eq(ra, rb, ctx)) return true;
  const symmetric = h === 'Equal' || h === 'NotEqual';
  if (symmetric && eq(la, rb, ctx) && eq(ra, lb, ctx)) return true;
  const da: MathJson = ['Subtract', la, ra];
  if (valueEq(da, ['Subtract', lb, rb], ctx)) return true;
  return symmetric && valueEq(da, ['Subtract', rb, lb], ctx);
}

function hasUnknowns(j: MathJson): boolean {
  try {
    return getEngine().box(j as never).unknowns.length > 0;
  } catch {
    return true;
  }
}

// ---- numbers and symbolic values --------------------------------------------------------------

interface Rational {
  n: bigint;
  d: bigint;
}
function toRational(j: MathJson): Rational | null {
  if (typeof j === 'number') return Number.isInteger(j) ? { n: BigInt(j), d: 1n } : null;
  if (j && typeof j === 'object' && !Array.isArray(j) && typeof (j as { num?: unknown }).num === 'string') {
    const s = (j as { num: string }).num;
    return /^-?\d+$/.test(s) ? { n: BigInt(s), d: 1n } : null;
  }
  const h = head(j);
  if (h === 'Rational' || h === 'Divide') {
    const p = toRational(args(j)[0]);
    const q = toRational(args(j)[1]);
    if (p && q && p.d === 1n && q.d === 1n && q.n !== 0n) return { n: p.n, d: q.n };
  }
  if (h === 'Negate') {
    const p = toRational(args(j)[0]);
    return p ? { n: -p.n, d: p.d } : null;
  }
  return null;
}

interface Complex {
  re: number;
  im: number;
}
function numeric(j: MathJson, subs?: Record<string, number>): Complex | null {
  try {
    const ce = getEngine();
    let e = ce.box(j as never);
    if (subs) {
      const s: Record<string, ReturnType<typeof ce.number>> = {};
      for (const k of Object.keys(subs)) s[k] = ce.number(subs[k]);
      e = e.subs(s);
    }
    const n = e.N();
    const re = n.re;
    const im = n.im;
    if (typeof re !== 'number' || Number.isNaN(re)) return null;
    return { re, im: typeof im === 'number' && !Number.isNaN(im) ? im : 0 };
  } catch {
    return null;
  }
}

// Overflowed doubles (1000! and 100000! are both Infinity) say nothing about equality: not equal.
// Real infinities compare structurally ("PositiveInfinity") before any evaluation.
function roundedEq(x: number, y: number, precision: number): boolean {
  if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
  const scale = 10 ** precision;
  const xs = x * scale;
  const ys = y * scale;
  if (Math.abs(xs) < 2 ** 52 && Math.abs(ys) < 2 ** 52) return Math.round(xs) === Math.round(ys);
  return Math.abs(x - y) <= 1e-15 * Math.max(Math.abs(x), Math.abs(y));
}

function closeEq(x: number, y: number, rel: number): boolean {
  if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
  return Math.abs(x - y) <= rel * Math.max(1, Math.abs(x), Math.abs(y));
}

function valueEq(a: MathJson, b: MathJson, ctx: CompareContext): boolean {
  if (spent(ctx.budget)) return false;
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
    if (nodes(a) + nodes(b) <= MAX_SIMPLIFY_NODES && maxExponent(a) <= 12 && maxExponent(b) <= 12 && ea.simplify().isSame(eb.simplify())) return true;
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

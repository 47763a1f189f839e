// Numbers in answers: exact rationals from integer MathJSON (BigInt, so 1000-digit answers compare
// exactly), numeric values through the compute engine (complex, with optional substitutions), and the
// two float comparisons: rounded to `precision` places (Math-Verify's float rule) and relative closeness.
import { args, head } from './mathjson.js';
import { getEngine } from './parse.js';
import type { MathJson } from './types.js';

export interface Rational {
  n: bigint;
  d: bigint;
}
export function toRational(j: MathJson): Rational | null {
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

export interface Complex {
  re: number;
  im: number;
}
export function numeric(j: MathJson, subs?: Record<string, number>): Complex | null {
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
export function roundedEq(x: number, y: number, precision: number): boolean {
  if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
  const scale = 10 ** precision;
  const xs = x * scale;
  const ys = y * scale;
  if (Math.abs(xs) < 2 ** 52 && Math.abs(ys) < 2 ** 52) return Math.round(xs) === Math.round(ys);
  return Math.abs(x - y) <= 1e-15 * Math.max(Math.abs(x), Math.abs(y));
}

export function closeEq(x: number, y: number, rel: number): boolean {
  if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
  return Math.abs(x - y) <= rel * Math.max(1, Math.abs(x), Math.abs(y));
}

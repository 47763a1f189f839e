// Shapes latex2sympy gives answers and the CAS does not: a top-level list is a set ("1, 2"), groups
// split by ";" are tuples ("p=5,q=2; p=7,q=2"), "a = 4, -8, -10" names the whole set, and ±
// stands for both signs. Also the "only symbols" test that decides what counts as an assignment.
import type { MathJson } from './types.js';
import { head } from './mathjson.js';

const CONSTANTS = new Set([
  'Pi',
  'ExponentialE',
  'ImaginaryUnit',
  'PositiveInfinity',
  'NegativeInfinity',
  'ComplexInfinity',
  'EmptySet',
  'Nothing',
  'True',
  'False',
  'RealNumbers',
]);
const RELATIONS = new Set(['Equal', 'NotEqual', 'Less', 'LessEqual', 'Greater', 'GreaterEqual']);

/**
 * latex2sympy's is_expr_of_only_symbols: a symbol, or something built only from symbols (AB, A/B,
 * |AB|, (p, q), f(x)). Such a left-hand side makes "lhs = value" an assignment of the value.
 */
export function isOnlySymbols(j: MathJson): boolean {
  if (typeof j === 'string') return !j.startsWith("'") && !CONSTANTS.has(j);
  if (!Array.isArray(j) || j.length < 2) return false;
  const h = head(j);
  if (h === 'Power') return isOnlySymbols(j[1] as MathJson) && j[2] === -1;
  return j.slice(1).every((x) => isOnlySymbols(x as MathJson));
}

export function isRelation(j: MathJson): boolean {
  const h = head(j);
  if (h !== null && RELATIONS.has(h)) return true;
  return h === 'And' && (j as MathJson[]).length > 1 && (j as MathJson[]).slice(1).every((x) => isRelation(x));
}

/** Split at top-level separators (outside (), [], {} and \{ \}). */
function splitTopLevel(s: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '\\' && (s[i + 1] === '{' || s[i + 1] === '}')) {
      depth += s[i + 1] === '{' ? 1 : -1;
      i++;
    } else if (ch === '(' || ch === '[' || ch === '{') depth++;
    else if (ch === ')' || ch === ']' || ch === '}') depth--;
    else if (ch === sep && depth === 0) {
      parts.push(s.slice(from, i));
      from = i + 1;
    }
  }
  parts.push(s.slice(from));
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

/**
 * A top-level list as LaTeX the CAS reads as a set: "1, 2" -> \{1, 2\}; "a; b" -> \{a, b\};
 * "p=5, q=2; p=7, q=2" -> \{(p=5, q=2), (p=7, q=2)\} (latex2sympy's semicolon groups).
 */
export function listAsSet(s: string): string {
  if (!s.includes(',') && !s.includes(';')) return s;
  const groups = splitTopLevel(s, ';').map((g) => splitTopLevel(g, ','));
  const nonEmpty = groups.filter((g) => g.length > 0);
  if (nonEmpty.length === 0 || (nonEmpty.length === 1 && nonEmpty[0].length === 1)) return nonEmpty[0]?.[0] ?? s;
  if (nonEmpty.length === 1 || nonEmpty.every((g) => g.length === 1)) return `\\{${nonEmpty.flat().join(', ')}\\}`;
  return `\\{${nonEmpty.map((g) => (g.length === 1 ? g[0] : `(${g.join(', ')})`)).join(', ')}\\}`;
}

/** Expand the first ± (Measurement a ± b) into its two values; null when there is none. */
function plusMinusVariants(j: MathJson, depth = 0): MathJson[] | null {
  if (!Array.isArray(j) || depth > 40) return null;
  if (j[0] === 'Measurement' && j.length === 3) {
    const [a, b] = [j[1] as MathJson, j[2] as MathJson];
    return a === 0
      ? [['Negate', b], b]
      : [
          ['Add', a, b],
          ['Subtract', a, b],
        ];
  }
  for (let i = 1; i < j.length; i++) {
    const inner = plusMinusVariants(j[i] as MathJson, depth + 1);
    if (inner) return inner.map((v) => [...j.slice(0, i), v, ...j.slice(i + 1)] as MathJson);
  }
  return null;
}

/** Every value of an expression with ± signs (at most 4: two ± in one answer). */
function expandPlusMinus(j: MathJson): MathJson[] {
  const first = plusMinusVariants(j);
  if (!first) return [j];
  return first.flatMap((v) => plusMinusVariants(v) ?? [v]);
}

/** latex2sympy's shapes for a parsed answer (see the file comment). */
export function restructure(j: MathJson): MathJson {
  const h = head(j);
  if (h === 'Set' || h === 'Tuple') {
    const items = (j as MathJson[]).slice(1).flatMap((x) => expandPlusMinus(x));
    const [first, ...rest] = items;
    // "a = 4, -8, -10": the assignment names the whole list (latex2sympy's set_elements_relation)
    if (
      h === 'Set' &&
      head(first) === 'Equal' &&
      (first as MathJson[]).length === 3 &&
      isOnlySymbols((first as MathJson[])[1]) &&
      rest.length > 0 &&
      !rest.some(isRelation)
    ) {
      return ['Equal', (first as MathJson[])[1], ['Set', (first as MathJson[])[2], ...rest]];
    }
    return [h, ...items];
  }
  if (h === 'Equal' && (j as MathJson[]).length === 3) {
    const values = expandPlusMinus((j as MathJson[])[2]);
    return values.length > 1 ? ['Equal', (j as MathJson[])[1], ['Set', ...values]] : j;
  }
  const values = expandPlusMinus(j);
  return values.length > 1 ? ['Set', ...values] : j;
}

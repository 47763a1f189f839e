// Matrix arithmetic on MathJSON, so an answer written as a sum or product of matrices ("A + B",
// "I I") compares with the matrix it equals. Entries stay symbolic (["Add", a, b], ...): the
// element-wise comparison evaluates them.
import type { MathJson } from './types.js';
import { args, head } from './mathjson.js';

type Rows = MathJson[][];

const MAX_CELLS = 400;

/** The rows of a literal matrix ["Matrix", ["List", ["List", ...], ...]]; a column vector's rows have one entry. */
export function matrixRows(j: MathJson): Rows | null {
  if (head(j) !== 'Matrix') return null;
  const body = args(j)[0];
  if (head(body) !== 'List') return null;
  const rows = args(body).map((r) => (head(r) === 'List' ? args(r) : [r]));
  if (rows.length === 0 || rows.some((r) => r.length !== rows[0].length)) return null;
  return rows;
}

/** Rows (an array of arrays) vs a scalar MathJSON expression (an array starts with its head string). */
const isRows = (v: unknown): v is Rows => Array.isArray(v) && v.length > 0 && Array.isArray(v[0]);

const asMatrix = (rows: Rows): MathJson => ['Matrix', ['List', ...rows.map((r) => ['List', ...r] as MathJson)]];

function containsMatrix(j: MathJson): boolean {
  return Array.isArray(j) && (j[0] === 'Matrix' || j.slice(1).some((x) => containsMatrix(x as MathJson)));
}

/** Value of a matrix expression (Add, Subtract, Negate, Multiply, Divide by a scalar), or null. */
function evaluate(j: MathJson, depth: number): Rows | MathJson | null {
  if (depth > 20) return null;
  const h = head(j);
  if (h === 'Matrix') return matrixRows(j);
  if (!containsMatrix(j)) return j; // a scalar
  const vals = args(j).map((x) => evaluate(x, depth + 1));
  if (vals.some((v) => v === null)) return null;
  switch (h) {
    case 'Add':
    case 'Subtract': {
      if (!vals.every(isRows)) return null;
      const ms = vals as Rows[];
      if (ms.some((m) => m.length !== ms[0].length || m[0].length !== ms[0][0].length)) return null;
      return ms[0].map((row, r) => row.map((_, c) => [h, ...ms.map((m) => m[r][c])] as MathJson));
    }
    case 'Negate':
      return isRows(vals[0]) ? (vals[0] as Rows).map((row) => row.map((x) => ['Negate', x] as MathJson)) : null;
    case 'Multiply':
      return (vals as (Rows | MathJson)[]).reduce<Rows | MathJson | null>(
        (acc, v) => (acc === null ? null : multiply(acc, v)),
        1,
      );
    case 'Divide':
      return isRows(vals[0]) && !isRows(vals[1])
        ? (vals[0] as Rows).map((row) => row.map((x) => ['Divide', x, vals[1] as MathJson] as MathJson))
        : null;
    default:
      return null;
  }
}

function multiply(a: Rows | MathJson, b: Rows | MathJson): Rows | MathJson | null {
  const ma = isRows(a);
  const mb = isRows(b);
  if (!ma && !mb) return ['Multiply', a as MathJson, b as MathJson];
  if (ma !== mb) {
    const [m, s] = ma ? [a as Rows, b as MathJson] : [b as Rows, a as MathJson];
    return m.map((row) => row.map((x) => ['Multiply', s, x] as MathJson));
  }
  const [x, y] = [a as Rows, b as Rows];
  if (x[0].length !== y.length || x.length * y[0].length > MAX_CELLS) return null;
  return x.map((row) =>
    y[0].map((_, c) => ['Add', ...row.map((v, k) => ['Multiply', v, y[k][c]] as MathJson)] as MathJson),
  );
}

/** A matrix expression as one literal matrix (unchanged when it is not a matrix expression). */
export function evaluateMatrix(j: MathJson): MathJson {
  const h = head(j);
  if (h === 'Matrix' || !containsMatrix(j)) return j;
  const v = evaluate(j, 0);
  return isRows(v) ? asMatrix(v) : j;
}

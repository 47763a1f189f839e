// The two accessors every comparison over MathJSON uses: an expression's head ("Add", "Tuple", ...)
// and its arguments. Numbers, symbols and strings have no head and no arguments.
import type { MathJson } from './types.js';

/** The operator of a function expression `[head, ...args]`, or null. */
export const head = (j: MathJson): string | null => (Array.isArray(j) && typeof j[0] === 'string' ? j[0] : null);

/** The arguments of a function expression (none for anything else). */
export const args = (j: MathJson): MathJson[] => (Array.isArray(j) ? (j.slice(1) as MathJson[]) : []);

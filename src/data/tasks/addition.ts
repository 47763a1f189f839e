// Integer addition families with a worked solution of one column (carry step) per line.
//
// Default family 'addition' is the calibrated one (shared/reference/tiny-model-calibration.md):
// L-digit + L-digit, L = 2..5, prompt `3478+5965=`, solution
// `<think>\n8+5=13\n7+6+1=14\n4+9+1=14\n3+5+1=9\n</think>\n\boxed{9443}`. A column line lists the
// column's digits (least significant column first), then `+carry` when the carry in is non-zero,
// then the column sum; the answer digits are the sums' last digits plus the final carry.
// 'addition3' is the same with three operands (carries up to 2), using the same token set.
import type { TaskFamily, TaskItem } from './types.js';

/** The worked solution text for adding the given non-negative integers column by column. */
export function workedAdditionSolution(operands: readonly number[]): string {
  const digits = operands.map((v) => String(v).split('').reverse());
  const width = Math.max(...digits.map((d) => d.length));
  const lines: string[] = [];
  let carry = 0;
  for (let col = 0; col < width; col++) {
    const terms: string[] = [];
    let sum = carry;
    for (const d of digits) {
      const ch = d[col];
      if (ch === undefined) continue; // shorter operand: no digit in this column
      terms.push(ch);
      sum += Number(ch);
    }
    if (carry > 0) terms.push(String(carry));
    lines.push(`${terms.join('+')}=${sum}`);
    carry = Math.floor(sum / 10);
  }
  const answer = String(operands.reduce((a, b) => a + b, 0));
  return `<think>\n${lines.join('\n')}\n</think>\n\\boxed{${answer}}`;
}

function randomLDigit(level: number, nextInt: (n: number) => number): number {
  const lo = 10 ** (level - 1);
  return lo + nextInt(9 * lo); // leading digit non-zero: [10^(L-1), 10^L)
}

function makeAdditionFamily(name: string, operandCount: number, levels: number[], defaultLevels: number[]): TaskFamily {
  return {
    name,
    levels,
    defaultLevels,
    sample(level: number, nextInt: (n: number) => number): TaskItem {
      if (!levels.includes(level))
        throw new Error(`task family '${name}': level ${level} not in [${levels.join(', ')}]`);
      const operands = Array.from({ length: operandCount }, () => randomLDigit(level, nextInt));
      const problem = operands.join('+');
      return {
        family: name,
        problem,
        prompt: problem + '=',
        solution: workedAdditionSolution(operands),
        answer: String(operands.reduce((a, b) => a + b, 0)),
        level,
        operands,
      };
    },
    problemCount(level: number): number {
      return (9 * 10 ** (level - 1)) ** operandCount;
    },
  };
}

/** The calibrated default: two L-digit operands, L = 2..5. */
export const additionFamily: TaskFamily = makeAdditionFamily('addition', 2, [1, 2, 3, 4, 5, 6, 7], [2, 3, 4, 5]);
/** Three L-digit operands (column sums up to 29, carries up to 2), L = 2..5. */
export const addition3Family: TaskFamily = makeAdditionFamily('addition3', 3, [1, 2, 3, 4, 5, 6, 7], [2, 3, 4, 5]);

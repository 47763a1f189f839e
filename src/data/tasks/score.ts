// Cheap, exact checks for the synthetic task (no general math verifier needed): the last
// \boxed{…} of a completion against the integer answer, and the worked format.

/** The content of the last `\boxed{...}` in text (brace-matched), or null when there is none. */
export function lastBoxed(text: string): string | null {
  const open = text.lastIndexOf('\\boxed{');
  if (open < 0) return null;
  let depth = 1;
  for (let i = open + 7; i < text.length; i++) {
    const c = text[i];
    if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return text.slice(open + 7, i);
  }
  return null; // unclosed box
}

/** True when the last boxed answer is exactly the integer answer (leading zeros tolerated). */
export function isCorrectAnswer(completion: string, answer: string): boolean {
  const boxed = lastBoxed(completion);
  if (boxed === null || !/^[0-9]+$/.test(boxed.trim())) return false;
  return BigInt(boxed.trim()) === BigInt(answer);
}

// `<think>\n` + one or more `d+d(+c)=s` lines + `</think>\n\boxed{N}`, nothing else (EOS excluded).
const WORKED_FORMAT = /^<think>\n(?:[0-9]+(?:\+[0-9]+)*=[0-9]+\n)+<\/think>\n\\boxed\{[0-9]+\}$/;

/** True when a completion has exactly the worked-solution shape (not necessarily correct). */
export function isWorkedFormat(completion: string): boolean {
  return WORKED_FORMAT.test(completion);
}

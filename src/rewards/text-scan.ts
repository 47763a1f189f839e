// Linear-time text primitives with Python semantics. The open-r1 format checks are Python regexes
// with lazy `.*?` under DOTALL; a JS regex port backtracks quadratically (or worse) on adversarial
// completions, so each check is written here as a scanner over indexOf that visits every character
// a bounded number of times.

/** Python's str.count(sub): non-overlapping occurrences, scanning left to right. */
export function countNonOverlapping(text: string, sub: string): number {
  if (sub.length === 0) throw new Error('countNonOverlapping: empty needle');
  let n = 0;
  for (let i = text.indexOf(sub); i !== -1; i = text.indexOf(sub, i + sub.length)) n++;
  return n;
}

/** Python `len(str)`: code points, not UTF-16 units (a lone surrogate counts as one, as in Python). */
export function codePointLength(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** Python `re` `\s` for str patterns (Unicode whitespace, which includes \x1c-\x1f unlike JS `\s`). */
export function isPyReSpace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
  if (c < 0x85) return false;
  return (
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/** Python `str.isspace` separators used by `str.split()` (same set as `re` `\s`). */
export const isPySplitSpace = isPyReSpace;

/**
 * Largest index k ≥ 0 at which `closing` occurs and is followed by end of text or '\n' — what a
 * Python `closing$` under re.MULTILINE accepts. -1 when there is none.
 */
export function lastClosingAtLineEnd(text: string, closing: string): number {
  for (let k = text.lastIndexOf(closing); k !== -1; k = k === 0 ? -1 : text.lastIndexOf(closing, k - 1)) {
    const after = k + closing.length;
    if (after === text.length || text.charCodeAt(after) === 0x0a) return k;
  }
  return -1;
}

/**
 * open-r1 @7041fbc: re.match(r"^<think>.*?</think>\s*<answer>.*?</answer>$", text, DOTALL|MULTILINE).
 * Matches iff the text starts with <think>, some later </think> is followed by whitespace then
 * <answer>, and some </answer> at or after that point ends a line.
 */
export function matchesOpenR1Format(text: string): boolean {
  const open = '<think>';
  if (!text.startsWith(open)) return false;
  const lastClose = lastClosingAtLineEnd(text, '</answer>');
  if (lastClose === -1) return false;
  for (let i = text.indexOf('</think>', open.length); i !== -1; i = text.indexOf('</think>', i + 1)) {
    let p = i + '</think>'.length;
    // \s* is greedy, and '<' is not whitespace, so the only viable <answer> start is after the whole run.
    while (p < text.length && isPyReSpace(text.charCodeAt(p))) p++;
    if (text.startsWith('<answer>', p)) {
      const j = p + '<answer>'.length;
      if (lastClose >= j) return true;
      // A later </think> only moves j right, so it cannot help once lastClose < j.
      return false;
    }
  }
  return false;
}

/**
 * open-r1 @566cfd1: r"^<think>\n.*?\n</think>\n<answer>\n.*?\n</answer>$" (DOTALL|MULTILINE).
 * The earliest middle separator gives the most room for the closing tag, so it alone decides.
 */
export function matchesOpenR1StrictFormat(text: string): boolean {
  const open = '<think>\n';
  if (!text.startsWith(open)) return false;
  const mid = '\n</think>\n<answer>\n';
  const i = text.indexOf(mid, open.length);
  if (i === -1) return false;
  const lastClose = lastClosingAtLineEnd(text, '\n</answer>');
  return lastClose >= i + mid.length;
}

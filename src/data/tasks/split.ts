// The train / held-out partition. A problem's side is a pure function of its canonical text (never
// of a seed), so no training seed, level mix or family order can ever draw a held-out problem.
import type { TaskSplit } from './types.js';
import { fmix32 } from '../../util/hash.js';

/** Default share of the problem space reserved for held-out evaluation. */
export const DEFAULT_HELDOUT_FRACTION = 0.1;

/** 32-bit hash of a string: FNV-1a over UTF-16 code units, then murmur3's fmix32 to spread low bits. */
export function problemHash(problem: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < problem.length; i++) h = Math.imul(h ^ problem.charCodeAt(i), 0x01000193);
  return fmix32(h);
}

/** Which split a problem belongs to: held-out when hash / 2^32 < heldoutFraction. */
export function splitOf(problem: string, heldoutFraction = DEFAULT_HELDOUT_FRACTION): TaskSplit {
  if (!(heldoutFraction > 0 && heldoutFraction < 1)) {
    throw new Error(`heldoutFraction must be in (0, 1), got ${heldoutFraction}`);
  }
  return problemHash(problem) / 4294967296 < heldoutFraction ? 'heldout' : 'train';
}

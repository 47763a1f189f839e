// 32-bit integer hashing shared by the dropout masks (every device) and the data splits.

/** murmur3's 32-bit finaliser: spreads every input bit over the output (unsigned result). */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// FNV-1a over 32-bit words: one multiply per 4 bytes, fast enough to checksum a 150 MB adapter in
// tens of milliseconds, and sensitive to every bit (a torn or stale half shows up as a mismatch).

/** FNV-1a (32-bit) over the words of `u32`, starting from `seed`. */
export function fnv1aWords(u32: Uint32Array, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  const n = u32.length;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ u32[i]!, 0x01000193);
  return h >>> 0;
}

/** Checksum of a float block's bytes (the same bytes the WeightStore holds). */
export function checksumFloat32(data: Float32Array): number {
  return fnv1aWords(new Uint32Array(data.buffer, data.byteOffset, data.length));
}

// Counter-based dropout randomness, identical on every device: element i of stream s under seed k
// is kept when fmix32(fmix32(i ^ k) + s·φ) ≥ p·2³² (murmur3's finaliser, applied twice). The WGSL
// twin is in webgpu/dropout.ts and must stay bit-for-bit the same function.

import { fmix32 } from '../util/hash.js';

export { fmix32 };

export function dropoutHash(seed: number, stream: number, i: number): number {
  return fmix32((fmix32((i ^ seed) >>> 0) + Math.imul(stream, 0x9e3779b9)) >>> 0);
}

/** Elements whose hash is below this are dropped. */
export function dropoutThreshold(p: number): number {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  return Math.min(0xffffffff, Math.floor(p * 4294967296));
}

/** Stream id of one layer's one LoRA module (7 modules per layer). */
export const dropoutStream = (layer: number, module: number): number => layer * 7 + module;

// Fixtures for the engine tests (not a test file itself).
import type { Qwen2Config } from '../../src/model/config.js';
import { allocSharedWeights, weightEntries, type Model } from '../../src/model/weights.js';

/**
 * A random model of a large shape, fast: uniform values of standard deviation `std` from a 32-bit
 * xorshift (createRandomModel's Gaussian draws take minutes for a 152k-token vocabulary on a loaded
 * CI core). Norm weights 1, biases small.
 */
export function fastRandomModel(c: Qwen2Config, seed: number, std: number): Model<Float32Array> {
  const { weights } = allocSharedWeights(c);
  let s = (seed * 2654435761) >>> 0 || 1;
  const a = (std * Math.sqrt(3)) / 2 ** 31;
  for (const [name, t] of weightEntries(c, weights)) {
    const norm = name.endsWith('layernorm.weight') || name === 'model.norm.weight';
    const scale = name.endsWith('.bias') ? a * 0.1 : a;
    for (let i = 0; i < t.length; i++) {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      t[i] = norm ? 1 : (s | 0) * scale;
    }
  }
  return { config: c, weights };
}

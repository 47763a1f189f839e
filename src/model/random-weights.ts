// Random weights of real model shapes for the GPU benchmarks in tools/ (no hub access here): quick to make
// even at 1.5B, and the same in every bench so figures are comparable.
import { buildWeights, type Model } from './weights.js';
import { defaultLoraSettings, initLoraAdapter, LORA_MODULES, type LoraAdapter } from './lora.js';
import type { LoraSettings } from './adapter-layout.js';
import type { Qwen2Config } from './config.js';
import { Rng } from '../util/rng.js';

/** Random weights of the shape, quickly: a 64k-value random block tiled over each tensor (std 0.02). */
export function randomModel(c: Qwen2Config, seed: number): Model<Float32Array> {
  const rng = new Rng(seed);
  const block = new Float32Array(65536);
  for (let i = 0; i < block.length; i++) block[i] = 0.02 * rng.normal();
  let k = 0;
  const weights = buildWeights(c, (name, size) => {
    const t = new Float32Array(size);
    if (name.endsWith('norm.weight')) t.fill(1);
    else if (!name.endsWith('.bias')) {
      // Each tensor tiles the block from its own starting point, so tensors differ.
      const shift = (k++ * 7919) % block.length;
      const rotated = new Float32Array(block.length);
      rotated.set(block.subarray(shift));
      rotated.set(block.subarray(0, shift), block.length - shift);
      for (let o = 0; o < size; o += block.length) t.set(rotated.subarray(0, Math.min(block.length, size - o)), o);
    }
    return t;
  });
  return { config: c, weights };
}

/**
 * Tina's adapter shape (r 32 / alpha 128 / dropout 0.05 on all seven modules, or `over` it) with
 * non-zero B of standard deviation bStd (small by default: the benches' adapted model stays close to
 * the base).
 */
export function randomAdapter(
  c: Qwen2Config,
  seed: number,
  over: Partial<LoraSettings> = {},
  bStd = 1e-3,
): LoraAdapter<Float32Array> {
  const settings = defaultLoraSettings({
    r: 32,
    alpha: 128,
    dropout: 0.05,
    targetModules: [...LORA_MODULES],
    ...over,
  });
  const ad = initLoraAdapter(c, settings, new Rng(seed));
  const rng = new Rng(seed + 1);
  for (const t of ad.layout.tensors)
    if (t.name.endsWith('lora_B'))
      for (let i = 0; i < t.shape[0]! * t.shape[1]!; i++) ad.params[t.offset + i] = bStd * rng.normal();
  return ad;
}

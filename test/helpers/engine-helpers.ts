// Fixtures for the engine tests (not a test file itself): random models and adapters, the shipped tiny
// model with its decoder, and the comparison of two engines' completions.
import type { Test } from 'tap';
import { join } from 'node:path';
import type { Qwen2Config } from '../../src/model/config.js';
import { allocSharedWeights, weightEntries, type Model } from '../../src/model/weights.js';
import type { Completion, SamplingParams } from '../../src/engines/types.js';
import { loadModel } from '../../src/model/load.js';
import { loadTokenizer } from '../../src/model/tokenizer.js';
import { randomAdapter as randomLoraAdapter } from '../../src/model/random-weights.js';
import type { AdapterSnapshot } from '../../src/model/adapter-layout.js';
import { repoRoot } from '../../src/util/paths.js';

export const greedy: SamplingParams = { temperature: 0, top_p: 1, top_k: 0, max_tokens: 10, seed: 0 };

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

export function randomAdapter(model: Model<Float32Array>, seed: number, version: number, r = 4): AdapterSnapshot {
  const a = randomLoraAdapter(model.config, seed, { r, alpha: 2 * r, dropout: 0 }, 0.3);
  return { version, settings: a.settings, layout: a.layout, params: a.params };
}

export function compare(t: Test, what: string, gpu: Completion[], cpu: Completion[], lpTol = 1e-3): void {
  t.equal(gpu.length, cpu.length, `${what}: as many completions`);
  let worst = 0;
  for (let i = 0; i < cpu.length; i++) {
    const g = gpu[i]!,
      c = cpu[i]!;
    t.same(
      [g.promptIndex, g.sampleIndex, g.finishReason, g.policyVersion],
      [c.promptIndex, c.sampleIndex, c.finishReason, c.policyVersion],
      `${what}: completion ${i} identity, finish reason, version`,
    );
    t.same(Array.from(g.tokenIds), Array.from(c.tokenIds), `${what}: completion ${i} ids`);
    t.equal(g.text, c.text, `${what}: completion ${i} text`);
    for (let k = 0; k < Math.min(g.logprobs.length, c.logprobs.length); k++)
      worst = Math.max(worst, Math.abs(g.logprobs[k]! - c.logprobs[k]!));
    t.same(
      Array.from(g.modelLogprobs!),
      Array.from(g.logprobs),
      `${what}: completion ${i} greedy: raw log-probs are the behaviour log-probs`,
    );
  }
  t.ok(
    worst <= lpTol,
    `${what}: log-probs within ${lpTol} of the builtin engine's (max diff ${worst.toExponential(2)})`,
  );
}

const tinyDir = join(repoRoot(), 'models', 'tiny');

/** The shipped tiny model, its tokenizer, and the decoder the engines take. */
export function tinyModel() {
  const model = loadModel(tinyDir);
  const tok = loadTokenizer(tinyDir, model.config);
  const tokenizer = {
    decode: (ids: ArrayLike<number>) => tok.decode(ids, true),
    eosTokenIds: model.config.eosTokenIds,
  };
  return { model, tok, tokenizer };
}

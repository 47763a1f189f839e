// Shared fixtures for the model tests (not a test file itself: no .test suffix).
import { parseQwen2Config, type Qwen2Config } from '../../src/model/config.js';
import type { TrainBatch } from '../../src/model/train.js';
import { Rng } from '../../src/util/rng.js';

/** 2 layers, GQA (4 query heads over 2 KV heads), untied or tied embeddings. */
export function tinyConfig(over: Record<string, unknown> = {}): Qwen2Config {
  return parseQwen2Config(
    {
      model_type: 'qwen2',
      hidden_size: 16,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      intermediate_size: 24,
      vocab_size: 23,
      rope_theta: 10000,
      rms_norm_eps: 1e-6,
      tie_word_embeddings: false,
      max_position_embeddings: 64,
      bos_token_id: 1,
      eos_token_id: 2,
      ...over,
    },
    'tiny config',
  );
}

/** A right-padded batch with different lengths and prompt lengths. */
export function randomBatch(
  c: Qwen2Config,
  seed: number,
  lengths: number[],
  scoreFrom: number[],
  T: number,
): TrainBatch {
  const rng = new Rng(seed);
  const B = lengths.length;
  const ids = new Int32Array(B * T);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) ids[b * T + t] = t < lengths[b]! ? rng.int(c.vocabSize) : 0;
  return { ids, lengths: Int32Array.from(lengths), seqLen: T, scoreFrom: Int32Array.from(scoreFrom) };
}

/**
 * A GRPO-like objective on per-token log-probs: −A·exp(logp − old) + β·k3-KL(ref‖policy), summed
 * over scored positions. Returns the loss and ∂loss/∂logp.
 */
export function grpoLikeLoss(
  logp: ArrayLike<number>,
  batch: TrainBatch,
  adv: number[],
  old: Float64Array,
  ref: Float64Array,
  beta: number,
): { loss: number; dlogp: Float64Array } {
  const T = batch.seqLen;
  const dlogp = new Float64Array(logp.length);
  let loss = 0;
  for (let b = 0; b < batch.lengths.length; b++) {
    for (let t = batch.scoreFrom[b]!; t < batch.lengths[b]!; t++) {
      const i = b * T + t;
      const lp = logp[i]!;
      const ratio = Math.exp(lp - old[i]!);
      const d = ref[i]! - lp;
      loss += -adv[b]! * ratio + beta * (Math.exp(d) - d - 1);
      dlogp[i] = -adv[b]! * ratio + beta * (-Math.exp(d) + 1);
    }
  }
  return { loss, dlogp };
}

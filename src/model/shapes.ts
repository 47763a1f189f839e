// Model shapes the GPU benchmarks and the roofline (tools/) use: the real configs of the models the Tina
// recipe trains, random weights of those shapes stand in for the weights (no hub access here).
import { parseQwen2Config, type Qwen2Config } from './config.js';

const SHAPES: Record<string, Record<string, unknown>> = {
  // DeepSeek-R1-Distill-Qwen-1.5B (Tina's base model), config.json as published.
  '1.5b': {
    hidden_size: 1536,
    num_hidden_layers: 28,
    num_attention_heads: 12,
    num_key_value_heads: 2,
    intermediate_size: 8960,
    vocab_size: 151936,
    rope_theta: 10000,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
    max_position_embeddings: 131072,
  },
  // Qwen2.5-0.5B.
  '0.5b': {
    hidden_size: 896,
    num_hidden_layers: 24,
    num_attention_heads: 14,
    num_key_value_heads: 2,
    intermediate_size: 4864,
    vocab_size: 151936,
    rope_theta: 1000000,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
    max_position_embeddings: 32768,
  },
  // The shipped tiny model (models/tiny/config.json): what the default config trains.
  tiny: {
    hidden_size: 128,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    intermediate_size: 352,
    vocab_size: 20,
    rope_theta: 10000,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
    max_position_embeddings: 128,
  },
  // Small enough for SwiftShader (--quick): the structure of the 1.5B (GQA 6:1, untied) at 1/24 width.
  quick: {
    hidden_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    intermediate_size: 176,
    vocab_size: 1000,
    rope_theta: 10000,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
    max_position_embeddings: 4096,
  },
  // The 1.5B's structure (28 layers, 12 heads, GQA 6:1, untied) at 1/8 width: a decode step enqueues
  // the 1.5B's dispatches (396 on the few-row route) while the GPU's work stays small, so on any adapter, SwiftShader
  // included, bench:gpu-rollout's host ms/step is the 1.5B's cost of encoding a step.
  '1.5b-narrow': {
    hidden_size: 192,
    num_hidden_layers: 28,
    num_attention_heads: 12,
    num_key_value_heads: 2,
    intermediate_size: 1120,
    vocab_size: 1000,
    rope_theta: 10000,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
    max_position_embeddings: 4096,
  },
};

export const SHAPE_NAMES = Object.keys(SHAPES);

export function shapeConfig(name: string): Qwen2Config {
  const s = SHAPES[name];
  if (!s) throw new Error(`unknown model shape "${name}" (one of ${SHAPE_NAMES.join(', ')})`);
  return parseQwen2Config({ model_type: 'qwen2', bos_token_id: 1, eos_token_id: 2, ...s }, `shape ${name}`);
}

/** H200 peaks (NVIDIA datasheet; the same SMs as an H100 SXM): dense TFLOP/s and HBM3e bandwidth. */
export const H200 = { f32: 67e12, f16NonTensor: 134e12, bf16Tensor: 989e12, bytesPerS: 4.8e12 };

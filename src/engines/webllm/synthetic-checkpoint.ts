// A Qwen2-0.5B-shaped Hugging Face checkpoint with seeded random weights, for checking the WebLLM
// path end to end where no pretrained weights exist (offline machines, CI). Weights are stored as
// BF16 so the MLC load (which passes f32 through bf16) is exact; the tokenizer is a WordLevel
// tokenizer "t0 t1 ..." with exactly vocab_size entries, so text ↔ ids round-trips exactly and the
// compiled MLC library (which fixes vocab_size) accepts it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../util/rng.js';
import { buildFolderOnce } from '../../util/fs-write.js';
import { bf16ToF32, f32ToBf16 } from './half-floats.js';
import { writeSafetensors, type TensorToWrite } from '../../model/safetensors.js';
import type { MlcModelConfig } from './mlc-artifacts.js';

/** The dimensions that fix a Qwen2 model library's shapes (the same fields as mlc-chat-config.json's). */
export type Qwen2Shape = MlcModelConfig;

/** The shape the public Qwen2-0.5B-Instruct MLC libraries are compiled for. */
export const QWEN2_0_5B: Qwen2Shape = {
  hidden_size: 896,
  intermediate_size: 4864,
  num_hidden_layers: 24,
  num_attention_heads: 14,
  num_key_value_heads: 2,
  vocab_size: 151936,
};

/** Token id used as EOS by the synthetic tokenizer (Qwen2's <|endoftext|> id). */
export const SYNTHETIC_EOS = 151643;

/** EOS id of the synthetic checkpoint: Qwen2's <|endoftext|> id, or the last id for small vocabularies. */
export function syntheticEos(shape: Qwen2Shape): number {
  return Math.min(SYNTHETIC_EOS, shape.vocab_size - 1);
}

/** Synthetic prompt text for token ids (the synthetic WordLevel tokenizer's inverse). */
export function syntheticText(ids: ArrayLike<number>): string {
  return Array.from(ids, (i) => 't' + i).join(' ');
}

/** Write config.json, generation_config.json, tokenizer.json, model.safetensors into dir (skips if present). */
export function writeSyntheticQwen2Checkpoint(dir: string, seed: number, shape: Qwen2Shape = QWEN2_0_5B): string {
  // Built in a temp folder and renamed into place (so a folder that exists is whole): parallel test
  // files share this cache.
  return buildFolderOnce(dir, (tmp) => writeCheckpoint(tmp, seed, shape));
}

function writeCheckpoint(dir: string, seed: number, shape: Qwen2Shape): void {
  mkdirSync(dir, { recursive: true });
  const eos = syntheticEos(shape);
  const d = shape.hidden_size;
  const hd = d / shape.num_attention_heads;
  const kvd = hd * shape.num_key_value_heads;
  const config = {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    hidden_size: d,
    intermediate_size: shape.intermediate_size,
    num_hidden_layers: shape.num_hidden_layers,
    num_attention_heads: shape.num_attention_heads,
    num_key_value_heads: shape.num_key_value_heads,
    vocab_size: shape.vocab_size,
    max_position_embeddings: 4096,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000.0,
    hidden_act: 'silu',
    tie_word_embeddings: true,
    bos_token_id: eos,
    eos_token_id: eos,
    torch_dtype: 'bfloat16',
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ bos_token_id: eos, eos_token_id: eos }, null, 2));
  const vocab: Record<string, number> = {};
  for (let i = 0; i < shape.vocab_size; i++) vocab['t' + i] = i;
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: 't0' },
  };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));

  const rng = Rng.derive(seed, 'synthetic-qwen2');
  const u = new Uint32Array(1 << 16);
  const tensors: TensorToWrite[] = [];
  // Uniform(-a, a) has std a/√3; scales chosen so 24 random layers keep activations O(1) and the
  // tied head gives logits with clear (not tie-prone) maxima.
  // Each tensor is drawn when the writer reaches it (in this order, so the draws are the same), so the
  // 1.5B shape (6 GB as f32) is never held whole.
  const add = (name: string, shapeArr: number[], a: number, center = 0): void => {
    const draw = (): Float32Array => {
      const n = shapeArr.reduce((x, y) => x * y, 1);
      const f = new Float32Array(n);
      for (let i0 = 0; i0 < n; i0 += u.length) {
        const m = Math.min(u.length, n - i0);
        rng.fillU32(u.subarray(0, m));
        for (let i = 0; i < m; i++) f[i0 + i] = center + a * (2 * (u[i]! / 4294967296) - 1);
      }
      // Rounded to bf16 here, so the file (BF16) and MLC's f32-to-bf16 load hold exactly these values.
      return bf16ToF32(f32ToBf16(f));
    };
    tensors.push({ name, dtype: 'BF16', shape: shapeArr, data: draw });
  };
  add('model.embed_tokens.weight', [shape.vocab_size, d], 0.1);
  const w = Math.sqrt(3) * 0.02;
  for (let l = 0; l < shape.num_hidden_layers; l++) {
    const p = `model.layers.${l}.`;
    add(p + 'input_layernorm.weight', [d], 0.2, 1);
    add(p + 'self_attn.q_proj.weight', [d, d], w * 2);
    add(p + 'self_attn.q_proj.bias', [d], 0.1);
    add(p + 'self_attn.k_proj.weight', [kvd, d], w * 2);
    add(p + 'self_attn.k_proj.bias', [kvd], 0.1);
    add(p + 'self_attn.v_proj.weight', [kvd, d], w);
    add(p + 'self_attn.v_proj.bias', [kvd], 0.02);
    add(p + 'self_attn.o_proj.weight', [d, d], w);
    add(p + 'post_attention_layernorm.weight', [d], 0.2, 1);
    add(p + 'mlp.gate_proj.weight', [shape.intermediate_size, d], w);
    add(p + 'mlp.up_proj.weight', [shape.intermediate_size, d], w);
    add(p + 'mlp.down_proj.weight', [d, shape.intermediate_size], w);
  }
  add('model.norm.weight', [d], 0.2, 1);
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
}

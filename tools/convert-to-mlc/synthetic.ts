// A synthetic checkpoint for a compiled WebLLM model library: the seeded random Qwen2 checkpoint of
// src/engines/webllm/synthetic-checkpoint.ts in the shape the library was compiled for (read from the
// metadata embedded in it), converted to the storage it loads. The WebLLM tests and benches run real
// libraries on these where no pretrained weights exist (offline machines, CI, the GPU machine).
// Both folders are built once into a cache and renamed into place whole (parallel test files share it).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildFolderOnce } from '../../src/util/fs-write.js';
import { readMlcLibMetadata, type MlcLibMetadata } from '../../src/engines/webllm/mlc-artifacts.js';
import {
  QWEN2_0_5B,
  writeSyntheticQwen2Checkpoint,
  type Qwen2Shape,
} from '../../src/engines/webllm/synthetic-checkpoint.js';
import { convertToMlc, type MlcStorageDtype } from '../convert-to-mlc.js';

/** The storage each library quantization loads (the libraries loractor can sync LoRA into). */
const STORAGE: Record<string, MlcStorageDtype> = { q0f32: 'f32-to-bf16', q0f16: 'f16', q4f16_1: 'q4f16_1' };

export interface SyntheticMlcModel {
  /** The Hugging Face checkpoint (config, tokenizer, BF16 safetensors). */
  hf: string;
  /** Its MLC conversion for the library. */
  mlcDir: string;
  /** '0.5b' for the Qwen2-0.5B shape, else `${hidden}x${layers}` (1536x28 is the 1.5B shape). */
  tag: string;
  shape: Qwen2Shape;
  /** The library's quantization (q0f32, q0f16, q4f16_1). */
  quantization: string;
}

/** The synthetic checkpoint (seed `seed`) for `libFile` and its conversion, under `cache`. */
export function syntheticMlcModelFor(libFile: string, cache: string, seed = 1): SyntheticMlcModel {
  const meta = readMlcLibMetadata(libFile);
  const storage = STORAGE[meta.quantization];
  if (!storage)
    throw new Error(
      `${libFile} is a ${meta.quantization} library; synthetic weights are made for ${Object.keys(STORAGE).join(', ')} libraries`,
    );
  const shape = libraryShape(libFile, meta);
  const tag =
    JSON.stringify(shape) === JSON.stringify(QWEN2_0_5B) ? '0.5b' : `${shape.hidden_size}x${shape.num_hidden_layers}`;
  mkdirSync(cache, { recursive: true });
  const hf = writeSyntheticQwen2Checkpoint(join(cache, `hf-qwen2-${tag}-s${seed}`), seed, shape);
  // The q0f32 folder keeps its first name, so caches made before other storages existed stay valid.
  const mlcDir = join(cache, `mlc-qwen2-${tag}-s${seed}${storage === 'f32-to-bf16' ? '' : `-${storage}`}`);
  buildFolderOnce(mlcDir, (tmp) => convertToMlc({ model: hf, out: tmp, convTemplate: 'raw', dtype: storage }));
  return { hf, mlcDir, tag, shape, quantization: meta.quantization };
}

/** The Qwen2 dimensions a library was compiled for, from its parameter table and KV-cache metadata. */
export function libraryShape(libFile: string, meta: MlcLibMetadata): Qwen2Shape {
  const param = (base: string): { shape: number[]; packed: boolean } => {
    for (const [suffix, packed] of [
      ['.weight', false],
      ['.q_weight', true],
    ] as const) {
      const p = meta.params.find((x) => x.name === base + suffix);
      if (p) return { shape: p.shape, packed };
    }
    throw new Error(`${libFile}: no parameter ${base}.weight or ${base}.q_weight in its metadata`);
  };
  const kv = meta.kv_cache as
    | { num_hidden_layers: number; num_attention_heads: number; num_key_value_heads: number }
    | undefined;
  if (!kv) throw new Error(`${libFile}: no kv_cache entry in its metadata (not a Qwen2 MLC library?)`);
  const embed = param('model.embed_tokens');
  // A q4f16_1 row packs 8 four-bit codes per uint32 word.
  const hidden = embed.shape[1]! * (embed.packed ? 8 : 1);
  return {
    hidden_size: hidden,
    intermediate_size: param('model.layers.0.mlp.gate_up_proj').shape[0]! / 2,
    num_hidden_layers: kv.num_hidden_layers,
    num_attention_heads: kv.num_attention_heads,
    num_key_value_heads: kv.num_key_value_heads,
    vocab_size: embed.shape[0]!,
  };
}

// Shared by the WebLLM tests: why they skip (no compiled model library, no Vulkan driver), and the
// Qwen2-0.5B-shaped synthetic checkpoint with its MLC conversion, cached across tests and runs.
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFolderOnce } from '../../src/util/fs-write.js';

export const mlcLib = process.env.LORACTOR_MLC_LIB;

/** Why a test needing the compiled library cannot run, or false. */
export const noMlcLib: string | false =
  !mlcLib || !existsSync(mlcLib)
    ? `LORACTOR_MLC_LIB not set or missing (${mlcLib ?? 'unset'}); see docs/webllm.md to obtain Qwen2-0.5B-Instruct-q0f32-ctx4k_cs1k-webgpu.wasm`
    : false;

/** Why a test needing the library and a WebGPU adapter cannot run, or false. */
export const noWebGpu: string | false =
  noMlcLib ||
  (!process.env.VK_ICD_FILENAMES || !existsSync(process.env.VK_ICD_FILENAMES)
    ? "no Vulkan driver for Dawn: set VK_ICD_FILENAMES (e.g. /usr/lib/chromium/vk_swiftshader_icd.json from Debian's chromium)"
    : false);

/** The seed-1 synthetic checkpoint and its MLC artifacts (converted once; LORACTOR_WEBLLM_CACHE keeps them). */
export async function syntheticMlcModel(): Promise<{ hf: string; mlcDir: string }> {
  const { writeSyntheticQwen2Checkpoint } = await import('../../src/engines/webllm/synthetic-checkpoint.js');
  const { convertToMlc } = await import('../../tools/convert-to-mlc.js');
  const cache = process.env.LORACTOR_WEBLLM_CACHE ?? join(tmpdir(), 'loractor-webllm-cache');
  mkdirSync(cache, { recursive: true });
  const hf = writeSyntheticQwen2Checkpoint(join(cache, 'hf-qwen2-0.5b-s1'), 1);
  const mlcDir = join(cache, 'mlc-qwen2-0.5b-s1');
  // Converted into a temp folder and renamed into place (so a folder that exists is whole): the WebLLM
  // test files run in parallel.
  buildFolderOnce(mlcDir, (tmp) => convertToMlc({ model: hf, out: tmp, convTemplate: 'raw' }));
  return { hf, mlcDir };
}

/** A q4f16_1 model library (0.5B or 1.5B Qwen2, v0_2_48 set) for the q4 sync's end-to-end test. */
export const mlcLibQ4 = process.env.LORACTOR_MLC_LIB_Q4;

/** Why the q4 end-to-end test cannot run, or false. */
export const noWebGpuQ4: string | false =
  !mlcLibQ4 || !existsSync(mlcLibQ4)
    ? `LORACTOR_MLC_LIB_Q4 not set or missing (${mlcLibQ4 ?? 'unset'}); see docs/webllm.md to obtain Qwen2-0.5B-Instruct-q4f16_1-ctx4k_cs1k-webgpu.wasm (or the 1.5B one)`
    : !process.env.VK_ICD_FILENAMES || !existsSync(process.env.VK_ICD_FILENAMES)
      ? "no Vulkan driver for Dawn: set VK_ICD_FILENAMES (e.g. /usr/lib/chromium/vk_swiftshader_icd.json from Debian's chromium)"
      : false;

/**
 * The seed-1 synthetic checkpoint in the shape a q4f16_1 library was compiled for (read from its
 * embedded metadata) and its q4f16_1 MLC conversion, cached like syntheticMlcModel's.
 */
export async function syntheticMlcModelQ4(libFile: string): Promise<{ hf: string; mlcDir: string; tag: string }> {
  const { readMlcLibMetadata } = await import('../../src/engines/webllm/mlc-artifacts.js');
  const { writeSyntheticQwen2Checkpoint, QWEN2_0_5B } = await import(
    '../../src/engines/webllm/synthetic-checkpoint.js'
  );
  const { convertToMlc } = await import('../../tools/convert-to-mlc.js');
  const meta = readMlcLibMetadata(libFile);
  if (meta.quantization !== 'q4f16_1') throw new Error(`${libFile} is a ${meta.quantization} library, not q4f16_1`);
  const shapeOf = (name: string): number[] => {
    const p = meta.params.find((x) => x.name === name);
    if (!p) throw new Error(`${libFile}: no parameter ${name} in its metadata`);
    return p.shape;
  };
  const kv = meta.kv_cache as { num_hidden_layers: number; num_attention_heads: number; num_key_value_heads: number };
  const shape = {
    hidden_size: shapeOf('model.embed_tokens.q_weight')[1]! * 8,
    intermediate_size: shapeOf('model.layers.0.mlp.gate_up_proj.q_weight')[0]! / 2,
    num_hidden_layers: kv.num_hidden_layers,
    num_attention_heads: kv.num_attention_heads,
    num_key_value_heads: kv.num_key_value_heads,
    vocab_size: shapeOf('model.embed_tokens.q_weight')[0]!,
  };
  const is05b = JSON.stringify(shape) === JSON.stringify(QWEN2_0_5B);
  const tag = is05b ? '0.5b' : `${shape.hidden_size}x${shape.num_hidden_layers}`;
  const cache = process.env.LORACTOR_WEBLLM_CACHE ?? join(tmpdir(), 'loractor-webllm-cache');
  mkdirSync(cache, { recursive: true });
  const hf = writeSyntheticQwen2Checkpoint(join(cache, `hf-qwen2-${tag}-s1`), 1, shape);
  const mlcDir = join(cache, `mlc-qwen2-${tag}-s1-q4f16_1`);
  buildFolderOnce(mlcDir, (tmp) => convertToMlc({ model: hf, out: tmp, convTemplate: 'raw', dtype: 'q4f16_1' }));
  return { hf, mlcDir, tag };
}

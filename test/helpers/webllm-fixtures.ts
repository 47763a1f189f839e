// Shared by the WebLLM tests: why they skip (no compiled model library, no Vulkan driver), and the
// Qwen2-0.5B-shaped synthetic checkpoint with its MLC conversion, cached across tests and runs.
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
  if (!existsSync(join(mlcDir, 'ndarray-cache.json'))) convertToMlc({ model: hf, out: mlcDir, convTemplate: 'raw' });
  return { hf, mlcDir };
}

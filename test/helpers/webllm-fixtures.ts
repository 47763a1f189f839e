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

/** The cache the WebLLM fixtures share across test files and runs (LORACTOR_WEBLLM_CACHE). */
const fixtureCache = (): string => process.env.LORACTOR_WEBLLM_CACHE ?? join(tmpdir(), 'loractor-webllm-cache');

/** The seed-1 Qwen2-0.5B-shaped synthetic checkpoint and its q0f32 MLC artifacts (converted once). */
export async function syntheticMlcModel(): Promise<{ hf: string; mlcDir: string }> {
  const { writeSyntheticQwen2Checkpoint } = await import('../../src/engines/webllm/synthetic-checkpoint.js');
  const { convertToMlc } = await import('../../tools/convert-to-mlc.js');
  const cache = fixtureCache();
  mkdirSync(cache, { recursive: true });
  const hf = writeSyntheticQwen2Checkpoint(join(cache, 'hf-qwen2-0.5b-s1'), 1);
  const mlcDir = join(cache, 'mlc-qwen2-0.5b-s1');
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

/** The seed-1 synthetic checkpoint in the shape a q4f16_1 library was compiled for, and its q4f16_1 conversion. */
export async function syntheticMlcModelQ4(libFile: string): Promise<{ hf: string; mlcDir: string; tag: string }> {
  const { syntheticMlcModelFor } = await import('../../tools/convert-to-mlc/synthetic.js');
  const m = syntheticMlcModelFor(libFile, fixtureCache());
  if (m.quantization !== 'q4f16_1') throw new Error(`${libFile} is a ${m.quantization} library, not q4f16_1`);
  return m;
}

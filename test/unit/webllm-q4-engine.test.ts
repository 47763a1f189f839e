// End to end through a real q4f16_1 model library: a synthetic checkpoint in the library's shape →
// convert-to-mlc --dtype q4f16_1 → WebLLM, then the check of src/engines/webllm/q4-engine-check.ts
// (greedy tokens and log-probs against the CPU on the same q4 weights, before and after a q4 sync;
// tools/webllm-q4-check.ts runs the same check on a GPU machine without tap). On an adapter without
// shader-f16 (Dawn's SwiftShader) the engine must refuse the library up front, and that is checked.
//
// Needs LORACTOR_MLC_LIB_Q4=/path/Qwen2-0.5B-Instruct-q4f16_1-ctx4k_cs1k-webgpu.wasm (or the 1.5B
// library; v0_2_48 lib set) and a Vulkan driver (VK_ICD_FILENAMES). Skips otherwise. SwiftShader
// makes minutes per token, so two tokens before and after the sync.
import t from 'tap';
import { mlcLibQ4, noWebGpuQ4, syntheticMlcModelQ4 } from '../helpers/webllm-fixtures.js';

const lib = mlcLibQ4 as string;

// q4f16_1 kernels compute in f16 (WGSL `enable f16`): an adapter without shader-f16 (Dawn's
// SwiftShader has none) cannot run them. There the engine must refuse the library up front.
const noF16 = noWebGpuQ4 ? false : await (await import('../../src/engines/webllm/node-env.js')).missingShaderF16();
const skip = noWebGpuQ4 || (noF16 ? `${noF16}: a q4f16_1 library needs a GPU with shader-f16` : false);

t.test(
  'a q4f16_1 library on an adapter without shader-f16 is refused before loading, naming the feature',
  {
    skip: noWebGpuQ4 || (noF16 ? false : 'the adapter has shader-f16'),
  },
  async (t) => {
    const { createWebLlmEngine } = await import('../../src/engines/webllm/engine.js');
    const { mlcDir } = await syntheticMlcModelQ4(lib);
    await t.rejects(
      createWebLlmEngine({ mlcDir, libFile: lib, contextWindow: 256 }),
      /is a q4f16_1 library, whose kernels compute in f16, but the WebGPU adapter .* has no shader-f16 feature/,
    );
  },
);

t.test(
  'WebLLM q4f16_1 library: q4 sync writes the merged adapter, tokens match the CPU on the same weights',
  { skip },
  async (t) => {
    const { checkQ4Engine } = await import('../../src/engines/webllm/q4-engine-check.js');
    const tc = performance.now();
    const { hf, mlcDir, tag } = await syntheticMlcModelQ4(lib);
    t.comment(`model ${tag}, checkpoint + q4f16_1 conversion ${((performance.now() - tc) / 1000).toFixed(1)} s`);
    await checkQ4Engine(t, { lib, hf, mlcDir });
  },
);

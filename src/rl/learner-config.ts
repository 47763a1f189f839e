// The `learner` config section: where the learner's arithmetic runs and how it fits in memory.
import { z } from 'zod';

export const learnerSectionSchema = z
  .object({
    device: z
      .enum(['cpu', 'webgpu'])
      .default('cpu')
      .describe(
        "Where the learner's forward, backward and AdamW run: 'cpu' (TypeScript kernels, WASM-SIMD matmul, worker threads) or 'webgpu' (WGSL kernels on the adapter Dawn or the browser finds; `loractor check` reports it). Default 'cpu'.",
      ),
    weight_dtype: z
      .enum(['f16', 'f32'])
      .default('f16')
      .describe(
        "webgpu: storage of the frozen base matrices on the GPU. f16 halves memory and bandwidth (accumulation stays f32); a matrix with a value outside the f16 range stays f32 and is named at start-up. The LoRA block, gradients and optimizer state are always f32. Default 'f16'.",
      ),
    recompute: z
      .boolean()
      .default(true)
      .describe(
        "webgpu: keep only each layer's input during the policy forward and recompute the layer in the backward (gradient checkpointing): activation memory per token falls from ~(9·hidden + 3·intermediate) floats per layer to one hidden vector per layer, for ~1/3 more forward compute. Default true.",
      ),
    gpu_memory_gib: z
      .number()
      .positive()
      .nullable()
      .default(null)
      .describe(
        "Memory of the GPU in GiB, compared with what the run needs there (learner.device webgpu and/or model.engine webgpu: weights, paged KV cache, adapter versions, activations): `check` reports it and training refuses a run that cannot fit, naming the knobs to lower. WebGPU does not report a GPU's memory; on NVIDIA `check` asks nvidia-smi for the learner when this is null. Default null (not checked).",
      ),
  })
  .strict()
  .default({ device: 'cpu', weight_dtype: 'f16', recompute: true, gpu_memory_gib: null })
  .describe('Learner device and memory settings.');

export type LearnerDeviceConfig = z.output<typeof learnerSectionSchema>;

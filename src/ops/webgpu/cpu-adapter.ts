// Whether a context runs on a CPU implementation of the GPU API (SwiftShader, llvmpipe/lavapipe:
// CI's adapters). Kernels pick other shapes there: such adapters run a workgroup's invocations
// as coroutines on a few cores, so barriers and large workgroups cost far more than on a GPU,
// and every pipeline costs real time to compile.
import type { GpuContext } from './context.js';
import { isCpuAdapterName } from './device.js';

export { isCpuAdapterName };

export function isCpuAdapter(ctx: GpuContext): boolean {
  return isCpuAdapterName(ctx.info.adapter);
}

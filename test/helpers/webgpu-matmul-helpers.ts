// Operands for the WebGPU matmul / LoRA / LM-head tests: host data placed at odd offsets inside
// larger buffers (views), f16 rounding as the GPU stores it, and matrices split in row blocks the
// way tensors larger than one storage binding are.
import { uploadTensor, type GpuContext } from '../../src/ops/webgpu/context.js';
import { packF16, unpackF16, viewOf, type GpuTensor } from '../../src/ops/webgpu/tensor.js';
import { useSwiftShaderIfNoDriver } from './gpu-helpers.js';
import type { MatmulVariant } from '../../src/ops/webgpu/gemm.js';

/** Relative error bound per variant. f32 kernels: rounding only; the f16 kernel rounds A (scaled) and B to f16. */
export const TOL: Record<MatmulVariant, number> = {
  tiled: 2e-6,
  subgroup: 2e-6,
  direct: 2e-6,
  'f16-emulated': 3e-3,
  f16: 1e-2,
  'subgroup-matrix': 1e-2,
};

/** data as elements [offset, offset+n) of a tensor with junk around it. */
export function placed(ctx: GpuContext, data: Float32Array, offset: number, dtype: 'f32' | 'f16' = 'f32'): GpuTensor {
  const host = new Float32Array(offset + data.length + 3).fill(1234.5);
  host.set(data, offset);
  return viewOf(uploadTensor(ctx, host, dtype, 'test operand'), offset, data.length);
}

/** x rounded to f16 and back (what an f16 tensor holds). */
export function f16Round(x: Float32Array): Float32Array {
  return unpackF16(packF16(x, 'test'), x.length);
}

/**
 * A [rows, rowWidth] matrix split into row blocks of rowsPerPart rows (the last may be shorter),
 * each block a view at an odd offset in its own buffer.
 */
export function splitMatrix(
  ctx: GpuContext,
  data: Float32Array,
  rowWidth: number,
  rowsPerPart: number,
  dtype: 'f32' | 'f16' = 'f32',
): GpuTensor {
  const rows = data.length / rowWidth;
  const parts: GpuTensor[] = [];
  for (let r = 0; r < rows; r += rowsPerPart) {
    const n = Math.min(rowsPerPart, rows - r);
    parts.push(
      placed(
        ctx,
        data.subarray(r * rowWidth, (r + n) * rowWidth),
        dtype === 'f16' ? 2 * parts.length + 1 : parts.length + 3,
        dtype,
      ),
    );
  }
  return { buffer: parts[0]!.buffer, offset: 0, length: data.length, dtype, split: { rowWidth, rowsPerPart, parts } };
}

let nullGpu: GPU | null = null; // held for the process: Dawn must not collect its GPU object while devices live

/**
 * A device on Dawn's null backend, which offers shader-f16 and subgroup matrices but executes
 * nothing: WGSL and pipeline validation of the kernels SwiftShader cannot run.
 */
export async function nullBackendDevice(): Promise<{ device: GPUDevice; adapter: GPUAdapter }> {
  useSwiftShaderIfNoDriver();
  const dawn = (await import('webgpu')) as unknown as { create: (o: string[]) => GPU; globals: object };
  for (const [k, v] of Object.entries(dawn.globals))
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  nullGpu ??= dawn.create(['backend=null', 'enable-dawn-features=allow_unsafe_apis']);
  const adapter = await nullGpu.requestAdapter();
  if (!adapter) throw new Error('Dawn offers no null-backend adapter');
  const want = ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix'] as GPUFeatureName[];
  const missing = want.filter((f) => !adapter.features.has(f));
  if (missing.length) throw new Error(`the null backend lacks ${missing.join(', ')}`);
  const device = await adapter.requestDevice({ requiredFeatures: want });
  return { device, adapter };
}

/** Compiles a kernel into a pipeline; resolves to the validation error message, or null. */
export async function compileError(device: GPUDevice, code: string): Promise<string | null> {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code });
  let failed: string | null = null;
  await device
    .createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } })
    .catch((e: Error) => {
      failed = e.message;
    });
  const err = await device.popErrorScope();
  return err?.message ?? failed;
}

// The q4f16_1 sync bound to a loaded WebLLM pipeline: our kernels run on web-llm's own GPUDevice and
// write q_weight / q_scale in place (the buffers prefill and decode read), and W0 comes from the
// library's artifacts (their q4 records dequantized: exactly the weights web-llm serves before any
// adapter, so syncing the base model rewrites the same words). Not exercised in CI: no q4 library
// is obtainable on the test machines (docs/webllm.md); the kernel and the sync transaction are
// tested on buffers of our own device (test/unit/webllm-q4.test.ts).
import { contextForDevice } from '../../ops/webgpu/context.js';
import type { GpuDeviceInfo } from '../../ops/webgpu/device.js';
import type { GpuTensor } from '../../ops/webgpu/tensor.js';
import { readMlcParamBytes, type MlcArtifacts } from './mlc-artifacts.js';
import { paramGpuBuffer, pipelineGpuDevice, type Pipeline } from './private-access.js';
import { createQ4Sync, type Q4Destination, type Q4SyncState } from './q4-sync.js';
import { dequantizeQ4, q4Groups, q4ParamNames, q4WordsPerRow } from './q4f16.js';

function deviceInfo(device: GPUDevice): GpuDeviceInfo {
  const l = device.limits;
  return {
    adapter: 'web-llm device',
    features: [...device.features] as string[],
    limits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      minStorageBufferOffsetAlignment: l.minStorageBufferOffsetAlignment,
    },
    subgroupMinSize: 0,
    subgroupMaxSize: 0,
  };
}

/** Input width of a Qwen2 linear in MLC's naming (down_proj reads the intermediate size). */
function colsOf(name: string, a: MlcArtifacts): number {
  return /\.mlp\.down_proj\.weight$/.test(name) ? a.modelConfig.intermediate_size : a.modelConfig.hidden_size;
}

/** W0 of `<module>.weight` from the artifacts' q_weight / q_scale records, dequantized. */
export function readMlcQ4ParamF32(a: MlcArtifacts, name: string): Float32Array {
  const { qWeight, qScale } = q4ParamNames(name);
  const w = readMlcParamBytes(a, qWeight);
  const s = readMlcParamBytes(a, qScale);
  if (w.rec.dtype !== 'uint32' || s.rec.dtype !== 'float16' || w.rec.format !== 'raw' || s.rec.format !== 'raw') {
    throw new Error(
      `MLC artifacts: ${qWeight} (${w.rec.format}/${w.rec.dtype}) and ${qScale} (${s.rec.format}/${s.rec.dtype}) are not q4f16_1 (raw uint32 and float16)`,
    );
  }
  const rows = w.rec.shape[0]!;
  const cols = colsOf(name, a);
  if (w.rec.shape[1] !== q4WordsPerRow(cols) || s.rec.shape[0] !== rows || s.rec.shape[1] !== q4Groups(cols)) {
    throw new Error(
      `MLC artifacts: ${qWeight} [${w.rec.shape}] / ${qScale} [${s.rec.shape}] do not hold a q4f16_1 [${rows}, ${cols}] matrix`,
    );
  }
  const words = new Uint32Array(w.bytes.buffer, w.bytes.byteOffset, w.bytes.byteLength / 4);
  const scales = new Uint16Array(s.bytes.buffer, s.bytes.byteOffset, s.bytes.byteLength / 2);
  return dequantizeQ4({ words, scales }, { rows, cols });
}

export function createWebLlmQ4Sync(artifacts: MlcArtifacts, pipeline: Pipeline): Q4SyncState {
  const ctx = contextForDevice(pipelineGpuDevice(pipeline), deviceInfo(pipelineGpuDevice(pipeline)));
  const dest = new Map<string, Q4Destination>();
  const host = new Map<string, Float32Array>();
  const destination = (name: string): Q4Destination => {
    let d = dest.get(name);
    if (!d) {
      const { qWeight, qScale } = q4ParamNames(name);
      const w = paramGpuBuffer(pipeline, qWeight);
      const s = paramGpuBuffer(pipeline, qScale);
      const cols = colsOf(name, artifacts);
      const rows = w.shape[0]!;
      if (
        w.dtype !== 'uint32' ||
        s.dtype !== 'float16' ||
        w.shape[1] !== q4WordsPerRow(cols) ||
        s.shape[0] !== rows ||
        s.shape[1] !== q4Groups(cols)
      ) {
        throw new Error(
          `WebLLM q4 sync: ${qWeight} ${w.dtype} [${w.shape}] / ${qScale} ${s.dtype} [${s.shape}] are not a q4f16_1 [${rows}, ${cols}] matrix`,
        );
      }
      const words: GpuTensor = { buffer: w.buffer, offset: 0, length: rows * q4WordsPerRow(cols), dtype: 'i32' };
      const scales: GpuTensor = { buffer: s.buffer, offset: 0, length: rows * q4Groups(cols), dtype: 'f16' };
      dest.set(name, (d = { rows, cols, words, scales }));
    }
    return d;
  };
  const baseHost = (name: string): Float32Array => {
    let b = host.get(name);
    if (!b) host.set(name, (b = readMlcQ4ParamF32(artifacts, name)));
    return b;
  };
  // f16 residency: W0 here is (q − 7)·scale, which f16 holds exactly only up to 11 significant
  // bits; f32 keeps the dequantized base exact, so syncing the base model reproduces the stored words.
  return createQ4Sync(ctx, destination, baseHost, { baseDtype: 'f32' });
}

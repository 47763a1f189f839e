// Acquiring a WebGPU device: `navigator.gpu` in a browser, Dawn (npm `webgpu`) in Node. This is the
// only file of src/ops/webgpu that knows about Node; the kernels use the WebGPU API alone, so a
// browser tab can run them.
//
// The device asks for every feature the kernels can use (shader-f16, subgroups, Dawn's
// subgroup-matrix) and for the adapter's own limits (storage binding size, workgroup storage,
// buffers per stage) rather than the spec's small defaults.

import { CPU_ADAPTER_PACING, dawnPacing, paceDawnPolling, GPU_PACING } from './dawn-pacing.js';

export interface GpuDeviceInfo {
  /** vendor / architecture / device / description, as the adapter reports them. */
  adapter: string;
  features: string[];
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxStorageBuffersPerShaderStage: number;
    maxComputeWorkgroupsPerDimension: number;
    minStorageBufferOffsetAlignment: number;
  };
  subgroupMinSize: number;
  subgroupMaxSize: number;
  /** WGSL language features of the implementation (e.g. `subgroup_id`); absent where unknown. */
  wgslLanguageFeatures?: string[];
}

/** Whether an adapter description (GpuDeviceInfo.adapter) names a CPU implementation (cpu-adapter.ts). */
export function isCpuAdapterName(adapter: string): boolean {
  return /swiftshader|llvmpipe|lavapipe/i.test(adapter);
}

export interface AcquiredDevice {
  device: GPUDevice;
  info: GpuDeviceInfo;
}

/** Features the kernels use when present. `chromium-experimental-subgroup-matrix` is Dawn's name. */
export const WANTED_FEATURES = [
  'shader-f16',
  'subgroups',
  'chromium-experimental-subgroup-matrix',
  'timestamp-query',
] as const;

export class NoGpuAdapterError extends Error {
  constructor(detail: string) {
    super(`no WebGPU adapter: ${detail}`);
    this.name = 'NoGpuAdapterError';
  }
}

// Dawn crashes if its GPU object is garbage-collected while devices live: hold it for the thread.
let gpuKeepAlive: GPU | null = null;

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return !!p?.versions?.node;
}

/** navigator.gpu, creating it from Dawn in Node (once per thread). */
export async function gpuEntryPoint(): Promise<GPU> {
  if (gpuKeepAlive) return gpuKeepAlive;
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return (gpuKeepAlive = nav.gpu);
  if (!isNode()) throw new NoGpuAdapterError('this browser has no navigator.gpu');
  const dawn = (await import('webgpu')) as unknown as { create: (o: string[]) => GPU; globals: object };
  for (const [k, v] of Object.entries(dawn.globals))
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  // allow_unsafe_apis exposes Dawn's experimental features (subgroup-matrix) where the driver has them.
  // disable_workgroup_init skips WGSL's zero-fill of workgroup memory: on SwiftShader that fill
  // costs compile time quadratic in the array size (25 s for one 32 KiB kernel, 0.1 s without),
  // and on GPUs a store pass per workgroup. Kernels must therefore write workgroup memory before
  // reading it (as in CUDA); a browser still zero-fills, which changes nothing for such kernels.
  gpuKeepAlive = dawn.create(['enable-dawn-features=allow_unsafe_apis,disable_workgroup_init']);
  paceDawnPolling(GPU_PACING);
  return gpuKeepAlive;
}

function noAdapterHint(): string {
  if (!isNode()) return 'the browser offered none';
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
  return (
    "Dawn found no Vulkan device. Without a GPU install Debian's chromium and libvulkan1 and set " +
    `VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (SwiftShader); VK_ICD_FILENAMES is ${env.VK_ICD_FILENAMES ? `"${env.VK_ICD_FILENAMES}"` : 'unset'}`
  );
}

export interface DeviceRequest {
  /** Leave out features even when the adapter has them (tests of the portable paths). */
  disableFeatures?: string[];
}

export async function acquireGpuDevice(req: DeviceRequest = {}): Promise<AcquiredDevice> {
  const gpu = await gpuEntryPoint();
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new NoGpuAdapterError(noAdapterHint());
  const off = new Set(req.disableFeatures ?? []);
  const features = WANTED_FEATURES.filter((f) => adapter.features.has(f) && !off.has(f)) as GPUFeatureName[];
  const L = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
    maxBufferSize: L.maxBufferSize,
    maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup,
    maxStorageBuffersPerShaderStage: L.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupSizeX: L.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: L.maxComputeWorkgroupSizeY,
  };
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  const ai = adapter.info;
  const sub = ai as unknown as { subgroupMinSize?: number; subgroupMaxSize?: number };
  const info: GpuDeviceInfo = {
    adapter: [ai.vendor, ai.architecture, ai.device, ai.description].filter((s) => s).join(' / '),
    features: [...device.features].map(String).sort(),
    limits: {
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
      maxBufferSize: device.limits.maxBufferSize,
      maxComputeWorkgroupStorageSize: device.limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup,
      maxStorageBuffersPerShaderStage: device.limits.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupsPerDimension: device.limits.maxComputeWorkgroupsPerDimension,
      minStorageBufferOffsetAlignment: device.limits.minStorageBufferOffsetAlignment,
    },
    subgroupMinSize: sub.subgroupMinSize ?? 0,
    subgroupMaxSize: sub.subgroupMaxSize ?? 0,
    wgslLanguageFeatures: [...(gpu.wgslLanguageFeatures ?? [])].map(String).sort(),
  };
  // Dawn's polling, installed with the entry point, spins less where the adapter needs the cores.
  if (dawnPacing() && isCpuAdapterName(info.adapter)) paceDawnPolling(CPU_ADAPTER_PACING);
  device.lost.then((l) => {
    if (l.reason !== 'destroyed') console.error(`webgpu: device lost (${l.reason}): ${l.message}`);
  });
  return { device, info };
}

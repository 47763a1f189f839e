// The GPU context every kernel runs through: one device, one pipeline cache, one buffer pool, one
// command stream. Kernels are enqueued (encoding is synchronous), so the model code calls ops like
// the CPU ones; only reading results back is asynchronous (`readF32`). All work runs on one queue in
// order, which is what makes buffer reuse safe: a buffer released to the pool may be handed out
// again at once, because every later use is ordered after every earlier one.
//
// Parameters: each dispatch writes its small parameter block into a uniform arena (256-byte slots,
// uploaded once per submit). Storage buffers are bound whole; kernels take element offsets as
// parameters (see tensor.ts). Validation and out-of-memory errors are captured and thrown at the
// next flush or read, naming the first failing kernel.
//
// Where each part lives: device acquisition and the context itself here; the shared types in
// context-types.ts; the buffer pool, scopes and memory counters in context-buffers.ts; pipelines,
// dispatch, flush and the fill kernel in context-dispatch.ts; uploads, read-backs and error
// reporting in context-transfer.ts; recorded dispatch runs in context-record.ts. This module
// re-exports them all, so importers name only it.
import { acquireGpuDevice, type DeviceRequest, type GpuDeviceInfo } from './device.js';
import { viewOf } from './tensor.js';
import type { ContextState, GpuContext } from './context-types.js';
import { UNIFORM_ARENA } from './context-dispatch.js';

export type { BindingKind, DispatchRecording, GpuContext, KernelSpec, ParamWord } from './context-types.js';
export {
  allocTensor,
  beginScope,
  endScope,
  type GpuMemoryStats,
  memoryStats,
  releaseTensor,
  resetPeaks,
  sizeClass,
  trimPool,
} from './context-buffers.js';
export { dispatch, fillTensor, flush, groups1d, replayRecording } from './context-dispatch.js';
export { dropRecording, startRecording, stopRecording } from './context-record.js';
export { finish, readF32, readI32, uploadTensor, writeTensor } from './context-transfer.js';

export async function createGpuContext(req: DeviceRequest = {}): Promise<GpuContext> {
  const { device, info } = await acquireGpuDevice(req);
  return contextForDevice(device, info);
}

export function contextForDevice(device: GPUDevice, info: GpuDeviceInfo): GpuContext {
  const arena = new Uint32Array(UNIFORM_ARENA / 4);
  const state: ContextState = {
    pipelines: new Map(),
    free: new Map(),
    scoped: [],
    scopes: [],
    encoder: null,
    pass: null,
    pending: new Set(),
    dispatches: 0,
    arena,
    arenaF32: new Float32Array(arena.buffer),
    arenaUsed: 0,
    uniform: device.createBuffer({
      size: UNIFORM_ARENA,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'params',
    }),
    bindGroups: new Map(),
    bufferIds: new WeakMap(),
    nextBufferId: 0,
    lastKernel: '(none)',
    error: null,
    bytesLive: 0,
    bytesPeak: 0,
    bytesInUse: 0,
    bytesInUsePeak: 0,
    dispatchCount: 0,
    onRelease: new Map(),
    profile: null,
    recording: null,
    heldBy: new Map(),
    watchedBy: new Map(),
  };
  const ctx: GpuContext = {
    device,
    info,
    state,
    f16: info.features.includes('shader-f16'),
    subgroups: info.features.includes('subgroups'),
    subgroupMatrix: info.features.includes('chromium-experimental-subgroup-matrix'),
    maxBinding: info.limits.maxStorageBufferBindingSize,
  };
  device.addEventListener('uncapturederror', (ev) => {
    const e = (ev as GPUUncapturedErrorEvent).error;
    if (!state.error) state.error = `${e.constructor.name}: ${e.message} (after kernel ${state.lastKernel})`;
  });
  return ctx;
}

export { viewOf };

// The shapes the GPU context's parts share (context.ts is the entry; see its header): the kernel
// description dispatch takes, and the context with its mutable state. Kept apart so the parts
// (context-buffers.ts, context-dispatch.ts, context-transfer.ts) can name them without importing
// the entry that imports them.
import type { GpuDeviceInfo } from './device.js';
import type { KernelProfile } from './profile.js';
import type { GpuTensor } from './tensor.js';

/** How a kernel binds its storage buffers (binding i+1; binding 0 is the parameter block). */
export type BindingKind = 'read' | 'write';

export interface KernelSpec {
  /** Cache key: the kernel and its variant (block sizes, dtypes, features). */
  key: string;
  /** WGSL source. Parameters: `@group(0) @binding(0) var<uniform> p: Params;`. */
  code: string;
  bindings: BindingKind[];
  entryPoint?: string;
}

/** A parameter word: a u32/i32 as a number, an f32 wrapped as { f32 }. */
export type ParamWord = number | { f32: number };

export interface Pipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** Small integer naming the pipeline in bind-group cache keys. */
  id: number;
}

export interface GpuContext {
  readonly device: GPUDevice;
  readonly info: GpuDeviceInfo;
  /** shader-f16 is enabled: kernels may use f16 arithmetic. */
  readonly f16: boolean;
  readonly subgroups: boolean;
  readonly subgroupMatrix: boolean;
  /** Largest single storage binding in bytes. */
  readonly maxBinding: number;
  /** @internal */ state: ContextState;
}

export interface ContextState {
  pipelines: Map<string, Pipeline>;
  free: Map<number, GPUBuffer[]>;
  /** Tensors allocated inside scopes (released together by endScope). */
  scoped: GpuTensor[];
  scopes: number[];
  encoder: GPUCommandEncoder | null;
  pass: GPUComputePassEncoder | null;
  /**
   * Buffers bound by the dispatches encoded and not yet submitted. A queue write lands before those
   * dispatches run, so writing one of these must submit them first; writing any other buffer need not
   * (one submit per engine iteration instead of one per upload).
   */
  pending: Set<GPUBuffer>;
  dispatches: number;
  arena: Uint32Array;
  arenaF32: Float32Array;
  arenaUsed: number;
  uniform: GPUBuffer;
  /**
   * Bind groups by pipeline and bound buffers (the parameter block is bound at a dynamic offset, so
   * it is not part of the key): creating one costs ~14 µs in Dawn, 80% of a dispatch, and a decode
   * step repeats the same few hundred every iteration.
   */
  bindGroups: Map<string, GPUBindGroup>;
  /** A number per buffer for those keys (never reused, so a destroyed buffer's groups are never hit). */
  bufferIds: WeakMap<GPUBuffer, number>;
  nextBufferId: number;
  lastKernel: string;
  error: string | null;
  /** Bytes held in live buffers (pooled or in use), and the peak. */
  bytesLive: number;
  bytesPeak: number;
  bytesInUse: number;
  bytesInUsePeak: number;
  dispatchCount: number;
  /** Called when a buffer goes back to the pool (caches of uploads forget it). */
  onRelease: Map<GPUBuffer, () => void>;
  /** Per-kernel timing (profile.ts), when attached. */
  profile: KernelProfile | null;
  /** The recording being made (context-record.ts), if any: dispatches, allocations and writes go into it. */
  recording: DispatchRecording | null;
  /** Buffers allocated while a live recording was made: kept out of the pool until it is dropped. */
  heldBy: Map<GPUBuffer, DispatchRecording>;
  /** Buffers a live recording binds but did not allocate: their release to the pool invalidates it. */
  watchedBy: Map<GPUBuffer, DispatchRecording[]>;
}

/**
 * A run of dispatches recorded for replay (context-record.ts): what dispatch() encoded, with its
 * parameter words, and the buffers it holds so that replaying binds the same memory in the same roles.
 */
export interface DispatchRecording {
  pipelines: GPUComputePipeline[];
  groups: GPUBindGroup[];
  /** Every dispatch's parameter words back to back; dispatch i's start at wordStart[i] (count + 1 entries). */
  words: number[];
  wordStart: number[];
  /** Workgroup counts, three per dispatch. */
  workgroups: number[];
  lastKernel: string;
  /** Buffers allocated while recording (see ContextState.heldBy). */
  held: Set<GPUBuffer>;
  /** Held buffers whose tensors were released: they go back to the pool when the recording is dropped. */
  released: GPUBuffer[];
  /** Released while recording, by size: handed out again to the recording's own allocations, as the pool would. */
  free: Map<number, GPUBuffer[]>;
  /** Buffers written from the host while recording; each must be one of the inputs stopRecording names. */
  written: Set<GPUBuffer>;
  /** Every buffer bound (ContextState.pending after a replay). */
  bound: Set<GPUBuffer>;
  /** Why it may not be replayed; null while it may. */
  invalid: string | null;
}

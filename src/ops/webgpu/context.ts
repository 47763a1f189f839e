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
import { acquireGpuDevice, type DeviceRequest, type GpuDeviceInfo } from './device.js';
import { resolveStamps, stampNext, type KernelProfile } from './profile.js';
import { bytesFor, packF16, unpackF16, type GpuDType, type GpuTensor, viewOf } from './tensor.js';

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

const UNIFORM_SLOT = 256;
const UNIFORM_ARENA = 1 << 20;
const MAX_DISPATCHES_PER_SUBMIT = 2048;

interface Pipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
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

interface ContextState {
  pipelines: Map<string, Pipeline>;
  free: Map<number, GPUBuffer[]>;
  /** Tensors allocated inside scopes (released together by endScope). */
  scoped: GpuTensor[];
  scopes: number[];
  encoder: GPUCommandEncoder | null;
  pass: GPUComputePassEncoder | null;
  dispatches: number;
  arena: Uint32Array;
  arenaF32: Float32Array;
  arenaUsed: number;
  uniform: GPUBuffer;
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
}

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
    dispatches: 0,
    arena,
    arenaF32: new Float32Array(arena.buffer),
    arenaUsed: 0,
    uniform: device.createBuffer({
      size: UNIFORM_ARENA,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'params',
    }),
    lastKernel: '(none)',
    error: null,
    bytesLive: 0,
    bytesPeak: 0,
    bytesInUse: 0,
    bytesInUsePeak: 0,
    dispatchCount: 0,
    onRelease: new Map(),
    profile: null,
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

// --- buffers -----------------------------------------------------------------------------------

/** Pool size classes: 4 per power of two (≤ 25% slack), at least 256 bytes. */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, bytes);
  const p = 2 ** Math.floor(Math.log2(b));
  const step = Math.max(256, p / 4);
  return Math.ceil(b / step) * step;
}

function takeBuffer(ctx: GpuContext, bytes: number): GPUBuffer {
  const s = ctx.state;
  const size = sizeClass(bytes);
  const list = s.free.get(size);
  let buf = list?.pop();
  if (!buf) {
    if (size > ctx.info.limits.maxBufferSize)
      throw new Error(
        `webgpu: a buffer of ${size} bytes exceeds the device's maxBufferSize ${ctx.info.limits.maxBufferSize}`,
      );
    buf = ctx.device.createBuffer({
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    s.bytesLive += size;
    s.bytesPeak = Math.max(s.bytesPeak, s.bytesLive);
  }
  s.bytesInUse += size;
  s.bytesInUsePeak = Math.max(s.bytesInUsePeak, s.bytesInUse);
  return buf;
}

/**
 * A tensor of n elements. Contents are undefined unless `zero` (then a fill kernel is enqueued).
 * Inside a scope it is released by endScope (unless `persistent`); otherwise it lives until
 * releaseTensor().
 */
export function allocTensor(
  ctx: GpuContext,
  n: number,
  dtype: GpuDType = 'f32',
  zero = false,
  persistent = false,
): GpuTensor {
  if (!(Number.isInteger(n) && n >= 0)) throw new Error(`allocTensor: length must be a non-negative integer, got ${n}`);
  const t: GpuTensor = { buffer: takeBuffer(ctx, bytesFor(Math.max(n, 1), dtype)), offset: 0, length: n, dtype };
  if (ctx.state.scopes.length && !persistent) ctx.state.scoped.push(t);
  if (zero) fillTensor(ctx, t, 0);
  return t;
}

/** Returns the tensor's buffer to the pool (tensors that own their buffer, offset 0, only). */
export function releaseTensor(ctx: GpuContext, t: GpuTensor): void {
  const parts = t.split ? t.split.parts : [t];
  for (const p of parts) {
    const size = p.buffer.size;
    const hook = ctx.state.onRelease.get(p.buffer);
    if (hook) {
      ctx.state.onRelease.delete(p.buffer);
      hook();
    }
    let list = ctx.state.free.get(size);
    if (!list) ctx.state.free.set(size, (list = []));
    list.push(p.buffer);
    ctx.state.bytesInUse -= size;
  }
}

/** Every tensor allocated until the matching endScope is released there (unless kept). */
export function beginScope(ctx: GpuContext): void {
  ctx.state.scopes.push(ctx.state.scoped.length);
}

export function endScope(ctx: GpuContext, keep: GpuTensor[] = []): void {
  const s = ctx.state;
  const mark = s.scopes.pop();
  if (mark === undefined) throw new Error('endScope without beginScope');
  const kept = new Set(keep.map((t) => t.buffer));
  const mine = s.scoped.splice(mark);
  for (const t of mine) {
    if (kept.has(t.buffer)) {
      if (s.scopes.length) s.scoped.push(t);
      continue;
    }
    releaseTensor(ctx, t);
  }
}

/** Frees every pooled buffer not in use (after a run, or to measure what is really held). */
export function trimPool(ctx: GpuContext): void {
  for (const [size, list] of ctx.state.free) {
    for (const b of list) {
      b.destroy();
      ctx.state.bytesLive -= size;
    }
  }
  ctx.state.free.clear();
}

export interface GpuMemoryStats {
  liveBytes: number;
  peakBytes: number;
  inUseBytes: number;
  inUsePeakBytes: number;
  dispatches: number;
}

export function memoryStats(ctx: GpuContext): GpuMemoryStats {
  const s = ctx.state;
  return {
    liveBytes: s.bytesLive,
    peakBytes: s.bytesPeak,
    inUseBytes: s.bytesInUse,
    inUsePeakBytes: s.bytesInUsePeak,
    dispatches: s.dispatchCount,
  };
}

export function resetPeaks(ctx: GpuContext): void {
  ctx.state.bytesPeak = ctx.state.bytesLive;
  ctx.state.bytesInUsePeak = ctx.state.bytesInUse;
}

// --- upload / read back --------------------------------------------------------------------------

/**
 * Copies host data into a new tensor. f16 packs (and range-checks, naming `what`). Pending work is
 * submitted first: queue writes are ordered before commands not yet submitted, and a pooled buffer
 * may still be read by those.
 */
export function uploadTensor(
  ctx: GpuContext,
  data: Float32Array | Int32Array | Float64Array,
  dtype: GpuDType = data instanceof Int32Array ? 'i32' : 'f32',
  what = 'tensor',
  persistent = false,
): GpuTensor {
  const t = allocTensor(ctx, data.length, dtype, false, persistent);
  writeTensor(ctx, t, data, what);
  return t;
}

export function writeTensor(
  ctx: GpuContext,
  t: GpuTensor,
  data: Float32Array | Int32Array | Float64Array,
  what = 'tensor',
): void {
  if (data.length !== t.length)
    throw new Error(`writeTensor(${what}): ${data.length} values for a tensor of ${t.length}`);
  flush(ctx);
  if (t.dtype === 'f16') {
    if (t.offset % 2 !== 0) throw new Error(`writeTensor(${what}): f16 views must start on an even element`);
    const words = packF16(data, what);
    ctx.device.queue.writeBuffer(t.buffer, (t.offset / 2) * 4, words.buffer, words.byteOffset, words.byteLength);
    return;
  }
  const src = data instanceof Float64Array ? Float32Array.from(data) : data;
  if (t.dtype === 'i32' && !(src instanceof Int32Array))
    throw new Error(`writeTensor(${what}): i32 tensor needs an Int32Array`);
  if (t.dtype === 'f32' && src instanceof Int32Array)
    throw new Error(`writeTensor(${what}): f32 tensor needs float data`);
  writeWords(ctx, t.buffer, t.offset * 4, src);
}

const STAGING_BYTES = 64 << 20;

/**
 * queue.writeBuffer takes no SharedArrayBuffer (the base weights live in one): such data goes
 * through an ordinary staging copy, 64 MiB at a time.
 */
function writeWords(ctx: GpuContext, dst: GPUBuffer, byteOffset: number, src: Float32Array | Int32Array): void {
  if (!(src.buffer instanceof SharedArrayBuffer)) {
    ctx.device.queue.writeBuffer(dst, byteOffset, src.buffer, src.byteOffset, src.byteLength);
    return;
  }
  const staging = new Uint8Array(Math.min(STAGING_BYTES, src.byteLength));
  const bytes = new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  for (let o = 0; o < bytes.length; o += staging.length) {
    const n = Math.min(staging.length, bytes.length - o);
    staging.set(bytes.subarray(o, o + n));
    ctx.device.queue.writeBuffer(dst, byteOffset + o, staging.buffer, 0, n);
  }
}

/** Reads a tensor back as f32 (f16 unpacked). Submits pending work and waits for it. */
export async function readF32(ctx: GpuContext, t: GpuTensor): Promise<Float32Array> {
  const words = await readWords(ctx, t);
  if (t.dtype === 'f16') return unpackF16(words.data, t.length, words.skip);
  if (t.dtype === 'i32') return Float32Array.from(new Int32Array(words.data.buffer, words.data.byteOffset, t.length));
  return new Float32Array(words.data.buffer, words.data.byteOffset, t.length);
}

export async function readI32(ctx: GpuContext, t: GpuTensor): Promise<Int32Array> {
  if (t.dtype !== 'i32') throw new Error(`readI32: tensor is ${t.dtype}`);
  const words = await readWords(ctx, t);
  return new Int32Array(words.data.buffer, words.data.byteOffset, t.length);
}

async function readWords(ctx: GpuContext, t: GpuTensor): Promise<{ data: Uint32Array; skip: number }> {
  if (t.split) {
    const parts = await Promise.all(t.split.parts.map((p) => readF32(ctx, p)));
    const out = new Float32Array(t.length);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return { data: new Uint32Array(out.buffer), skip: 0 };
  }
  const firstWord = t.dtype === 'f16' ? t.offset >> 1 : t.offset;
  const endWord = t.dtype === 'f16' ? (t.offset + t.length + 1) >> 1 : t.offset + t.length;
  const bytes = Math.max(4, (endWord - firstWord) * 4);
  const staging = ctx.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  endPass(ctx);
  encoder(ctx).copyBufferToBuffer(t.buffer, firstWord * 4, staging, 0, bytes);
  flush(ctx);
  await staging.mapAsync(GPUMapMode.READ);
  const data = new Uint32Array(staging.getMappedRange().slice(0));
  staging.unmap();
  staging.destroy();
  throwIfError(ctx);
  return { data, skip: t.dtype === 'f16' ? t.offset & 1 : 0 };
}

/** Waits until the GPU has finished all submitted work (and reports errors). */
export async function finish(ctx: GpuContext): Promise<void> {
  flush(ctx);
  await ctx.device.queue.onSubmittedWorkDone();
  throwIfError(ctx);
}

function throwIfError(ctx: GpuContext): void {
  const e = ctx.state.error;
  if (e) {
    ctx.state.error = null;
    throw new Error(`webgpu: ${e}`);
  }
}

// --- dispatch ------------------------------------------------------------------------------------

function pipelineFor(ctx: GpuContext, spec: KernelSpec): Pipeline {
  let p = ctx.state.pipelines.get(spec.key);
  if (p) return p;
  const device = ctx.device;
  const entries: GPUBindGroupLayoutEntry[] = [
    { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
  ];
  spec.bindings.forEach((kind, i) => {
    entries.push({
      binding: i + 1,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: kind === 'read' ? 'read-only-storage' : 'storage' },
    });
  });
  const layout = device.createBindGroupLayout({ entries, label: spec.key });
  const module = device.createShaderModule({ code: spec.code, label: spec.key });
  const pipeline = device.createComputePipeline({
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: spec.entryPoint ?? 'main' },
    label: spec.key,
  });
  p = { pipeline, layout };
  ctx.state.pipelines.set(spec.key, p);
  return p;
}

function encoder(ctx: GpuContext): GPUCommandEncoder {
  return (ctx.state.encoder ??= ctx.device.createCommandEncoder());
}

function endPass(ctx: GpuContext): void {
  if (ctx.state.pass) {
    ctx.state.pass.end();
    ctx.state.pass = null;
  }
}

/**
 * Enqueues one dispatch. `tensors` bind to bindings 1..n in spec order; `params` fill the uniform
 * block (u32 words, f32 as { f32 }). A buffer bound for writing must not also be bound for reading.
 */
export function dispatch(
  ctx: GpuContext,
  spec: KernelSpec,
  tensors: GpuTensor[],
  params: ParamWord[],
  groups: [number, number?, number?],
): void {
  if (tensors.length !== spec.bindings.length)
    throw new Error(`${spec.key}: ${tensors.length} tensors for ${spec.bindings.length} bindings`);
  const [gx, gy = 1, gz = 1] = groups;
  if (gx === 0 || gy === 0 || gz === 0) return;
  const lim = ctx.info.limits.maxComputeWorkgroupsPerDimension;
  if (gx > lim || gy > lim || gz > lim)
    throw new Error(`${spec.key}: ${gx}×${gy}×${gz} workgroups exceed the device limit ${lim} per dimension`);
  const writes = new Set<GPUBuffer>();
  spec.bindings.forEach((k, i) => {
    if (k === 'write') writes.add(tensors[i]!.buffer);
  });
  spec.bindings.forEach((k, i) => {
    if (k === 'read' && writes.has(tensors[i]!.buffer))
      throw new Error(`${spec.key}: binding ${i + 1} reads a buffer another binding writes (pass distinct tensors)`);
  });
  const s = ctx.state;
  if (s.arenaUsed + UNIFORM_SLOT > UNIFORM_ARENA || s.dispatches >= MAX_DISPATCHES_PER_SUBMIT) flush(ctx);
  const slot = s.arenaUsed;
  params.forEach((w, i) => {
    if (typeof w === 'number') s.arena[slot / 4 + i] = w >>> 0;
    else s.arenaF32[slot / 4 + i] = w.f32;
  });
  s.arenaUsed += UNIFORM_SLOT;
  const p = pipelineFor(ctx, spec);
  const entries: GPUBindGroupEntry[] = [
    {
      binding: 0,
      resource: { buffer: s.uniform, offset: slot, size: Math.max(16, Math.ceil(params.length / 4) * 16) },
    },
  ];
  tensors.forEach((t, i) => {
    entries.push({ binding: i + 1, resource: { buffer: t.buffer } });
  });
  const group = ctx.device.createBindGroup({ layout: p.layout, entries });
  const stamps = s.profile ? stampNext(s.profile, spec.key) : undefined;
  if (stamps) endPass(ctx);
  if (!s.pass) s.pass = encoder(ctx).beginComputePass(stamps ? { timestampWrites: stamps } : undefined);
  s.pass.setPipeline(p.pipeline);
  s.pass.setBindGroup(0, group);
  s.pass.dispatchWorkgroups(gx, gy, gz);
  if (stamps) endPass(ctx);
  s.dispatches++;
  s.dispatchCount++;
  s.lastKernel = spec.key;
}

/** Submits everything enqueued so far (parameters first). */
export function flush(ctx: GpuContext): void {
  const s = ctx.state;
  if (!s.encoder) return;
  endPass(ctx);
  if (s.arenaUsed) ctx.device.queue.writeBuffer(s.uniform, 0, s.arena.buffer, 0, s.arenaUsed);
  const afterSubmit = s.profile ? resolveStamps(ctx, s.profile, s.encoder) : null;
  ctx.device.queue.submit([s.encoder.finish()]);
  afterSubmit?.();
  s.encoder = null;
  s.dispatches = 0;
  s.arenaUsed = 0;
}

// --- the one kernel the context itself needs -----------------------------------------------------

const FILL: KernelSpec = {
  key: 'fill',
  bindings: ['write'],
  code: /* wgsl */ `
struct Params { offset: u32, n: u32, value: u32, rowGroups: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<u32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.rowGroups * 256u;
  if (i < p.n) { x[p.offset + i] = p.value; }
}`,
};

const bitsScratch = new Float32Array(1);

/** Enqueues x[:] = value (f32/i32 tensors; for f16 only value 0). The value is written as raw bits. */
export function fillTensor(ctx: GpuContext, t: GpuTensor, value: number): void {
  if (t.split) {
    for (const part of t.split.parts) fillTensor(ctx, part, value);
    return;
  }
  let offset = t.offset,
    n = t.length;
  if (t.dtype === 'f16') {
    if (value !== 0) throw new Error('fillTensor: f16 tensors can only be zeroed');
    if (t.offset % 2 || t.length % 2) throw new Error('fillTensor: f16 views must cover whole words');
    offset = t.offset / 2;
    n = t.length / 2;
  }
  const groups = Math.ceil(n / 256);
  const gx = Math.min(groups, 32768),
    gy = Math.ceil(groups / gx);
  bitsScratch[0] = value;
  const word = t.dtype === 'i32' ? value | 0 : new Uint32Array(bitsScratch.buffer)[0]!;
  dispatch(ctx, FILL, [t], [offset, n, word, gx], [gx, gy]);
}

/** 1-D dispatch shape for n threads of workgroup size wg, folded into y beyond the per-dimension limit. */
export function groups1d(n: number, wg: number): { gx: number; gy: number } {
  const g = Math.ceil(n / wg);
  const gx = Math.min(g, 32768);
  return { gx, gy: Math.ceil(g / gx) };
}

export { viewOf };

// Host ↔ GPU copies of the GPU context (context.ts is the entry; see its header): uploads and
// writes (f16 packed, SharedArrayBuffer data staged), read-backs, and waiting for the queue, which
// is where captured GPU errors are thrown.
import { packF16, unpackF16, type GpuDType, type GpuTensor } from './tensor.js';
import type { GpuContext } from './context-types.js';
import { allocTensor } from './context-buffers.js';
import { encoder, endPass, flush } from './context-dispatch.js';
import { noteWrite } from './context-record.js';

// --- upload / read back --------------------------------------------------------------------------

/**
 * Copies host data into a new tensor. f16 packs (and range-checks, naming `what`). Queue writes are
 * ordered before commands not yet submitted, so when those bind the buffer (a pooled buffer may still
 * be read by them) they are submitted first (writeTensor).
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
  if (ctx.state.pending.has(t.buffer)) flush(ctx);
  noteWrite(ctx.state, t.buffer);
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

/**
 * Reads a tensor back as f32 (f16 unpacked). Pending work and the copy are submitted before the
 * promise is returned, so work encoded meanwhile is queued after them (readI32 the same).
 */
export async function readF32(ctx: GpuContext, t: GpuTensor): Promise<Float32Array> {
  const words = await readWords(ctx, t);
  if (t.dtype === 'f16') return unpackF16(words.data, t.length, words.skip);
  if (t.dtype === 'i32') return Float32Array.from(new Int32Array(words.data.buffer, words.data.byteOffset, t.length));
  return new Float32Array(words.data.buffer, words.data.byteOffset, t.length);
}

/** Reads an i32 tensor back; submits like readF32. */
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

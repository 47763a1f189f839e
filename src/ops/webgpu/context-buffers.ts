// The buffer pool of the GPU context (context.ts is the entry; see its header): size classes,
// tensor allocation and release, scopes that release together, and the memory counters.
import { bytesFor, type GpuDType, type GpuTensor } from './tensor.js';
import type { GpuContext } from './context-types.js';
import { fillTensor } from './context-dispatch.js';
import { holdIfRecording, keptByRecording, takeReleasedWhileRecording } from './context-record.js';

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
  let buf = takeReleasedWhileRecording(s, size) ?? s.free.get(size)?.pop();
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
  holdIfRecording(s, buf);
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
    if (keptByRecording(ctx.state, p.buffer)) continue;
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
  // Released last-allocated first, so the pool hands the same buffers out in the same order when
  // the same allocations repeat (a decode step): the dispatches then find their bind groups cached.
  for (let i = mine.length - 1; i >= 0; i--) {
    const t = mine[i]!;
    if (kept.has(t.buffer)) continue;
    releaseTensor(ctx, t);
  }
  if (s.scopes.length) for (const t of mine) if (kept.has(t.buffer)) s.scoped.push(t);
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
  // Cached bind groups would keep the destroyed buffers' objects alive (they are never hit again).
  ctx.state.bindGroups.clear();
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

// Host index arrays (positions, targets, row maps, sequence starts) uploaded once per array object
// and reused by every op that receives the same array. An upload made inside a scope is dropped
// from the cache when the scope releases it.
import { uploadTensor, type GpuContext } from './context.js';
import type { GpuTensor } from './tensor.js';

const caches = new WeakMap<GpuContext, Map<Int32Array, GpuTensor>>();

export function indexTensor(ctx: GpuContext, index: Int32Array): GpuTensor {
  let cache = caches.get(ctx);
  if (!cache) caches.set(ctx, (cache = new Map()));
  const hit = cache.get(index);
  if (hit) return hit;
  const t = uploadTensor(ctx, index.length ? index : Int32Array.of(0), 'i32', 'index');
  cache.set(index, t);
  ctx.state.onRelease.set(t.buffer, () => cache!.delete(index));
  return t;
}

const tables = new WeakMap<GpuContext, Map<object, GpuTensor>>();

/**
 * A host table (RoPE cos/sin, ...) converted to f32 and uploaded once for the life of the context;
 * `key` is the host object, `build` makes the f32 data on the first call.
 */
export function persistentTable(ctx: GpuContext, key: object, build: () => Float32Array): GpuTensor {
  let cache = tables.get(ctx);
  if (!cache) tables.set(ctx, (cache = new Map()));
  let t = cache.get(key);
  if (!t) cache.set(key, (t = uploadTensor(ctx, build(), 'f32', 'table', true)));
  return t;
}

// The webgpu engine's paged KV cache, sized per call (engine.ts is the entry; see its header): room
// for the call's sequences up to maxBatch, within maxKvBytes and the storage binding limit, grown
// (never shrunk) between calls; the page pool over it is fresh for each call.
import {
  createPagedKvCache,
  kvBytesPerToken,
  releasePagedKvCache,
  type PagedKvCache,
} from '../../ops/webgpu/paged-kv.js';
import { createPagePool, type PagePool } from './pages.js';
import type { EngineState } from './engine-types.js';

/** A KV cache with room for min(jobs, maxBatch) sequences of `longest` tokens (grown between calls). */
export function cacheFor(e: EngineState, jobs: number, longest: number): { kv: PagedKvCache; pool: PagePool } {
  const { config: c, ctx, opts, kvDtype, pageSize, maxBatch, maxPagesPerSeq } = e;
  const perSeq = Math.ceil(longest / pageSize);
  const rowBytes = kvBytesPerToken(1, c.numKvHeads * c.headDim, kvDtype) / 2; // one layer, K or V
  const byBinding = Math.floor(ctx.maxBinding / (rowBytes * pageSize));
  const byBudget = opts.maxKvBytes
    ? Math.floor(opts.maxKvBytes / (kvBytesPerToken(c.numLayers, c.numKvHeads * c.headDim, kvDtype) * pageSize))
    : Infinity;
  const want = Math.min(Math.min(jobs, maxBatch) * perSeq, byBinding, byBudget);
  if (want < perSeq)
    throw new Error(
      `webgpu engine: one sequence of ${longest} tokens needs ${perSeq} KV pages; the cache holds at most ${Math.min(byBinding, byBudget)} (maxKvBytes or the storage binding limit)`,
    );
  if (!e.kv || e.kv.numPages < want) {
    if (e.kv) releasePagedKvCache(ctx, e.kv);
    e.kv = null;
    e.kv = createPagedKvCache(ctx, {
      layers: c.numLayers,
      numPages: want,
      pageSize,
      kvWidth: c.numKvHeads * c.headDim,
      dtype: kvDtype,
    });
  }
  return { kv: e.kv, pool: createPagePool(e.kv.numPages, pageSize, maxBatch, maxPagesPerSeq) };
}

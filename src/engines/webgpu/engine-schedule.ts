// Continuous batching for the webgpu engine (engine.ts is the entry; see its header): one call's
// request checks, the adapter version it pins, admission of queued sequences into free slots (with
// pages for their worst case), the iteration loop (engine-iteration.ts), and the finished
// sequences turned into completions as their slots and pages go back.
import { loraScale, loraSlots } from '../../model/lora.js';
import { memoryStats, writeTensor } from '../../ops/webgpu/context.js';
import type { SamplingConfig } from '../../ops/webgpu/sampling.js';
import { viewOf } from '../../ops/webgpu/tensor.js';
import { Rng } from '../../util/rng.js';
import type { Completion, PromptInput, SamplingParams } from '../types.js';
import { pinServing, unpin } from './adapters.js';
import { releasePages, reservePages } from './pages.js';
import type { StepAdapter, StepState } from './step.js';
import type { EngineState, Seq, WebGpuGenerationStats } from './engine-types.js';
import { cacheFor } from './engine-kv-cache.js';
import { iteration } from './engine-iteration.js';

/** One generate call (engine.ts runs them one at a time): every prompt × n sequence, batched. */
export async function generateNow(
  e: EngineState,
  prompts: PromptInput[],
  n: number,
  sampling: SamplingParams,
): Promise<Completion[]> {
  const {
    ctx,
    ops,
    model: gmodel,
    adapters,
    table,
    maxPagesPerSeq,
    maxBatch,
    pageSize,
    eos,
    decodeText,
    lastStats,
  } = e;
  const c = e.config;
  checkRequest(e, prompts, n, sampling);
  const t0 = performance.now();
  const pinned = pinServing(adapters);
  const ver = e.version;
  try {
    const ad = stepAdapter(e, pinned);
    const jobs: { p: number; s: number }[] = [];
    for (let p = 0; p < prompts.length; p++) for (let s = 0; s < n; s++) jobs.push({ p, s });
    const longest = Math.max(...prompts.map((p) => p.ids.length)) + sampling.max_tokens;
    const { kv: cache, pool } = cacheFor(e, jobs.length, longest);
    const st: StepState = {
      ctx,
      ops,
      model: gmodel,
      kv: cache,
      table,
      maxPagesPerSeq,
      rope: ops.ropeTable(c.ropeTheta, c.headDim, longest),
    };
    const cfg: SamplingConfig = { temperature: sampling.temperature, topK: sampling.top_k, topP: sampling.top_p };
    const greedy = !(sampling.temperature > 0);
    const results: Completion[] = new Array(jobs.length);
    const freeSlots = Array.from({ length: maxBatch }, (_, i) => maxBatch - 1 - i);
    let next = 0;
    let live: Seq[] = [];
    const stats: WebGpuGenerationStats = {
      tokens: 0,
      seconds: 0,
      prefillSeconds: 0,
      sequences: jobs.length,
      iterations: 0,
      peakBatch: 0,
      encodeSeconds: 0,
      dispatches: 0,
    };
    const dispatches0 = memoryStats(ctx).dispatches;
    while (next < jobs.length || live.length) {
      // Admission: free slots and pages for the whole worst case of each new sequence.
      const admitted: Seq[] = [];
      while (next < jobs.length && freeSlots.length) {
        const j = jobs[next]!;
        const slot = freeSlots[freeSlots.length - 1]!;
        if (!reservePages(pool, slot, prompts[j.p]!.ids.length + sampling.max_tokens)) break;
        freeSlots.pop();
        admitted.push({
          job: next,
          prompt: j.p,
          sample: j.s,
          slot,
          rng: Rng.derive(sampling.seed, prompts[j.p]!.seedKey ?? j.p, j.s),
          ids: [],
          lps: [],
          raws: [],
          cached: 0,
          done: null,
        });
        writeTensor(
          ctx,
          viewOf(table, slot * maxPagesPerSeq, maxPagesPerSeq),
          pool.table.subarray(slot * maxPagesPerSeq, (slot + 1) * maxPagesPerSeq),
          'page table',
        );
        next++;
      }
      if (!admitted.length && !live.length)
        throw new Error(`webgpu engine: no sequence fits the KV cache (${pool.numPages} pages of ${pageSize})`);
      const order = await iteration(e, st, pool, ad, prompts, admitted, live, cfg, greedy, stats);
      stats.iterations++;
      if (stats.iterations === 1) stats.prefillSeconds = (performance.now() - t0) / 1000;
      const running = live.concat(admitted);
      stats.peakBatch = Math.max(stats.peakBatch, running.length);
      for (const [seq, token, lp, raw] of order) {
        seq.ids.push(token);
        seq.lps.push(lp);
        seq.raws.push(raw);
        stats.tokens++;
        if (eos.has(token) && !sampling.ignore_eos) seq.done = 'eos';
        else if (sampling.stop?.length && endsWithStop(decodeText(seq.ids), sampling.stop)) seq.done = 'stop';
        else if (seq.ids.length >= sampling.max_tokens) seq.done = 'length';
      }
      live = [];
      for (const seq of running) {
        if (!seq.done) {
          live.push(seq);
          continue;
        }
        releasePages(pool, seq.slot);
        freeSlots.push(seq.slot);
        results[seq.job] = completionOf(seq, ver, eos, decodeText);
      }
    }
    stats.seconds = (performance.now() - t0) / 1000;
    stats.dispatches = memoryStats(ctx).dispatches - dispatches0;
    Object.assign(lastStats, stats);
    return results;
  } finally {
    unpin(pinned);
  }
}

function checkRequest(e: EngineState, prompts: PromptInput[], n: number, s: SamplingParams): void {
  const { maxContext } = e;
  const V = e.config.vocabSize;
  if (!Number.isInteger(n) || n < 1) throw new Error(`generate: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(s.max_tokens) || s.max_tokens < 1)
    throw new Error(`generate: sampling.max_tokens must be a positive integer, got ${s.max_tokens}`);
  prompts.forEach((p, i) => {
    if (p.ids.length === 0) throw new Error(`generate: prompt ${i} is empty (no token ids)`);
    if (p.ids.length + s.max_tokens > maxContext)
      throw new Error(
        `generate: prompt ${i} has ${p.ids.length} tokens; with max_tokens ${s.max_tokens} it exceeds the context of ${maxContext}`,
      );
    for (const id of p.ids)
      if (!Number.isInteger(id) || id < 0 || id >= V)
        throw new Error(`generate: prompt ${i} has token id ${id} outside the vocabulary [0, ${V})`);
  });
}

function stepAdapter(e: EngineState, pinned: ReturnType<typeof pinServing>): StepAdapter {
  const { config: c, slotsCache } = e;
  if (!pinned) return { adapter: null, slots: null, scale: 0 };
  const { settings, layout } = pinned.snapshot;
  let slots = slotsCache.get(layout);
  if (!slots) slotsCache.set(layout, (slots = loraSlots(c, settings, layout)));
  return { adapter: { settings, layout, params: pinned.params }, slots, scale: loraScale(settings) };
}

function completionOf(
  seq: Seq,
  version: number,
  eos: Set<number>,
  decode: (ids: ArrayLike<number>) => string,
): Completion {
  const tokenIds = Int32Array.from(seq.ids);
  const endsEos = seq.done === 'eos' && eos.has(tokenIds[tokenIds.length - 1]!);
  return {
    promptIndex: seq.prompt,
    sampleIndex: seq.sample,
    tokenIds,
    logprobs: Float32Array.from(seq.lps),
    modelLogprobs: Float32Array.from(seq.raws),
    text: decode(endsEos ? tokenIds.subarray(0, tokenIds.length - 1) : tokenIds),
    finishReason: seq.done!,
    policyVersion: version,
  };
}

function endsWithStop(text: string, stops: string[]): boolean {
  for (const s of stops) if (s && text.endsWith(s)) return true;
  return false;
}

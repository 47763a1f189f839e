// Continuous batching for the webgpu engine (engine.ts is the entry; see its header): one call's
// request checks, the adapter version it pins, admission of queued sequences into free slots (with
// pages for their worst case), the iteration loop (engine-iteration.ts), and the finished
// sequences turned into completions as their slots and pages go back.
//
// Overlap (on by default): iteration t+1 is encoded and submitted before iteration t's tokens are
// read back, so the host's encoding runs while the GPU works instead of after it (vLLM's async
// scheduling). It is planned from what the host knows then: every running sequence that has not
// reached max_tokens decodes one more token. A sequence that ends at t on EOS or a stop string has
// already been given a row in t+1: that row's token is dropped (stats.discardedTokens), and the
// sequence's slot and pages are reused only by work queued after it. Completions are the same as
// without overlap: each sequence's tokens depend only on its own uniform stream and cache.
import { checkGenerateRequest } from '../check-request.js';
import { loraScale, loraSlots } from '../../model/lora.js';
import { memoryStats, writeTensor } from '../../ops/webgpu/context.js';
import type { SamplingConfig } from '../../ops/webgpu/sampling.js';
import { viewOf } from '../../ops/webgpu/tensor.js';
import { Rng } from '../../util/rng.js';
import type { Completion, PromptInput, SamplingParams } from '../types.js';
import { pinServing, unpin } from './adapters.js';
import { releasePages, reservePages, type PagePool } from './pages.js';
import type { StepAdapter, StepState } from './step.js';
import type { EngineState, Seq, WebGpuGenerationStats } from './engine-types.js';
import { cacheFor } from './engine-kv-cache.js';
import { stacksCover } from './fused-projections.js';
import { launchIteration } from './engine-iteration.js';
import { dropDecodeGraph, newDecodeGraphs, type DecodeGraphs } from './decode-graph.js';

/** One generate call's batching state: what it was asked, its queue of jobs, its slots and running sequences. */
interface GenerateCall {
  e: EngineState;
  prompts: PromptInput[];
  sampling: SamplingParams;
  /** Every prompt × n sequence, in order; `next` is the first not admitted yet. */
  jobs: { p: number; s: number }[];
  next: number;
  pool: PagePool;
  st: StepState;
  ad: StepAdapter;
  cfg: SamplingConfig;
  greedy: boolean;
  /** Slots no sequence holds, the next one to take last. */
  freeSlots: number[];
  /** Sequences holding a slot: admitted, not yet retired (some may have iterations in flight). */
  running: Seq[];
  results: Completion[];
  stats: WebGpuGenerationStats;
  t0: number;
  /** The adapter version the call pinned at its start (every completion's policyVersion). */
  version: number;
  /** The recorded decode step (decode-graph.ts; null when recordDecode is off). */
  graphs: DecodeGraphs | null;
}

/** One generate call (engine.ts runs them one at a time): every prompt × n sequence, batched. */
export async function generateNow(
  e: EngineState,
  prompts: PromptInput[],
  n: number,
  sampling: SamplingParams,
): Promise<Completion[]> {
  checkGenerateRequest(prompts, n, sampling, { maxContext: e.maxContext, vocabSize: e.config.vocabSize });
  const t0 = performance.now();
  const pinned = pinServing(e.adapters);
  const ver = e.version;
  let call: GenerateCall | null = null;
  try {
    call = startCall(e, prompts, n, sampling, stepAdapter(e, pinned), t0, ver);
    const dispatches0 = memoryStats(e.ctx).dispatches;
    await runIterations(call);
    const { stats, graphs } = call;
    stats.seconds = (performance.now() - t0) / 1000;
    stats.dispatches = memoryStats(e.ctx).dispatches - dispatches0;
    if (graphs) {
      stats.recordedSteps = graphs.recorded;
      stats.replayedSteps = graphs.replayed;
    }
    Object.assign(e.lastStats, stats);
    return call.results;
  } finally {
    if (call?.graphs) dropDecodeGraph(e.ctx, call.graphs);
    unpin(pinned);
  }
}

/** A call's state before its first iteration: its jobs queued, a KV cache for its longest sequence, every slot free. */
function startCall(
  e: EngineState,
  prompts: PromptInput[],
  n: number,
  sampling: SamplingParams,
  ad: StepAdapter,
  t0: number,
  version: number,
): GenerateCall {
  const { ctx, ops, model, table, maxPagesPerSeq, maxBatch } = e;
  const c = e.config;
  const jobs: { p: number; s: number }[] = [];
  for (let p = 0; p < prompts.length; p++) for (let s = 0; s < n; s++) jobs.push({ p, s });
  const longest = Math.max(...prompts.map((p) => p.ids.length)) + sampling.max_tokens;
  const { kv, pool } = cacheFor(e, jobs.length, longest);
  const st: StepState = {
    ctx,
    ops,
    model,
    kv,
    table,
    maxPagesPerSeq,
    rope: ops.ropeTable(c.ropeTheta, c.headDim, longest),
    fused: e.fused,
    foldSwiglu: e.foldSwiglu,
  };
  return {
    e,
    prompts,
    sampling,
    jobs,
    next: 0,
    pool,
    st,
    ad,
    cfg: { temperature: sampling.temperature, topK: sampling.top_k, topP: sampling.top_p },
    greedy: !(sampling.temperature > 0),
    freeSlots: Array.from({ length: maxBatch }, (_, i) => maxBatch - 1 - i),
    running: [],
    results: new Array(jobs.length),
    stats: zeroStats(jobs.length),
    t0,
    version,
    graphs: e.recordDecode ? newDecodeGraphs() : null,
  };
}

/** Statistics with nothing counted yet (an engine's before its first call, a call's before its first iteration). */
export function zeroStats(sequences: number): WebGpuGenerationStats {
  return {
    tokens: 0,
    seconds: 0,
    prefillSeconds: 0,
    sequences,
    iterations: 0,
    peakBatch: 0,
    encodeSeconds: 0,
    waitSeconds: 0,
    decodeSteps: 0,
    decodeEncodeSeconds: 0,
    decodeWaitSeconds: 0,
    discardedTokens: 0,
    dispatches: 0,
    recordedSteps: 0,
    replayedSteps: 0,
  };
}

/**
 * The iteration loop: launch one, and (with overlap) the next before landing the first; without
 * overlap each is landed before the next is planned. Ends when nothing is left to launch.
 */
async function runIterations(call: GenerateCall): Promise<void> {
  let inFlight = launch(call);
  while (inFlight) {
    // Whichever fails first is reported; the other iteration's promise is still settled quietly
    // (the same device's failure), so nothing is left to reject unhandled.
    const current = inFlight;
    let next: Launched | null;
    try {
      next = call.e.overlap ? launch(call) : null;
    } catch (err) {
      current.sampled.catch(() => undefined);
      throw err;
    }
    try {
      await land(call, current);
    } catch (err) {
      next?.sampled.catch(() => undefined);
      throw err;
    }
    inFlight = next ?? launch(call);
  }
  if (call.next < call.jobs.length || call.running.length)
    throw new Error('webgpu engine: the batching loop stopped with sequences unfinished');
}

type Sampled = [Seq, number, number, number][];

/** An iteration on its way: its tokens when they land, and whether it is a pure decode step (no prefill). */
interface Launched {
  sampled: Promise<Sampled>;
  decodeOnly: boolean;
}

/**
 * Admits what fits and launches one iteration over the admitted sequences and every running one
 * that still needs a token; null when there is none (all running ones are waiting on their last
 * tokens, or none is left).
 */
function launch(call: GenerateCall): Launched | null {
  const { e, pool, stats, sampling } = call;
  const t0 = performance.now();
  const admitted = admit(call);
  const decoding = call.running.filter((s) => !s.done && s.scheduled < sampling.max_tokens);
  if (!admitted.length && !decoding.length) {
    if (call.next < call.jobs.length && !call.running.length)
      throw new Error(`webgpu engine: no sequence fits the KV cache (${pool.numPages} pages of ${e.pageSize})`);
    return null;
  }
  const { st, ad, prompts, cfg, greedy } = call;
  const sampled = launchIteration(e, st, pool, ad, prompts, admitted, decoding, cfg, greedy, call.graphs);
  call.running.push(...admitted);
  stats.peakBatch = Math.max(stats.peakBatch, decoding.length + admitted.length);
  const decodeOnly = admitted.length === 0;
  const seconds = (performance.now() - t0) / 1000;
  stats.encodeSeconds += seconds;
  if (decodeOnly) stats.decodeEncodeSeconds += seconds;
  return { sampled, decodeOnly };
}

/** Waits for an iteration's tokens, takes them, and retires the sequences they finished. */
async function land(call: GenerateCall, it: Launched): Promise<void> {
  const { stats } = call;
  const tWait = performance.now();
  const order = await it.sampled;
  const waited = (performance.now() - tWait) / 1000;
  stats.waitSeconds += waited;
  if (it.decodeOnly) {
    stats.decodeSteps++;
    stats.decodeWaitSeconds += waited;
  }
  stats.iterations++;
  if (stats.iterations === 1) stats.prefillSeconds = (performance.now() - call.t0) / 1000;
  takeTokens(call, order);
  call.running = retireFinished(call, call.running);
}

// Admission: free slots and pages for the whole worst case of each new sequence.
function admit(call: GenerateCall): Seq[] {
  const { jobs, prompts, sampling, pool, freeSlots } = call;
  const admitted: Seq[] = [];
  while (call.next < jobs.length && freeSlots.length) {
    const j = jobs[call.next]!;
    const slot = freeSlots[freeSlots.length - 1]!;
    if (!reservePages(pool, slot, prompts[j.p]!.ids.length + sampling.max_tokens)) break;
    freeSlots.pop();
    admitted.push(queuedSeq(call, slot));
    writePageTable(call.e, pool, slot);
    call.next++;
  }
  return admitted;
}

/** The sequence of the next queued job, in `slot`, drawing its uniforms from its own (seed, prompt, sample) stream. */
function queuedSeq(call: GenerateCall, slot: number): Seq {
  const j = call.jobs[call.next]!;
  return {
    job: call.next,
    prompt: j.p,
    sample: j.s,
    slot,
    rng: Rng.derive(call.sampling.seed, call.prompts[j.p]!.seedKey ?? j.p, j.s),
    ids: [],
    lps: [],
    raws: [],
    cached: 0,
    scheduled: 0,
    done: null,
  };
}

/** The slot's row of the page pool's table, copied into the GPU page table. */
function writePageTable(e: EngineState, pool: PagePool, slot: number): void {
  const { ctx, table, maxPagesPerSeq } = e;
  writeTensor(
    ctx,
    viewOf(table, slot * maxPagesPerSeq, maxPagesPerSeq),
    pool.table.subarray(slot * maxPagesPerSeq, (slot + 1) * maxPagesPerSeq),
    'page table',
  );
}

/** Each sampled token appended to its sequence, which is done at eos, a stop string or max_tokens. */
function takeTokens(call: GenerateCall, order: [Seq, number, number, number][]): void {
  const { stats, sampling } = call;
  const { eos, decodeText } = call.e;
  for (const [seq, token, lp, raw] of order) {
    if (seq.done) {
      stats.discardedTokens++; // launched (overlap) before the token that ended it was read
      continue;
    }
    seq.ids.push(token);
    seq.lps.push(lp);
    seq.raws.push(raw);
    stats.tokens++;
    if (eos.has(token) && !sampling.ignore_eos) seq.done = 'eos';
    else if (sampling.stop?.length && endsWithStop(decodeText(seq.ids), sampling.stop)) seq.done = 'stop';
    else if (seq.ids.length >= sampling.max_tokens) seq.done = 'length';
  }
}

/** The sequences still running; each finished one gives back its slot and pages and becomes its job's completion. */
function retireFinished(call: GenerateCall, running: Seq[]): Seq[] {
  const { eos, decodeText } = call.e;
  const live: Seq[] = [];
  for (const seq of running) {
    if (!seq.done) {
      live.push(seq);
      continue;
    }
    releasePages(call.pool, seq.slot);
    call.freeSlots.push(seq.slot);
    call.results[seq.job] = completionOf(seq, call.version, eos, decodeText);
  }
  return live;
}

function stepAdapter(e: EngineState, pinned: ReturnType<typeof pinServing>): StepAdapter {
  const { config: c, slotsCache } = e;
  if (!pinned) return { adapter: null, slots: null, scale: 0, stacked: null, covers: { qkv: true, gateUp: true } };
  const { settings, layout } = pinned.snapshot;
  let slots = slotsCache.get(layout);
  if (!slots) slotsCache.set(layout, (slots = loraSlots(c, settings, layout)));
  const stacked = pinned.stacks?.layers ?? null;
  const covers = { qkv: stacksCover(slots, stacked, 'qkv'), gateUp: stacksCover(slots, stacked, 'gateUp') };
  return { adapter: { settings, layout, params: pinned.params }, slots, scale: loraScale(settings), stacked, covers };
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

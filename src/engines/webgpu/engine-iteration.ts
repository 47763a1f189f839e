// One iteration of the webgpu engine (engine.ts is the entry; see its header): the prefill of the
// newly admitted sequences (each distinct prompt once, in chunks of at most maxPrefillTokens rows),
// one decode step of the running ones (replayed from the call's recording when its key holds:
// decode-graph.ts), the GPU sampler over both, and the one read-back of
// (token, behaviour log-prob, raw log-prob) per sequence, which is submitted with the iteration and
// awaited by the caller (engine-schedule.ts overlaps it with encoding the next iteration).
import { allocTensor, beginScope, endScope, readI32, uploadTensor } from '../../ops/webgpu/context.js';
import { sampleTokens, type SamplingConfig } from '../../ops/webgpu/sampling.js';
import { viewOf, type GpuTensor } from '../../ops/webgpu/tensor.js';
import type { PromptInput } from '../types.js';
import { indexTensor } from '../../ops/webgpu/indices.js';
import { decodeAttentionPlan } from '../../ops/webgpu/decode-attention.js';
import { poolRow, type PagePool } from './pages.js';
import { decodeGraphStep, type DecodeGraphs, type DecodeHostInputs, type DecodeInputs } from './decode-graph.js';
import { decodeLogits, prefillLogits, type StepAdapter, type StepState } from './step.js';
import type { EngineState, Seq } from './engine-types.js';

/** What the passes of one iteration share: its inputs, and the sequences sampled so far. */
interface IterationRun {
  e: EngineState;
  st: StepState;
  pool: PagePool;
  ad: StepAdapter;
  prompts: PromptInput[];
  cfg: SamplingConfig;
  greedy: boolean;
  /** The sequences sampled so far, in the order of their rows of the sampler output (the read-back's order). */
  order: Seq[];
  /** The call's recorded decode step (decode-graph.ts), or null: every step encoded. */
  graphs: DecodeGraphs | null;
  /** One word seen as u32 and f32: a uniform's f32 bits go to the sampler in its i32 meta array. */
  u32: Uint32Array;
  f32: Float32Array;
}

/**
 * Encodes and submits one iteration: prefill + first token of the admitted sequences, one decode
 * step + next token of the running ones, and the copy of the sampler's output. Returns at once; the
 * promise gives (sequence, token, behaviour log-prob, raw log-prob) in sample order when the GPU is
 * done. The next iteration may be encoded meanwhile: it is queued after this one.
 */
export function launchIteration(
  e: EngineState,
  st: StepState,
  pool: PagePool,
  ad: StepAdapter,
  prompts: PromptInput[],
  admitted: Seq[],
  live: Seq[],
  cfg: SamplingConfig,
  greedy: boolean,
  graphs: DecodeGraphs | null,
): Promise<[Seq, number, number, number][]> {
  const { ctx } = e;
  const u32 = new Uint32Array(1);
  const f32 = new Float32Array(u32.buffer);
  const it: IterationRun = { e, st, pool, ad, prompts, cfg, greedy, order: [], graphs, u32, f32 };
  beginScope(ctx);
  try {
    prefillAdmitted(it, admitted);
    if (live.length) decodeStep(it, live);
    return readBack(it);
  } finally {
    // Everything is submitted (readBack submits before it waits), so the pool may hand these
    // buffers out again now: whatever uses them next is queued after this iteration.
    endScope(ctx);
  }
}

/** The sequence's next uniform (0 when greedy), as the bits of an f32. */
function uniformBits(it: IterationRun, s: Seq): number {
  it.f32[0] = it.greedy ? 0 : s.rng.next();
  return it.u32[0]!;
}

/** The sampler's rows for `seqs`: (logits row rowOf(i), slot, uniform bits) each; draws each one's next uniform. */
function samplerMeta(it: IterationRun, seqs: Seq[], rowOf: (i: number) => number): Int32Array {
  const meta = new Int32Array(3 * seqs.length);
  seqs.forEach((s, i) => {
    meta[3 * i] = rowOf(i);
    meta[3 * i + 1] = s.slot;
    meta[3 * i + 2] = uniformBits(it, s);
  });
  return meta;
}

/** The GPU sampler over m rows of `logits` (meta: samplerMeta, uploaded); its output follows the rows sampled so far. */
function sampleFrom(it: IterationRun, logits: GpuTensor, meta: GpuTensor, m: number): void {
  const { ctx, tokens, out } = it.e;
  const V = it.e.config.vocabSize;
  const probs = it.greedy ? allocTensor(ctx, 1) : allocTensor(ctx, m * V);
  sampleTokens(ctx, { logits, meta, probs, out: viewOf(out, 3 * it.order.length, 3 * m), next: tokens }, m, V, it.cfg);
}

/** The sequences just given a row of the sampler output, in its order. */
function noteSampled(it: IterationRun, seqs: Seq[]): void {
  it.order.push(...seqs);
  for (const s of seqs) s.scheduled++;
}

// Prefill: distinct prompts of the admitted sequences, in chunks of at most maxPrefillTokens rows.
function prefillAdmitted(it: IterationRun, admitted: Seq[]): void {
  const byPrompt = new Map<number, Seq[]>();
  for (const s of admitted) {
    const l = byPrompt.get(s.prompt);
    if (l) l.push(s);
    else byPrompt.set(s.prompt, [s]);
  }
  const distinct = [...byPrompt.keys()];
  for (let i = 0; i < distinct.length; ) {
    const chunk = prefillChunkAt(it, distinct, i);
    i += chunk.length;
    prefillChunk(it, byPrompt, chunk);
  }
}

/** The distinct prompts from index i on that fit one pass of maxPrefillTokens rows (at least one). */
function prefillChunkAt(it: IterationRun, distinct: number[], i: number): number[] {
  const { prompts } = it;
  const chunk: number[] = [];
  let rows = 0;
  while (
    i < distinct.length &&
    (chunk.length === 0 || rows + prompts[distinct[i]!]!.ids.length <= it.e.maxPrefillTokens)
  ) {
    rows += prompts[distinct[i]!]!.ids.length;
    chunk.push(distinct[i++]!);
  }
  return chunk;
}

/**
 * One prefill pass over the chunk's prompts: each prompt's keys/values written into the pages of every
 * sequence that starts from it, then the first token of each of those sequences sampled.
 */
function prefillChunk(it: IterationRun, byPrompt: Map<number, Seq[]>, chunk: number[]): void {
  const { prompts, pool } = it;
  const writes: number[] = [],
    dsts: number[] = [];
  let r0 = 0;
  const seqs: Seq[] = [],
    rowOfSeq: number[] = [];
  chunk.forEach((p, k) => {
    const len = prompts[p]!.ids.length;
    for (const s of byPrompt.get(p)!) {
      for (let j = 0; j < len; j++) {
        writes.push(r0 + j);
        dsts.push(poolRow(pool, s.slot, j));
      }
      s.cached = len;
      seqs.push(s);
      rowOfSeq.push(k);
    }
    r0 += len;
  });
  const map = Int32Array.from([...writes, ...dsts]);
  const logits = prefillLogits(it.st, it.ad, {
    prompts: chunk.map((p) => prompts[p]!.ids),
    writeMap: uploadTensor(it.e.ctx, map),
    writes: writes.length,
  });
  sampleFrom(
    it,
    logits,
    uploadTensor(
      it.e.ctx,
      samplerMeta(it, seqs, (i) => rowOfSeq[i]!),
    ),
    seqs.length,
  );
  noteSampled(it, seqs);
}

/**
 * One decode step of the running sequences: each one's last token in and cached, its next token
 * sampled. Replayed from the call's recorded step when its key matches (decode-graph.ts), which needs
 * the step to start the sampler output (no prefill before it in this iteration).
 */
function decodeStep(it: IterationRun, live: Seq[]): void {
  const { ctx } = it.e;
  const host = decodeHostInputs(it, live);
  const encode = (): DecodeInputs => encodeDecode(it, host, live.length);
  if (it.graphs && it.order.length === 0 && !ctx.state.profile) {
    const c = it.e.config;
    const plan = decodeAttentionPlan(live.length, c.numKvHeads, c.headDim, host.maxLen);
    decodeGraphStep(ctx, it.graphs, `${live.length}:${plan.splits}:${plan.keysPerSplit}`, host, encode);
  } else encode();
  noteSampled(it, live);
}

/** The step's rows on the host (and each sequence's cached count advanced past the token it feeds in). */
function decodeHostInputs(it: IterationRun, live: Seq[]): DecodeHostInputs & { maxLen: number } {
  const n = live.length;
  const slots = new Int32Array(n),
    positions = new Int32Array(n),
    seqs = new Int32Array(2 * n),
    dest = new Int32Array(n);
  let maxLen = 0;
  live.forEach((s, r) => {
    slots[r] = s.slot;
    positions[r] = s.cached;
    seqs[2 * r] = s.slot;
    seqs[2 * r + 1] = s.cached + 1;
    dest[r] = poolRow(it.pool, s.slot, s.cached);
    s.cached++;
    maxLen = Math.max(maxLen, s.cached);
  });
  return { slots, positions, seqs, dest, meta: samplerMeta(it, live, (i) => i), maxLen };
}

/** Uploads the step's inputs and enqueues it (model pass and sampler); returns the inputs' tensors. */
function encodeDecode(it: IterationRun, host: DecodeHostInputs & { maxLen: number }, n: number): DecodeInputs {
  const { ctx, tokens } = it.e;
  const inputs: DecodeInputs = {
    slots: uploadTensor(ctx, host.slots),
    // Uploaded here (and found by RoPE's index cache) so that a recording knows it as an input.
    positions: indexTensor(ctx, host.positions),
    seqs: uploadTensor(ctx, host.seqs),
    dest: uploadTensor(ctx, host.dest),
    meta: uploadTensor(ctx, host.meta),
  };
  const logits = decodeLogits(it.st, it.ad, {
    n,
    rowSlots: inputs.slots,
    tokens,
    positions: host.positions,
    seqs: inputs.seqs,
    dest: inputs.dest,
    maxLen: host.maxLen,
  });
  sampleFrom(it, logits, inputs.meta, n);
  return inputs;
}

/**
 * The one read-back: (sequence, token, behaviour log-prob, raw log-prob) per sampled row, in sample
 * order. The copy and the iteration's work are submitted before this returns (readI32 submits
 * before its first wait).
 */
async function readBack(it: IterationRun): Promise<[Seq, number, number, number][]> {
  const res = await readI32(it.e.ctx, viewOf(it.e.out, 0, 3 * it.order.length));
  const bits = new Float32Array(res.buffer, res.byteOffset, res.length);
  return it.order.map((s, i) => [s, res[3 * i]!, bits[3 * i + 1]!, bits[3 * i + 2]!]);
}

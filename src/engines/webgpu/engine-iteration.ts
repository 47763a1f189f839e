// One iteration of the webgpu engine (engine.ts is the entry; see its header): the prefill of the
// newly admitted sequences (each distinct prompt once, in chunks of at most maxPrefillTokens rows),
// one decode step of the running ones, the GPU sampler over both, and the one read-back of
// (token, behaviour log-prob, raw log-prob) per sequence, which is submitted with the iteration and
// awaited by the caller (engine-schedule.ts overlaps it with encoding the next iteration).
import { allocTensor, beginScope, endScope, readI32, uploadTensor } from '../../ops/webgpu/context.js';
import { sampleTokens, type SamplingConfig } from '../../ops/webgpu/sampling.js';
import { viewOf, type GpuTensor } from '../../ops/webgpu/tensor.js';
import type { PromptInput } from '../types.js';
import { poolRow, type PagePool } from './pages.js';
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
): Promise<[Seq, number, number, number][]> {
  const { ctx } = e;
  const u32 = new Uint32Array(1);
  const it: IterationRun = { e, st, pool, ad, prompts, cfg, greedy, order: [], u32, f32: new Float32Array(u32.buffer) };
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

/** The GPU sampler over `seqs` (row rowOf(i) of `logits` for the i-th); its output follows the rows sampled so far. */
function sampleRows(it: IterationRun, logits: GpuTensor, seqs: Seq[], rowOf: (i: number) => number): void {
  const { ctx, tokens, out } = it.e;
  const V = it.e.config.vocabSize;
  const m = seqs.length;
  const start = it.order.length;
  const metaArr = new Int32Array(3 * m);
  seqs.forEach((s, i) => {
    metaArr[3 * i] = rowOf(i);
    metaArr[3 * i + 1] = s.slot;
    metaArr[3 * i + 2] = uniformBits(it, s);
  });
  sampleTokens(
    ctx,
    {
      logits,
      meta: uploadTensor(ctx, metaArr),
      probs: it.greedy ? allocTensor(ctx, 1) : allocTensor(ctx, m * V),
      out: viewOf(out, 3 * start, 3 * m),
      next: tokens,
    },
    m,
    V,
    it.cfg,
  );
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
  sampleRows(it, logits, seqs, (i) => rowOfSeq[i]!);
}

/** One decode step of the running sequences: each one's last token in and cached, its next token sampled. */
function decodeStep(it: IterationRun, live: Seq[]): void {
  const { ctx, tokens } = it.e;
  const { pool } = it;
  const n = live.length;
  const slots = new Int32Array(n),
    positions = new Int32Array(n),
    seqInfo = new Int32Array(2 * n),
    dest = new Int32Array(n);
  let maxLen = 0;
  live.forEach((s, r) => {
    slots[r] = s.slot;
    positions[r] = s.cached;
    seqInfo[2 * r] = s.slot;
    seqInfo[2 * r + 1] = s.cached + 1;
    dest[r] = poolRow(pool, s.slot, s.cached);
    s.cached++;
    maxLen = Math.max(maxLen, s.cached);
  });
  const logits = decodeLogits(it.st, it.ad, {
    n,
    rowSlots: uploadTensor(ctx, slots),
    tokens,
    positions,
    seqs: uploadTensor(ctx, seqInfo),
    dest: uploadTensor(ctx, dest),
    maxLen,
  });
  sampleRows(it, logits, live, (i) => i);
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

// One iteration of the webgpu engine (engine.ts is the entry; see its header): the prefill of the
// newly admitted sequences (each distinct prompt once, in chunks of at most maxPrefillTokens rows),
// one decode step of the running ones, the GPU sampler over both, and the one read-back of
// (token, behaviour log-prob, raw log-prob) per sequence.
import { allocTensor, beginScope, endScope, readI32, uploadTensor } from '../../ops/webgpu/context.js';
import { sampleTokens, type SamplingConfig } from '../../ops/webgpu/sampling.js';
import { viewOf, type GpuTensor } from '../../ops/webgpu/tensor.js';
import type { PromptInput } from '../types.js';
import { poolRow, type PagePool } from './pages.js';
import { decodeLogits, prefillLogits, type StepAdapter, type StepState } from './step.js';
import type { EngineState, Seq, WebGpuGenerationStats } from './engine-types.js';

/**
 * One iteration: prefill + first token of the admitted sequences, one decode step + next token of
 * the running ones; returns (sequence, token, behaviour log-prob, raw log-prob) in sample order.
 */
export async function iteration(
  e: EngineState,
  st: StepState,
  pool: PagePool,
  ad: StepAdapter,
  prompts: PromptInput[],
  admitted: Seq[],
  live: Seq[],
  cfg: SamplingConfig,
  greedy: boolean,
  stats: WebGpuGenerationStats,
): Promise<[Seq, number, number, number][]> {
  const { ctx, maxPrefillTokens, tokens, out } = e;
  const V = e.config.vocabSize;
  const order: Seq[] = [];
  const tEnc = performance.now();
  const u32 = new Uint32Array(1),
    f32 = new Float32Array(u32.buffer);
  const uniform = (s: Seq): number => {
    f32[0] = greedy ? 0 : s.rng.next();
    return u32[0]!;
  };
  beginScope(ctx);
  try {
    const sample = (logits: GpuTensor, seqs: Seq[], rowOf: (i: number) => number): void => {
      const m = seqs.length;
      const start = order.length;
      const metaArr = new Int32Array(3 * m);
      seqs.forEach((s, i) => {
        metaArr[3 * i] = rowOf(i);
        metaArr[3 * i + 1] = s.slot;
        metaArr[3 * i + 2] = uniform(s);
      });
      sampleTokens(
        ctx,
        {
          logits,
          meta: uploadTensor(ctx, metaArr),
          probs: greedy ? allocTensor(ctx, 1) : allocTensor(ctx, m * V),
          out: viewOf(out, 3 * start, 3 * m),
          next: tokens,
        },
        m,
        V,
        cfg,
      );
      order.push(...seqs);
    };
    // Prefill: distinct prompts of the admitted sequences, in chunks of at most maxPrefillTokens rows.
    const byPrompt = new Map<number, Seq[]>();
    for (const s of admitted) {
      const l = byPrompt.get(s.prompt);
      if (l) l.push(s);
      else byPrompt.set(s.prompt, [s]);
    }
    const distinct = [...byPrompt.keys()];
    for (let i = 0; i < distinct.length; ) {
      const chunk: number[] = [];
      let rows = 0;
      while (
        i < distinct.length &&
        (chunk.length === 0 || rows + prompts[distinct[i]!]!.ids.length <= maxPrefillTokens)
      ) {
        rows += prompts[distinct[i]!]!.ids.length;
        chunk.push(distinct[i++]!);
      }
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
      const logits = prefillLogits(st, ad, {
        prompts: chunk.map((p) => prompts[p]!.ids),
        writeMap: uploadTensor(ctx, map),
        writes: writes.length,
      });
      sample(logits, seqs, (i) => rowOfSeq[i]!);
    }
    if (live.length) {
      const n = live.length;
      const slots = new Int32Array(n),
        positions = new Int32Array(n),
        seqInfo = new Int32Array(2 * n),
        map = new Int32Array(2 * n);
      let maxLen = 0;
      live.forEach((s, r) => {
        slots[r] = s.slot;
        positions[r] = s.cached;
        seqInfo[2 * r] = s.slot;
        seqInfo[2 * r + 1] = s.cached + 1;
        map[r] = r;
        map[n + r] = poolRow(pool, s.slot, s.cached);
        s.cached++;
        maxLen = Math.max(maxLen, s.cached);
      });
      const logits = decodeLogits(st, ad, {
        n,
        rowSlots: uploadTensor(ctx, slots),
        tokens,
        positions,
        seqs: uploadTensor(ctx, seqInfo),
        writeMap: uploadTensor(ctx, map),
        maxLen,
      });
      sample(logits, live, (i) => i);
    }
    stats.encodeSeconds += (performance.now() - tEnc) / 1000;
    const res = await readI32(ctx, viewOf(out, 0, 3 * order.length));
    const bits = new Float32Array(res.buffer, res.byteOffset, res.length);
    return order.map((s, i) => [s, res[3 * i]!, bits[3 * i + 1]!, bits[3 * i + 2]!]);
  } finally {
    endScope(ctx);
  }
}

// Per-token log-probs of given completions (no backward): the reference policy (scale 0), the CLI,
// and checks of engine-reported behaviour log-probs all use this. `completionLogprobs` runs on the
// cpu synchronously; `completionLogprobsOn` runs the same batches on any ops implementation (the
// CLI's --device webgpu).
import type { FloatArray } from '../ops/matmul.js';
import type { Ops } from '../ops/types.js';
import type { LoraAdapter } from './lora.js';
import { forwardScored, forwardTrain, type TrainBatch } from './train.js';
import type { Model } from './weights.js';

export interface PromptCompletion {
  prompt: ArrayLike<number>;
  completion: ArrayLike<number>;
}

export interface LogprobOptions {
  temperature?: number;
  batchSize?: number;
}

/** The items in right-padded batches of up to batchSize sequences, scored from each prompt's end. */
function* batches(
  items: PromptCompletion[],
  batchSize: number,
): Generator<{ chunk: PromptCompletion[]; batch: TrainBatch }> {
  const bs = Math.max(1, batchSize);
  for (let s = 0; s < items.length; s += bs) {
    const chunk = items.slice(s, s + bs);
    const T = Math.max(...chunk.map((it) => it.prompt.length + it.completion.length));
    const ids = new Int32Array(chunk.length * T);
    const lengths = new Int32Array(chunk.length),
      scoreFrom = new Int32Array(chunk.length);
    chunk.forEach((it, b) => {
      if (it.prompt.length < 1)
        throw new Error(`completionLogprobs: item ${s + b} has an empty prompt (the first token has no prefix)`);
      for (let i = 0; i < it.prompt.length; i++) ids[b * T + i] = it.prompt[i]!;
      for (let i = 0; i < it.completion.length; i++) ids[b * T + it.prompt.length + i] = it.completion[i]!;
      lengths[b] = it.prompt.length + it.completion.length;
      scoreFrom[b] = it.prompt.length;
    });
    yield { chunk, batch: { ids, lengths, seqLen: T, scoreFrom } };
  }
}

/**
 * log p(completion[i] | prompt, completion[<i]) under logits / temperature, one Float64Array per
 * item. Items are processed in batches of up to batchSize sequences.
 */
export function completionLogprobs<F extends FloatArray>(
  model: Model<F>,
  adapter: LoraAdapter<F> | null,
  loraScale: number,
  items: PromptCompletion[],
  opts: LogprobOptions & { ops?: Ops<FloatArray> } = {},
): Float64Array[] {
  const out: Float64Array[] = [];
  for (const { chunk, batch } of batches(items, opts.batchSize ?? 16)) {
    const { logp } = forwardTrain(model, adapter, loraScale, batch, { temperature: opts.temperature, ops: opts.ops });
    chunk.forEach((it, b) => {
      const r = new Float64Array(it.completion.length);
      for (let i = 0; i < r.length; i++) r[i] = logp[b * batch.seqLen + it.prompt.length + i]!;
      out.push(r);
    });
  }
  return out;
}

/** completionLogprobs on any ops implementation (results read back per batch). */
export async function completionLogprobsOn<T>(
  ops: Ops<T>,
  model: Model<T>,
  adapter: LoraAdapter<T> | null,
  loraScale: number,
  items: PromptCompletion[],
  opts: LogprobOptions = {},
): Promise<Float64Array[]> {
  const out: Float64Array[] = [];
  for (const { chunk } of batches(items, opts.batchSize ?? 16)) {
    for (const it of chunk) out.push(new Float64Array(it.completion.length));
  }
  let k = 0;
  for (const { chunk, batch } of batches(items, opts.batchSize ?? 16)) {
    ops.beginScope();
    try {
      const r = forwardScored(model, adapter, loraScale, batch, ops, { temperature: opts.temperature });
      const lp = await ops.read(r.lp);
      // Scored order is (sequence, position): each item's completion tokens in turn.
      let m = 0;
      for (const it of chunk) {
        const dst = out[k++]!;
        for (let i = 0; i < it.completion.length; i++) dst[i] = lp[m++]!;
      }
    } finally {
      ops.endScope();
    }
  }
  return out;
}

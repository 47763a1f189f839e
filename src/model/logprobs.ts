// Per-token log-probs of given completions (no backward): the reference policy (scale 0), the CLI,
// and checks of engine-reported behaviour log-probs all use this.
import type { FloatArray } from '../ops/matmul.js';
import type { Ops } from '../ops/types.js';
import type { LoraAdapter } from './lora.js';
import { forwardTrain } from './train.js';
import type { Model } from './weights.js';

export interface PromptCompletion {
  prompt: ArrayLike<number>;
  completion: ArrayLike<number>;
}

/**
 * log p(completion[i] | prompt, completion[<i]) under logits / temperature, one Float64Array per
 * item. Items are processed in batches of up to batchSize sequences.
 */
export function completionLogprobs<F extends FloatArray>(model: Model<F>, adapter: LoraAdapter<F> | null, loraScale: number, items: PromptCompletion[], opts: { temperature?: number; batchSize?: number; ops?: Ops } = {}): Float64Array[] {
  const out: Float64Array[] = [];
  const bs = Math.max(1, opts.batchSize ?? 16);
  for (let s = 0; s < items.length; s += bs) {
    const chunk = items.slice(s, s + bs);
    const T = Math.max(...chunk.map((it) => it.prompt.length + it.completion.length));
    const ids = new Int32Array(chunk.length * T);
    const lengths = new Int32Array(chunk.length), scoreFrom = new Int32Array(chunk.length);
    chunk.forEach((it, b) => {
      if (it.prompt.length < 1) throw new Error(`completionLogprobs: item ${s + b} has an empty prompt (the first token has no prefix)`);
      for (let i = 0; i < it.prompt.length; i++) ids[b * T + i] = it.prompt[i]!;
      for (let i = 0; i < it.completion.length; i++) ids[b * T + it.prompt.length + i] = it.completion[i]!;
      lengths[b] = it.prompt.length + it.completion.length;
      scoreFrom[b] = it.prompt.length;
    });
    const { logp } = forwardTrain(model, adapter, loraScale, { ids, lengths, seqLen: T, scoreFrom }, { temperature: opts.temperature, ops: opts.ops });
    chunk.forEach((it, b) => {
      const r = new Float64Array(it.completion.length);
      for (let i = 0; i < r.length; i++) r[i] = logp[b * T + it.prompt.length + i]!;
      out.push(r);
    });
  }
  return out;
}

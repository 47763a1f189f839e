// Causal GQA attention as plain loops over rows: used for few query rows (KV-cache decode), where
// gathering each head's K/V into contiguous scratch for matmul would cost as much as the dot
// products themselves. Same contract as attention.ts.
import type { FloatArray } from '../matmul.js';
import type { AttentionShape } from '../types.js';

export function attentionForwardRows(
  o: FloatArray,
  lse: FloatArray,
  q: FloatArray,
  k: FloatArray,
  v: FloatArray,
  shape: AttentionShape,
  scratch: Float64Array,
): void {
  const { rows, firstPos, nHeads, nKvHeads, headDim } = shape;
  const qs = nHeads * headDim;
  const ks = nKvHeads * headDim;
  const group = nHeads / nKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  if (scratch.length < firstPos + rows)
    throw new Error(`attention: scratch ${scratch.length} < ${firstPos + rows} keys`);
  for (let i = 0; i < rows; i++) {
    const nk = firstPos + i + 1;
    for (let h = 0; h < nHeads; h++) {
      const qo = i * qs + h * headDim;
      const kvo = ((h / group) | 0) * headDim;
      let max = -Infinity;
      for (let j = 0; j < nk; j++) {
        const ko = j * ks + kvo;
        let s = 0;
        for (let d = 0; d < headDim; d++) s += q[qo + d]! * k[ko + d]!;
        s *= scale;
        scratch[j] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let j = 0; j < nk; j++) {
        const e = Math.exp(scratch[j]! - max);
        scratch[j] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let d = 0; d < headDim; d++) o[qo + d] = 0;
      for (let j = 0; j < nk; j++) {
        const p = scratch[j]! * inv;
        const vo = j * ks + kvo;
        for (let d = 0; d < headDim; d++) o[qo + d]! += p * v[vo + d]!;
      }
      lse[i * nHeads + h] = max + Math.log(sum);
    }
  }
}

// q,k,v as one projection in the engine's decode steps (WebGpuEngineOptions.fuseQkv). uploadModel puts
// each layer's q, k and v weights (and biases) back to back in one buffer, so the three matrices are one
// [Q + 2·KV, D] matrix read from q's offset: one base product per layer instead of three (and one
// split-K reduce instead of three on the GEMM route). The LoRA side path runs over the version's stacked
// A product and block-diagonal B (stacked-lora.ts); the output rows (q | k | v) go straight to the
// fused RoPE + KV write, and decode attention reads q from them at their row stride.
import type { StackedLora } from '../../model/layer.js';
import type { LayerLoraSlots } from '../../model/lora.js';
import type { Model } from '../../model/weights.js';
import type { GpuTensor } from '../../ops/webgpu/tensor.js';

export interface FusedQkv {
  w: GpuTensor;
  bias: GpuTensor;
}

/** parts as one tensor when they lie back to back in one buffer, in order; else null. */
function joined(parts: GpuTensor[]): GpuTensor | null {
  const [first] = parts;
  let end = first!.offset;
  for (const t of parts) {
    if (t.split || t.buffer !== first!.buffer || t.dtype !== first!.dtype || t.offset !== end) return null;
    end += t.length;
  }
  return { buffer: first!.buffer, offset: first!.offset, length: end - first!.offset, dtype: first!.dtype };
}

/** Every layer's q,k,v weights and biases as one matrix and vector; null when any layer's are apart. */
export function fusedQkvWeights(model: Model<GpuTensor>): FusedQkv[] | null {
  const out: FusedQkv[] = [];
  for (const lw of model.weights.layers) {
    const w = joined([lw.q, lw.k, lw.v]),
      bias = joined([lw.qBias, lw.kBias, lw.vBias]);
    if (!w || !bias) return null;
    out.push({ w, bias });
  }
  return out;
}

/** Whether a call's adapter allows the fused projection: every layer with q,k,v adapted has its stack. */
export function stacksCoverQkv(slots: LayerLoraSlots[] | null, stacked: StackedLora<GpuTensor>[] | null): boolean {
  if (!slots) return true;
  return slots.every((s, l) => {
    if (!s.q_proj && !s.k_proj && !s.v_proj) return true;
    const st = stacked?.[l];
    return !!st?.qkv && !!st.qkvB;
  });
}

// Projections that read one input, run as one product in the engine's passes: q,k,v
// (WebGpuEngineOptions.fuseQkv, decode only: its attend rotates q and k) and gate,up (fuseGateUp,
// prefill and decode). uploadModel puts each group's weights (and q,k,v's biases) back to back in one
// buffer, so the group is one matrix ([Q + 2·KV, D], [2·I, D]) read from its first member's offset: one
// base product per group instead of one per member (and, on the GEMM route, one split-K reduce
// instead of three for q,k,v). The LoRA side path is one low-rank epilogue over the version's stacked
// A product (stacked-lora.ts), each member's column segment reading its own B from the flat adapter
// block and its own r columns of that product (LoraOperand.segments).
import type { StackedLora } from '../../model/layer.js';
import { LORA_GROUPS, type LayerLoraSlots, type LoraGroup } from '../../model/lora.js';
import type { Model } from '../../model/weights.js';
import type { GpuTensor } from '../../ops/webgpu/tensor.js';

export interface FusedQkv {
  w: GpuTensor;
  bias: GpuTensor;
}

/** Each layer's fused weights per group; null: that group runs apart (not fused, or not back to back). */
export interface FusedWeights {
  qkv: FusedQkv[] | null;
  /** Each layer's gate and up weights as one [2·I, D] matrix (gate rows first). */
  gateUp: GpuTensor[] | null;
}

/** Which groups the engine fuses (WebGpuEngineOptions.fuseQkv, fuseGateUp). */
export interface FuseOptions {
  qkv: boolean;
  gateUp: boolean;
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

/** Every layer's group as one tensor, or null when any layer's lie apart. */
function everyLayer<R>(
  model: Model<GpuTensor>,
  join: (lw: Model<GpuTensor>['weights']['layers'][number]) => R | null,
): R[] | null {
  const out: R[] = [];
  for (const lw of model.weights.layers) {
    const j = join(lw);
    if (j === null) return null;
    out.push(j);
  }
  return out;
}

export function fusedWeights(model: Model<GpuTensor>, fuse: FuseOptions): FusedWeights {
  const qkv = fuse.qkv
    ? everyLayer(model, (lw) => {
        const w = joined([lw.q, lw.k, lw.v]),
          bias = joined([lw.qBias, lw.kBias, lw.vBias]);
        return w && bias ? { w, bias } : null;
      })
    : null;
  const gateUp = fuse.gateUp ? everyLayer(model, (lw) => joined([lw.gate, lw.up])) : null;
  return { qkv, gateUp };
}

/**
 * Whether an adapter version allows a group's fused projection: every layer that adapts a member of
 * the group has the group's stacked A (all its members adapted, the version stacked). A base-model
 * call (no slots) always does.
 */
export function stacksCover(
  slots: LayerLoraSlots[] | null,
  stacked: StackedLora<GpuTensor>[] | null,
  group: LoraGroup,
): boolean {
  if (!slots) return true;
  return slots.every((s, l) => LORA_GROUPS[group].every((m) => s[m] === null) || !!stacked?.[l]?.[group]);
}

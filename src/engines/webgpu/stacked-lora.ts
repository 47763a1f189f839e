// The stacked LoRA matrices of an adapter version (layer.ts StackedLora): per layer,
// scale·[A_q; A_k; A_v] [3r, D] and scale·[A_gate; A_up] [2r, D], back to back in one block that the
// engine uploads and verifies with the version (adapters.ts). The branches of a group read the same
// input, so their A products become one product per group (3 dispatches per layer fewer), and a fused
// projection (fused-projections.ts) reads every member's r columns of it in one low-rank epilogue, with
// each member's B read from the flat adapter block. A group with a branch left out of target_modules
// stays unstacked.
import type { Qwen2Config } from '../../model/config.js';
import type { StackedLora } from '../../model/layer.js';
import { LORA_GROUPS, loraScale, loraSlots, type LoraGroup } from '../../model/lora.js';
import type { AdapterSnapshot } from '../../model/adapter-layout.js';
import { viewOf, type GpuTensor } from '../../ops/webgpu/tensor.js';

/** One group's stack: where it starts in the block, its length, and its members' A offsets in params. */
interface StackPlace {
  offset: number;
  length: number;
  sources: { aOffset: number; n: number }[];
}

/** Where each layer's stacks lie in the block (null: the group is not adapted in full). */
export interface StackPlan {
  scale: number;
  size: number;
  layers: Record<LoraGroup, StackPlace | null>[];
}

/** The plan of an adapter's stacks; null when no group of any layer is adapted in full. */
export function stackPlan(c: Qwen2Config, snapshot: Omit<AdapterSnapshot, 'params'>): StackPlan | null {
  const slots = loraSlots(c, snapshot.settings, snapshot.layout);
  let size = 0;
  const layers = slots.map((s) => {
    const at = { qkv: null, gateUp: null } as StackPlan['layers'][number];
    for (const g of Object.keys(LORA_GROUPS) as LoraGroup[]) {
      const members = LORA_GROUPS[g].map((m) => s[m]);
      if (members.some((m) => m === null)) {
        at[g] = null;
        continue;
      }
      const sources = members.map((m) => ({ aOffset: m!.aOffset, n: m!.r * m!.inF }));
      const length = sources.reduce((n, src) => n + src.n, 0);
      at[g] = { offset: size, length, sources };
      size += length;
    }
    return at;
  });
  return size === 0 ? null : { scale: loraScale(snapshot.settings), size, layers };
}

/** The block of plan `p` from a version's flat parameters (A matrices copied, times the scale). */
export function stackBlock(params: Float32Array, p: StackPlan): Float32Array {
  const out = new Float32Array(p.size);
  for (const at of p.layers) {
    for (const place of [at.qkv, at.gateUp]) {
      let o = place?.offset ?? 0;
      for (const { aOffset, n } of place?.sources ?? []) {
        for (let i = 0; i < n; i++) out[o + i] = p.scale * params[aOffset + i]!;
        o += n;
      }
    }
  }
  return out;
}

/** Per-layer views of an uploaded block (what LayerContext.stacked takes). */
export function stackViews(p: StackPlan, block: GpuTensor): StackedLora<GpuTensor>[] {
  const view = (place: StackPlace | null): GpuTensor | null =>
    place ? viewOf(block, place.offset, place.length) : null;
  return p.layers.map((at) => ({ scale: p.scale, qkv: view(at.qkv), gateUp: view(at.gateUp) }));
}

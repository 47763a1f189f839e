// The stacked LoRA matrices of an adapter version (layer.ts StackedLora): per layer,
// scale·[A_q; A_k; A_v] [3r, D] and scale·[A_gate; A_up] [2r, D], and the block-diagonal
// B_q ⊕ B_k ⊕ B_v [Q + 2·KV, 3r], back to back in one block that the engine uploads and verifies with
// the version (adapters.ts). The branches of a group read the same input, so their A products become
// one product per group (3 dispatches per layer fewer); with the block-diagonal B, the LoRA side path
// of the fused q,k,v projection is the usual low-rank epilogue over the stacked A product's 3r columns
// (the zeros cost 2r multiply-adds per output, nothing next to its D). A group with a branch left out
// of target_modules stays unstacked.
import type { Qwen2Config } from '../../model/config.js';
import type { StackedLora } from '../../model/layer.js';
import { loraScale, loraSlots, type LoraModule } from '../../model/lora.js';
import type { AdapterSnapshot } from '../../model/adapter-layout.js';
import { viewOf, type GpuTensor } from '../../ops/webgpu/tensor.js';

const GROUPS = { qkv: ['q_proj', 'k_proj', 'v_proj'], gateUp: ['gate_proj', 'up_proj'] } as const satisfies Record<
  string,
  readonly LoraModule[]
>;
type Group = keyof typeof GROUPS;

/** One group's stack: where it starts in the block, its length, and its members' A offsets in params. */
interface StackPlace {
  offset: number;
  length: number;
  sources: { aOffset: number; n: number }[];
}

/** The block-diagonal B of q,k,v: where it lies, and each member's B (offset in params, rows). */
interface DiagPlace {
  offset: number;
  length: number;
  r: number;
  sources: { bOffset: number; rows: number }[];
}

/** Where each layer's stacks lie in the block (null: the group is not adapted in full). */
export interface StackPlan {
  scale: number;
  size: number;
  layers: (Record<Group, StackPlace | null> & { qkvB: DiagPlace | null })[];
}

/** What an engine's stacked blocks hold. */
export interface StackOptions {
  config: Qwen2Config;
  /** The block-diagonal q,k,v B too: only when the engine fuses q,k,v (it is sync bytes for nothing else). */
  qkvB: boolean;
}

/** The plan of an adapter's stacks; null when no group of any layer is adapted in full. */
export function stackPlan(o: StackOptions, snapshot: Omit<AdapterSnapshot, 'params'>): StackPlan | null {
  const slots = loraSlots(o.config, snapshot.settings, snapshot.layout);
  let size = 0;
  const layers = slots.map((s) => {
    const at = {} as StackPlan['layers'][number];
    for (const g of Object.keys(GROUPS) as Group[]) {
      const members = GROUPS[g].map((m) => s[m]);
      if (members.some((m) => m === null)) {
        at[g] = null;
        continue;
      }
      const sources = members.map((m) => ({ aOffset: m!.aOffset, n: m!.r * m!.inF }));
      const length = sources.reduce((n, src) => n + src.n, 0);
      at[g] = { offset: size, length, sources };
      size += length;
    }
    at.qkvB = null;
    if (at.qkv && o.qkvB) {
      const members = GROUPS.qkv.map((m) => s[m]!);
      const r = members[0]!.r;
      const rows = members.reduce((n, m) => n + m.outF, 0);
      const sources = members.map((m) => ({ bOffset: m.bOffset, rows: m.outF }));
      at.qkvB = { offset: size, length: rows * 3 * r, r, sources };
      size += rows * 3 * r;
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
    if (at.qkvB) fillDiag(out, params, at.qkvB);
  }
  return out;
}

/** Row n of member i's B at columns [i·r, (i+1)·r) of its rows; zeros elsewhere (out starts zeroed). */
function fillDiag(out: Float32Array, params: Float32Array, d: DiagPlace): void {
  const ld = d.sources.length * d.r;
  let row = 0;
  d.sources.forEach(({ bOffset, rows }, i) => {
    for (let n = 0; n < rows; n++, row++)
      out.set(params.subarray(bOffset + n * d.r, bOffset + (n + 1) * d.r), d.offset + row * ld + i * d.r);
  });
}

/** Per-layer views of an uploaded block (what LayerContext.stacked takes). */
export function stackViews(p: StackPlan, block: GpuTensor): StackedLora<GpuTensor>[] {
  const view = (place: StackPlace | DiagPlace | null): GpuTensor | null =>
    place ? viewOf(block, place.offset, place.length) : null;
  return p.layers.map((at) => ({ scale: p.scale, qkv: view(at.qkv), gateUp: view(at.gateUp), qkvB: view(at.qkvB) }));
}

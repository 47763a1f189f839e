// LoRA adapters: ONE flat Float32Array + layout (adapter-layout.ts), PEFT naming and PEFT's default
// initialisation: lora_A Kaiming-uniform with a = √5 (torch nn.Linear's init, bound 1/√in_features),
// lora_B zero, scale alpha / r. Gradients use the same flat layout.
import type { FloatArray } from '../ops/matmul.js';
import type { LoraOperand } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import type { AdapterLayout, AdapterTensorSpec, LoraSettings } from './adapter-layout.js';
import type { Qwen2Config } from './config.js';

export const LORA_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraModule = (typeof LORA_MODULES)[number];

/**
 * The projections that read one input, in their output-column order: their LoRA A matrices stack into
 * one product (the webgpu engine's stacked-lora.ts) and their weights run as one projection
 * (layer.ts fused projections).
 */
export const LORA_GROUPS = {
  qkv: ['q_proj', 'k_proj', 'v_proj'],
  gateUp: ['gate_proj', 'up_proj'],
} as const satisfies Record<string, readonly LoraModule[]>;
export type LoraGroup = keyof typeof LORA_GROUPS;

export interface LoraAdapter<F = Float32Array> {
  settings: LoraSettings;
  layout: AdapterLayout;
  params: F;
}

export function defaultLoraSettings(over: Partial<LoraSettings> = {}): LoraSettings {
  return { r: 8, alpha: 16, dropout: 0, targetModules: [...LORA_MODULES], ...over };
}

/** HF module path prefix of a projection, e.g. model.layers.3.self_attn.q_proj. */
export function modulePath(layer: number, m: LoraModule): string {
  const block = m === 'gate_proj' || m === 'up_proj' || m === 'down_proj' ? 'mlp' : 'self_attn';
  return `model.layers.${layer}.${block}.${m}`;
}

/** [out_features, in_features] of a projection. */
export function moduleDims(c: Qwen2Config, m: LoraModule): [number, number] {
  const D = c.hiddenSize,
    Q = c.numHeads * c.headDim,
    KV = c.numKvHeads * c.headDim,
    I = c.intermediateSize;
  switch (m) {
    case 'q_proj':
      return [Q, D];
    case 'k_proj':
    case 'v_proj':
      return [KV, D];
    case 'o_proj':
      return [D, Q];
    case 'gate_proj':
    case 'up_proj':
      return [I, D];
    case 'down_proj':
      return [D, I];
  }
}

export function validateLoraSettings(s: LoraSettings, where = 'lora settings'): void {
  if (!Number.isInteger(s.r) || s.r <= 0) throw new Error(`${where}: r must be a positive integer, got ${s.r}`);
  if (!Number.isFinite(s.alpha) || s.alpha <= 0) throw new Error(`${where}: alpha must be positive, got ${s.alpha}`);
  if (!(s.dropout >= 0 && s.dropout < 1)) throw new Error(`${where}: dropout must be in [0, 1), got ${s.dropout}`);
  if (s.targetModules.length === 0) throw new Error(`${where}: target_modules is empty`);
  for (const m of s.targetModules) {
    if (!(LORA_MODULES as readonly string[]).includes(m))
      throw new Error(`${where}: unknown target module "${m}" (expected one of ${LORA_MODULES.join(', ')})`);
  }
}

/** Layout: per layer, per targeted module in q,k,v,o,gate,up,down order, lora_A [r,in] then lora_B [out,r]. */
export function createLoraLayout(c: Qwen2Config, s: LoraSettings): AdapterLayout {
  validateLoraSettings(s);
  const tensors: AdapterTensorSpec[] = [];
  let offset = 0;
  for (let l = 0; l < c.numLayers; l++) {
    for (const m of LORA_MODULES) {
      if (!s.targetModules.includes(m)) continue;
      const [out, inF] = moduleDims(c, m);
      const p = modulePath(l, m);
      tensors.push({ name: `${p}.lora_A`, shape: [s.r, inF], offset });
      offset += s.r * inF;
      tensors.push({ name: `${p}.lora_B`, shape: [out, s.r], offset });
      offset += out * s.r;
    }
  }
  return { tensors, size: offset };
}

/** PEFT default init (B = 0, so a fresh adapter leaves the model unchanged). */
export function initLoraAdapter(c: Qwen2Config, s: LoraSettings, rng: Rng): LoraAdapter<Float32Array> {
  const layout = createLoraLayout(c, s);
  const params = new Float32Array(new SharedArrayBuffer(layout.size * 4));
  for (const t of layout.tensors) {
    if (!t.name.endsWith('.lora_A')) continue;
    const bound = 1 / Math.sqrt(t.shape[1]!);
    const n = t.shape[0]! * t.shape[1]!;
    for (let i = 0; i < n; i++) params[t.offset + i] = (2 * rng.next() - 1) * bound;
  }
  return { settings: { ...s, targetModules: [...s.targetModules] }, layout, params };
}

/** Where each layer's LoRA tensors are in the flat block (null: module not targeted). */
export interface LoraSlot {
  aOffset: number;
  bOffset: number;
  r: number;
  inF: number;
  outF: number;
}
export type LayerLoraSlots = Record<LoraModule, LoraSlot | null>;

export function loraSlots(c: Qwen2Config, settings: LoraSettings, layout: AdapterLayout): LayerLoraSlots[] {
  const byName = new Map(layout.tensors.map((t) => [t.name, t]));
  const out: LayerLoraSlots[] = [];
  for (let l = 0; l < c.numLayers; l++) {
    const rec = {} as LayerLoraSlots;
    for (const m of LORA_MODULES) {
      const a = byName.get(`${modulePath(l, m)}.lora_A`);
      const b = byName.get(`${modulePath(l, m)}.lora_B`);
      if (!a || !b) {
        rec[m] = null;
        continue;
      }
      const [outF, inF] = moduleDims(c, m);
      if (a.shape[0] !== settings.r || a.shape[1] !== inF || b.shape[0] !== outF || b.shape[1] !== settings.r) {
        throw new Error(
          `adapter layout: ${modulePath(l, m)} has shapes A ${JSON.stringify(a.shape)} B ${JSON.stringify(b.shape)}, model needs A [${settings.r},${inF}] B [${outF},${settings.r}]`,
        );
      }
      rec[m] = { aOffset: a.offset, bOffset: b.offset, r: settings.r, inF, outF };
    }
    out.push(rec);
  }
  return out;
}

const subarrayView = <T>(t: T, offset: number, length: number): T =>
  (t as unknown as FloatArray).subarray(offset, offset + length) as unknown as T;

/** LoraOperand views (zero-copy) into a flat block for one slot; `view` is the ops' (default: subarray). */
export function operandOf<T = FloatArray>(
  slot: LoraSlot | null,
  flat: T,
  scale: number,
  view: (t: T, offset: number, length: number) => T = subarrayView,
): LoraOperand<T> | null {
  if (!slot) return null;
  return {
    a: view(flat, slot.aOffset, slot.r * slot.inF),
    b: view(flat, slot.bOffset, slot.outF * slot.r),
    r: slot.r,
    scale,
  };
}

/** PEFT's scaling for the non-rsLoRA case. */
export const loraScale = (s: LoraSettings): number => s.alpha / s.r;

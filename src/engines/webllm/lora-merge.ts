// LoRA → MLC weights: map Hugging Face module names to MLC's fused layout and compute the merged
// weight W0 + (alpha/r)·B·A for one fused tensor, always from the frozen base W0 (never from the
// previously merged weights, so rounding never accumulates across steps).
//   q_proj, k_proj, v_proj → self_attn.c_attn.weight rows [q | k | v]
//   gate_proj, up_proj     → mlp.gate_up_proj.weight rows [gate | up]
//   o_proj, down_proj      → unchanged names
import type { AdapterSnapshot } from '../../model/adapter-layout.js';
import { matmulNN } from '../../ops/matmul.js';
import type { MlcModelConfig } from './mlc-artifacts.js';

/** Where one HF module's weight lives inside an MLC tensor. */
export interface FusedSlot {
  mlcName: string;
  rowOffset: number;
  rows: number;
  cols: number;
}

export function mlcSlotFor(hfModule: string, c: MlcModelConfig): FusedSlot {
  const m = /^model\.layers\.(\d+)\.(self_attn|mlp)\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)$/.exec(
    hfModule,
  );
  if (!m) throw new Error(`LoRA target ${hfModule} is not a Qwen2 linear module (model.layers.N.self_attn|mlp.<proj>)`);
  const layer = Number(m[1]);
  if (layer >= c.num_hidden_layers)
    throw new Error(`LoRA target ${hfModule}: layer ${layer} ≥ num_hidden_layers ${c.num_hidden_layers}`);
  const d = c.hidden_size;
  const hd = d / c.num_attention_heads;
  const q = c.num_attention_heads * hd;
  const kv = c.num_key_value_heads * hd;
  const I = c.intermediate_size;
  const p = `model.layers.${layer}.`;
  switch (m[3]) {
    case 'q_proj':
      return { mlcName: p + 'self_attn.c_attn.weight', rowOffset: 0, rows: q, cols: d };
    case 'k_proj':
      return { mlcName: p + 'self_attn.c_attn.weight', rowOffset: q, rows: kv, cols: d };
    case 'v_proj':
      return { mlcName: p + 'self_attn.c_attn.weight', rowOffset: q + kv, rows: kv, cols: d };
    case 'o_proj':
      return { mlcName: p + 'self_attn.o_proj.weight', rowOffset: 0, rows: d, cols: q };
    case 'gate_proj':
      return { mlcName: p + 'mlp.gate_up_proj.weight', rowOffset: 0, rows: I, cols: d };
    case 'up_proj':
      return { mlcName: p + 'mlp.gate_up_proj.weight', rowOffset: I, rows: I, cols: d };
    default:
      return { mlcName: p + 'mlp.down_proj.weight', rowOffset: 0, rows: d, cols: I };
  }
}

/** One LoRA pair located in the flat block and in the fused MLC tensor. */
export interface LoraPair {
  module: string;
  slot: FusedSlot;
  r: number;
  aOffset: number;
  bOffset: number;
}

/** Group an adapter's lora_A/lora_B tensors by MLC tensor, checking every shape. */
export function planAdapter(snapshot: AdapterSnapshot, c: MlcModelConfig): Map<string, LoraPair[]> {
  const { layout, params } = snapshot;
  if (params.length < layout.size)
    throw new Error(`adapter v${snapshot.version}: params has ${params.length} values, layout needs ${layout.size}`);
  const { r, alpha } = snapshot.settings;
  if (!(r > 0) || !Number.isFinite(alpha))
    throw new Error(`adapter v${snapshot.version}: settings r=${r} alpha=${alpha} invalid`);
  const halves = new Map<string, { a?: { off: number; shape: number[] }; b?: { off: number; shape: number[] } }>();
  for (const t of layout.tensors) {
    const m = /^(.*)\.lora_([AB])$/.exec(t.name);
    if (!m) throw new Error(`adapter v${snapshot.version}: tensor ${t.name} is not a lora_A/lora_B tensor`);
    const h = halves.get(m[1]!) ?? {};
    h[m[2] === 'A' ? 'a' : 'b'] = { off: t.offset, shape: t.shape };
    halves.set(m[1]!, h);
  }
  const plan = new Map<string, LoraPair[]>();
  for (const [module, h] of halves) {
    if (!h.a || !h.b) throw new Error(`adapter v${snapshot.version}: ${module} lacks lora_${h.a ? 'B' : 'A'}`);
    const slot = mlcSlotFor(module, c);
    const [ar, ain] = h.a.shape;
    const [bout, br] = h.b.shape;
    if (ar !== r || br !== r || ain !== slot.cols || bout !== slot.rows) {
      throw new Error(
        `adapter v${snapshot.version}: ${module} lora_A [${h.a.shape}] / lora_B [${h.b.shape}] do not fit [${slot.rows}, ${slot.cols}] at r=${r}`,
      );
    }
    const list = plan.get(slot.mlcName) ?? [];
    list.push({ module, slot, r, aOffset: h.a.off, bOffset: h.b.off });
    plan.set(slot.mlcName, list);
  }
  for (let i = 0; i < layout.size; i++) {
    if (!Number.isFinite(params[i]!))
      throw new Error(`adapter v${snapshot.version}: non-finite value at flat index ${i}`);
  }
  return plan;
}

/**
 * merged = base + (alpha/r)·B·A over each pair's rows. `base` is the frozen W0 (f32, [rows, cols] of
 * the whole fused tensor); `out` receives the result (may be a reused scratch buffer).
 */
export function mergeInto(
  out: Float32Array,
  base: Float32Array,
  pairs: LoraPair[],
  snapshot: AdapterSnapshot,
): Float32Array {
  out.set(base);
  const scale = snapshot.settings.alpha / snapshot.settings.r;
  for (const p of pairs) {
    const { rows, cols, rowOffset } = p.slot;
    const a = snapshot.params.subarray(p.aOffset, p.aOffset + p.r * cols);
    const b = snapshot.params.subarray(p.bOffset, p.bOffset + rows * p.r);
    const bScaled = new Float32Array(rows * p.r); // small ([rows, r]); folding the scale here keeps one pass
    for (let i = 0; i < bScaled.length; i++) bScaled[i] = b[i]! * scale;
    matmulNN(out.subarray(rowOffset * cols, (rowOffset + rows) * cols), bScaled, a, rows, p.r, cols, true);
  }
  return out;
}

/** 32-bit FNV-1a over the bytes' 32-bit words: the read-back checksum of written tensors. */
export function checksum32(bytes: Uint8Array): number {
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i]!, 0x01000193) >>> 0;
  for (let i = words.length * 4; i < bytes.byteLength; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193) >>> 0;
  return h >>> 0;
}

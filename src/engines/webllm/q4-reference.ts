// The weights a q4f16_1 WebLLM library serves, rebuilt on the CPU for the independent reference
// forward (cpu-reference.ts): what `convert-to-mlc --dtype q4f16_1` stores for a checkpoint, then
// what the q4 sync (q4-sync.ts) writes for an adapter. Every linear weight and the (tied) embedding
// is W = deq(Q(deq(Q(W0)) + (alpha/r)·B·A)), biases and norms are rounded to f16. Groups of 32 run
// along a row, so quantizing q, k, v (gate, up) one by one gives exactly the rows of the fused MLC
// tensor. The library's own f16 activations and kernels are what remains between this model and
// WebLLM; the learner's full-precision model (W0 + delta, f32) is what the rollout/learner mismatch
// is measured against.
import type { AdapterSnapshot } from '../../model/adapter-layout.js';
import { f16ToF32, f32ToF16 } from '../../util/half.js';
import type { ReferenceModel } from './cpu-reference.js';
import { dequantizeQ4, quantizeQ4 } from './q4f16.js';

const QUANTIZED =
  /(\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)|^model\.embed_tokens|^lm_head)\.weight$/;

function roundTripQ4(w: Float32Array, rows: number, cols: number): Float32Array {
  return dequantizeQ4(quantizeQ4(w, { rows, cols }), { rows, cols });
}

/** W0 + (alpha/r)·B·A in f32 for one module (a delta in f64, rounded once, as the GPU's f32 sum nearly is). */
function addLora(w: Float32Array, rows: number, cols: number, adapter: AdapterSnapshot, module: string): boolean {
  const a = adapter.layout.tensors.find((t) => t.name === `${module}.lora_A`);
  const b = adapter.layout.tensors.find((t) => t.name === `${module}.lora_B`);
  if (!a || !b) return false;
  const r = a.shape[0]!;
  if (a.shape[1] !== cols || b.shape[0] !== rows || b.shape[1] !== r)
    throw new Error(`q4 reference: ${module} LoRA A [${a.shape}] / B [${b.shape}] do not fit [${rows}, ${cols}]`);
  const scale = adapter.settings.alpha / adapter.settings.r;
  const p = adapter.params;
  const row = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    row.fill(0);
    for (let k = 0; k < r; k++) {
      const bk = Math.fround(p[b.offset + i * r + k]! * scale);
      const ak = a.offset + k * cols;
      for (let j = 0; j < cols; j++) row[j]! += bk * p[ak + j]!;
    }
    for (let j = 0; j < cols; j++) w[i * cols + j] = Math.fround(w[i * cols + j]! + row[j]!);
  }
  return true;
}

/** The reference model on the weights a q4f16_1 library holds after syncing `adapter` (null: the base). */
export function q4ReferenceModel(full: ReferenceModel, adapter: AdapterSnapshot | null): ReferenceModel {
  const { d, I, H, KV, hd, V } = full.cfg;
  const rowsCols = (name: string): [number, number] => {
    if (/\.(q_proj|o_proj)\.weight$/.test(name)) return [H * hd, d];
    if (/\.(k_proj|v_proj)\.weight$/.test(name)) return [KV * hd, d];
    if (/\.(gate_proj|up_proj)\.weight$/.test(name)) return [I, d];
    if (/\.down_proj\.weight$/.test(name)) return [d, I];
    return [V, d];
  };
  const w = new Map<string, Float32Array>();
  const embed = full.w.get('model.embed_tokens.weight');
  for (const [name, src] of full.w) {
    if (name === 'lm_head.weight' && src === embed) continue; // tied: set below to the same array
    if (!QUANTIZED.test(name)) {
      w.set(
        name,
        Float32Array.from(src, (v) => f16ToF32(f32ToF16(v))),
      );
      continue;
    }
    const [rows, cols] = rowsCols(name);
    if (rows * cols !== src.length)
      throw new Error(`q4 reference: ${name} has ${src.length} values, not [${rows}, ${cols}]`);
    const base = roundTripQ4(src, rows, cols);
    w.set(
      name,
      adapter && addLora(base, rows, cols, adapter, name.slice(0, -'.weight'.length))
        ? roundTripQ4(base, rows, cols)
        : base,
    );
  }
  if (full.w.get('lm_head.weight') === embed) w.set('lm_head.weight', w.get('model.embed_tokens.weight')!);
  return { cfg: full.cfg, w };
}

// Frozen base weights onto the GPU, once per run, from the same arrays (SharedArrayBuffer views)
// the cpu path reads. Matrices are stored in f16 (packed, see tensor.ts) or f32; norms and biases
// stay f32. A matrix with a finite value outside the f16 range stays f32 and is reported by name.
// A matrix larger than one storage binding (the 1.5B vocabulary matrix in f32: 934 MB) is split
// into row blocks. Tied embeddings are uploaded once and shared by the embedding and the LM head.
// Each layer's q, k and v matrices (and their biases), and its gate and up matrices, are uploaded back
// to back in one buffer each, as views, so the rollout engine can run each group as one product
// (fused-projections.ts); the learner reads the views like any other tensor. A group shares a dtype: a
// value of one outside the f16 range keeps the whole group in f32 (reported as one name).
import type { Qwen2Config } from '../../model/config.js';
import type { LayerWeights, Model, ModelWeights } from '../../model/weights.js';
import { allocTensor, writeTensor, type GpuContext } from './context.js';
import { bytesFor, fitsF16, viewOf, type GpuDType, type GpuTensor } from './tensor.js';

export type WeightDType = 'f16' | 'f32';

export interface UploadReport {
  /** Bytes of GPU memory the weights take. */
  bytes: number;
  /** Matrices kept in f32 although f16 was asked for (a value outside the f16 range). */
  keptF32: string[];
  /** Matrices split across buffers (name → parts). */
  split: Record<string, number>;
}

/** A persistent tensor (outside every scope) holding `data` as dtype, split into row blocks if needed. */
export function uploadMatrix(
  ctx: GpuContext,
  data: Float32Array,
  rowWidth: number,
  dtype: GpuDType,
  name: string,
  maxPartBytes = ctx.maxBinding,
): GpuTensor {
  const rows = data.length / rowWidth;
  if (!Number.isInteger(rows))
    throw new Error(`uploadMatrix(${name}): ${data.length} values are not whole rows of ${rowWidth}`);
  const rowBytes = bytesFor(rowWidth, dtype);
  const rowsPerPart = Math.max(1, Math.floor(maxPartBytes / rowBytes));
  if (rowsPerPart >= rows) {
    const t = allocTensor(ctx, data.length, dtype, false, true);
    writeTensor(ctx, t, data, name);
    return t;
  }
  // Each part must hold whole u32 words: f16 rows of odd width cannot be split.
  if (dtype === 'f16' && rowWidth % 2)
    throw new Error(`uploadMatrix(${name}): cannot split an f16 matrix with odd rows of ${rowWidth}`);
  const parts: GpuTensor[] = [];
  for (let r = 0; r < rows; r += rowsPerPart) {
    const n = Math.min(rowsPerPart, rows - r) * rowWidth;
    const p = allocTensor(ctx, n, dtype, false, true);
    writeTensor(ctx, p, data.subarray(r * rowWidth, r * rowWidth + n), `${name} rows ${r}..`);
    parts.push(p);
  }
  return { buffer: parts[0]!.buffer, offset: 0, length: data.length, dtype, split: { rowWidth, rowsPerPart, parts } };
}

function uploadVector(ctx: GpuContext, data: Float32Array, name: string): GpuTensor {
  const t = allocTensor(ctx, data.length, 'f32', false, true);
  writeTensor(ctx, t, data, name);
  return t;
}

const MATRIX_KEYS = ['o', 'down'] as const;

export interface UploadOptions {
  weightDtype: WeightDType;
  /** Split matrices above this many bytes (default: the device's storage binding limit). */
  maxPartBytes?: number;
}

export function uploadModel(
  ctx: GpuContext,
  model: Model<Float32Array>,
  opts: UploadOptions,
): { model: Model<GpuTensor>; report: UploadReport } {
  const c: Qwen2Config = model.config,
    w = model.weights;
  const report: UploadReport = { bytes: 0, keptF32: [], split: {} };
  // fits: whether the values fit f16 (given for a group, which was scanned once as a whole).
  const matrix = (data: Float32Array, rowWidth: number, name: string, fits?: boolean): GpuTensor => {
    let dtype: GpuDType = opts.weightDtype;
    if (dtype === 'f16' && !(fits ?? fitsF16(data))) {
      dtype = 'f32';
      report.keptF32.push(name);
    }
    const t = uploadMatrix(ctx, data, rowWidth, dtype, name, opts.maxPartBytes);
    report.bytes += bytesFor(data.length, dtype);
    if (t.split) report.split[name] = t.split.parts.length;
    return t;
  };
  const vector = (data: Float32Array, name: string): GpuTensor => {
    report.bytes += data.length * 4;
    return uploadVector(ctx, data, name);
  };
  const D = c.hiddenSize;
  const limit = opts.maxPartBytes ?? ctx.maxBinding;
  // Matrices (or vectors) read as one (a fused projection): one buffer, each written into its view, in
  // one dtype; uploaded apart when together they would exceed one binding or an f16 view would start
  // mid-word.
  const group = (parts: Float32Array[], rowWidth: number, names: string[], vectors = false): GpuTensor[] => {
    const fits = !vectors && opts.weightDtype === 'f16' && parts.every(fitsF16);
    const dtype: GpuDType = fits ? 'f16' : 'f32';
    const starts: number[] = [];
    let total = 0;
    for (const part of parts) {
      starts.push(total);
      total += part.length;
    }
    if (bytesFor(total, dtype) > limit || (fits && starts.some((at) => at % 2)))
      return parts.map((d, i) => (vectors ? vector(d, names[i]!) : matrix(d, rowWidth, names[i]!, fits)));
    if (!vectors && opts.weightDtype === 'f16' && !fits) report.keptF32.push(names.join(' + '));
    const t = allocTensor(ctx, total, dtype, false, true);
    report.bytes += bytesFor(total, dtype);
    return parts.map((d, i) => {
      const view = viewOf(t, starts[i]!, d.length);
      writeTensor(ctx, view, d, names[i]);
      return view;
    });
  };
  const embed = matrix(w.embed, D, 'model.embed_tokens.weight');
  const layers = w.layers.map((lw, l): LayerWeights<GpuTensor> => {
    const p = `model.layers.${l}.`;
    const out = {} as LayerWeights<GpuTensor>;
    const attn = (m: string): string => `${p}self_attn.${m}`;
    const qkv = ['q_proj', 'k_proj', 'v_proj'].map(attn);
    [out.q, out.k, out.v] = group(
      [lw.q, lw.k, lw.v],
      D,
      qkv.map((m) => `${m}.weight`),
    );
    const biases = [lw.qBias, lw.kBias, lw.vBias];
    [out.qBias, out.kBias, out.vBias] = group(
      biases,
      1,
      qkv.map((m) => `${m}.bias`),
      true,
    );
    [out.gate, out.up] = group([lw.gate, lw.up], D, [`${p}mlp.gate_proj.weight`, `${p}mlp.up_proj.weight`]);
    for (const key of MATRIX_KEYS) {
      const src = lw[key];
      const rowWidth = key === 'o' ? c.numHeads * c.headDim : c.intermediateSize;
      out[key] = matrix(src, rowWidth, `${p}${key}`);
    }
    out.inputNorm = vector(lw.inputNorm, `${p}input_layernorm.weight`);
    out.postNorm = vector(lw.postNorm, `${p}post_attention_layernorm.weight`);
    return out;
  });
  const finalNorm = vector(w.finalNorm, 'model.norm.weight');
  const lmHead = c.tieWordEmbeddings ? embed : matrix(w.lmHead, D, 'lm_head.weight');
  const weights: ModelWeights<GpuTensor> = { embed, layers, finalNorm, lmHead };
  return { model: { config: c, weights }, report };
}

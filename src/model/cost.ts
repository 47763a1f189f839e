// What a learner step costs, on paper: FLOPs and bytes moved per kernel call, calls per step, and
// the GPU memory the step needs. Used by the roofline table (tools/roofline.ts), by
// bench:gpu-learner to turn times into achieved TFLOP/s, and by `check` to compare the memory a run
// needs with what the device has. Counts follow the model code (src/model/train.ts, layer.ts,
// layer-backward.ts): the backward never forms base-weight gradients, only activation gradients
// and the LoRA ones; attention is flash-style (the backward recomputes the probabilities).
import type { Qwen2Config } from './config.js';
import { LORA_MODULES, moduleDims, type LoraModule } from './lora.js';

export interface StepShape {
  config: Qwen2Config;
  /** Completions per optimizer step, and their prompt and completion lengths (tokens). */
  sequences: number;
  promptLength: number;
  completionLength: number;
  /** Sequences per micro-batch (the learner processes one micro-batch at a time). */
  microBatchSequences: number;
  loraR: number;
  loraModules: readonly LoraModule[];
  /** Bytes per stored base-weight element (2 for f16, 4 for f32). */
  weightBytes: number;
  /** Reference pass (beta ≠ 0). */
  reference: boolean;
  /** Per-layer recomputation in the backward. */
  recompute: boolean;
}

export interface KernelCost {
  kernel: string;
  /** FLOPs and bytes of one call (one micro-batch, one layer where per layer). */
  flops: number;
  bytes: number;
  callsPerStep: number;
  /** Whether the FLOPs can run on tensor cores (matrix products) or not. */
  matrix: boolean;
}

const F32 = 4;

/** The counts every kernel's cost is built from. */
interface StepCounts {
  s: StepShape;
  /** Tokens per micro-batch, and the scored (completion) ones among them. */
  rows: number;
  scored: number;
  /** Micro-batches per step. */
  micro: number;
  /** Tokens per sequence. */
  T: number;
  L: number;
  /** Forward passes per step that run the layers: reference (adapter off) + policy + recomputation. */
  layerForwards: number;
}

/** Every kernel of one optimizer step, with its per-call cost and call count. */
export function learnerStepCosts(s: StepShape): KernelCost[] {
  const T = s.promptLength + s.completionLength;
  const n: StepCounts = {
    s,
    rows: s.microBatchSequences * T,
    scored: s.microBatchSequences * s.completionLength,
    micro: Math.ceil(s.sequences / s.microBatchSequences),
    T,
    L: s.config.numLayers,
    layerForwards: (s.reference ? 1 : 0) + 1 + (s.recompute ? 1 : 0),
  };
  const optimizer = loraParams(s);
  return [
    ...LORA_MODULES.flatMap((m) => projectionCosts(n, m)),
    ...attentionCosts(n),
    ...elementwiseCosts(n),
    ...lmHeadCosts(n),
    { kernel: 'grad norm + AdamW', flops: 16 * optimizer, bytes: 7 * optimizer * F32, callsPerStep: 1, matrix: false },
  ];
}

/** One projection's base product forward and backward, and its LoRA side path where it has one. */
function projectionCosts({ s, rows, micro, L, layerForwards }: StepCounts, m: LoraModule): KernelCost[] {
  const [o, i] = moduleDims(s.config, m);
  const r = s.loraR;
  const weight = o * i * s.weightBytes;
  const out: KernelCost[] = [
    {
      kernel: `${m} forward (x·Wᵀ)`,
      flops: 2 * rows * o * i,
      bytes: weight + rows * (i + o) * F32,
      callsPerStep: L * micro * layerForwards,
      matrix: true,
    },
    {
      kernel: `${m} backward (dy·W)`,
      flops: 2 * rows * o * i,
      bytes: weight + rows * (i + o) * F32,
      callsPerStep: L * micro,
      matrix: true,
    },
  ];
  if (!s.loraModules.includes(m)) return out;
  const loraForwards = 1 + (s.recompute ? 1 : 0);
  // forward: x·Aᵀ [rows,r], then (·)·Bᵀ; backward: dB = dyᵀ·us, dz = dy·B, dA = dzᵀ·x, dx += dz·A
  out.push(
    {
      kernel: `${m} LoRA forward`,
      flops: 2 * rows * r * (i + o),
      bytes: rows * (i + o + 2 * r) * F32 + r * (i + o) * F32,
      callsPerStep: L * micro * loraForwards,
      matrix: true,
    },
    {
      kernel: `${m} LoRA backward`,
      flops: 4 * rows * r * (i + o),
      bytes: rows * (2 * i + 2 * o + 4 * r) * F32 + 2 * r * (i + o) * F32,
      callsPerStep: L * micro,
      matrix: true,
    },
  );
  return out;
}

/** Causal attention: QKᵀ and P·V over on average (T+1)/2 keys per query, per q head. */
function attentionCosts({ s, rows, micro, T, L, layerForwards }: StepCounts): KernelCost[] {
  const c = s.config;
  const attnFlops = 4 * rows * c.numHeads * c.headDim * ((T + 1) / 2);
  const qkvBytes = rows * (2 * c.numHeads + 2 * c.numKvHeads) * c.headDim * F32;
  return [
    {
      kernel: 'attention forward (flash)',
      flops: attnFlops,
      bytes: qkvBytes + rows * c.numHeads * F32,
      callsPerStep: L * micro * layerForwards,
      matrix: true,
    },
    // Backward: recompute S = QKᵀ, dP = dO·Vᵀ, dV = Pᵀ·dO, dQ = dS·K, dK = dSᵀ·Q.
    {
      kernel: 'attention backward (flash)',
      flops: 2.5 * attnFlops,
      bytes: 2 * qkvBytes + rows * 2 * c.numHeads * c.headDim * F32,
      callsPerStep: L * micro,
      matrix: true,
    },
  ];
}

/** The row-wise kernels: norms, RoPE, SwiGLU, residual adds. */
function elementwiseCosts({ s, rows, micro, L, layerForwards }: StepCounts): KernelCost[] {
  const c = s.config,
    D = c.hiddenSize,
    I = c.intermediateSize,
    qk = (c.numHeads + c.numKvHeads) * c.headDim;
  const elem = (kernel: string, floatsPerRow: number, flopsPerRow: number, calls: number): KernelCost => ({
    kernel,
    flops: rows * flopsPerRow,
    bytes: rows * floatsPerRow * F32,
    callsPerStep: calls,
    matrix: false,
  });
  return [
    elem('rmsnorm forward', 2 * D + 1, 4 * D, 2 * L * micro * layerForwards),
    elem('rmsnorm backward', 4 * D + 1, 8 * D, 2 * L * micro),
    elem('RoPE (q and k)', 2 * qk, 3 * qk, L * micro * (layerForwards + 1)),
    elem('SwiGLU forward', 3 * I, 6 * I, L * micro * layerForwards),
    elem('SwiGLU backward', 5 * I, 12 * I, L * micro),
    elem('residual adds', 6 * D, 2 * D, L * micro * (layerForwards + 1)),
  ];
}

/** The LM head on the scored rows only, recomputed chunk by chunk in the backward. */
function lmHeadCosts({ s, scored, micro }: StepCounts): KernelCost[] {
  const D = s.config.hiddenSize,
    V = s.config.vocabSize;
  const headWeight = V * D * s.weightBytes;
  return [
    {
      kernel: 'LM head + log-softmax forward',
      flops: 2 * scored * D * V + 4 * scored * V,
      bytes: headWeight + scored * (D + 2) * F32,
      callsPerStep: micro * ((s.reference ? 1 : 0) + 1),
      matrix: true,
    },
    {
      kernel: 'LM head backward (recompute + dlogits·W)',
      flops: 4 * scored * D * V + 6 * scored * V,
      bytes: 2 * headWeight + 2 * scored * D * F32,
      callsPerStep: micro,
      matrix: true,
    },
  ];
}

export function loraParams(s: Pick<StepShape, 'config' | 'loraR' | 'loraModules'>): number {
  let n = 0;
  for (const m of s.loraModules) {
    const [o, i] = moduleDims(s.config, m);
    n += s.loraR * (o + i);
  }
  return n * s.config.numLayers;
}

export function baseParams(c: Qwen2Config): number {
  const D = c.hiddenSize;
  let perLayer = 2 * D + (c.numHeads + 2 * c.numKvHeads) * c.headDim; // two norms, q/k/v biases
  for (const m of LORA_MODULES) {
    const [o, i] = moduleDims(c, m);
    perLayer += o * i;
  }
  return c.vocabSize * D * (c.tieWordEmbeddings ? 1 : 2) + D + c.numLayers * perLayer;
}

export interface MemoryEstimate {
  weights: number;
  /** LoRA params, gradient and two AdamW moments. */
  lora: number;
  /** Activations kept across the micro-batch's forward (saved layers, or layer inputs). */
  activations: number;
  /** The largest transient working set (one layer's backward, or one LM-head chunk). */
  working: number;
  total: number;
}

/** Floats per token row that one layer's forward keeps (LayerBuffers in layer.ts). */
export function layerFloatsPerRow(c: Qwen2Config, r: number, modules: readonly LoraModule[], dropout: boolean): number {
  const D = c.hiddenSize,
    Q = c.numHeads * c.headDim,
    KV = c.numKvHeads * c.headDim,
    I = c.intermediateSize;
  let n = 6 * D + 2 * Q + 2 * KV + c.numHeads + 2 + 3 * I;
  for (const m of modules) n += r + (dropout ? 2 * moduleDims(c, m)[1] : 0);
  return n;
}

/**
 * GPU memory for one learner step: weights + LoRA state + the largest micro-batch's activations
 * + the largest transient set. `chunkLogitsBytes` is the LM head's per-chunk logits budget.
 */
export function learnerMemory(s: StepShape, opts: { dropout: boolean; chunkLogitsBytes: number }): MemoryEstimate {
  const c = s.config,
    D = c.hiddenSize,
    I = c.intermediateSize;
  const rows = s.microBatchSequences * (s.promptLength + s.completionLength);
  const scored = s.microBatchSequences * s.completionLength;
  const weights = baseParams(c) * s.weightBytes;
  const lora = 4 * loraParams(s) * F32;
  const perLayer = layerFloatsPerRow(c, s.loraR, s.loraModules, opts.dropout);
  const activations =
    (s.recompute ? c.numLayers * D + perLayer : c.numLayers * perLayer) * rows * F32 + scored * (2 * D + 4) * F32;
  // One layer's backward: da, dg, du (3I), dxn, dattn, dq, dk, dv, dz, dh, plus the recomputed layer.
  const backward = (3 * I + 4 * D + 2 * c.numHeads * c.headDim + 2 * c.numKvHeads * c.headDim + s.loraR) * rows * F32;
  const working = Math.max(backward, opts.chunkLogitsBytes + scored * 2 * D * F32);
  return { weights, lora, activations, working, total: weights + lora + activations + working };
}

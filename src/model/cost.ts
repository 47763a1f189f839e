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

/** Every kernel of one optimizer step, with its per-call cost and call count. */
export function learnerStepCosts(s: StepShape): KernelCost[] {
  const c = s.config,
    D = c.hiddenSize,
    H = c.numHeads,
    hd = c.headDim,
    I = c.intermediateSize,
    V = c.vocabSize;
  const T = s.promptLength + s.completionLength;
  const rows = s.microBatchSequences * T; // tokens per micro-batch
  const scored = s.microBatchSequences * s.completionLength;
  const micro = Math.ceil(s.sequences / s.microBatchSequences);
  const L = c.numLayers,
    r = s.loraR;
  // Forward passes per step that run the layers: reference (adapter off) + policy + recomputation.
  const layerForwards = (s.reference ? 1 : 0) + 1 + (s.recompute ? 1 : 0);
  const out: KernelCost[] = [];
  for (const m of LORA_MODULES) {
    const [o, i] = moduleDims(c, m);
    const weight = o * i * s.weightBytes;
    out.push({
      kernel: `${m} forward (x·Wᵀ)`,
      flops: 2 * rows * o * i,
      bytes: weight + rows * (i + o) * F32,
      callsPerStep: L * micro * layerForwards,
      matrix: true,
    });
    out.push({
      kernel: `${m} backward (dy·W)`,
      flops: 2 * rows * o * i,
      bytes: weight + rows * (i + o) * F32,
      callsPerStep: L * micro,
      matrix: true,
    });
    if (s.loraModules.includes(m)) {
      const loraForwards = 1 + (s.recompute ? 1 : 0);
      // forward: x·Aᵀ [rows,r], then (·)·Bᵀ; backward: dB = dyᵀ·us, dz = dy·B, dA = dzᵀ·x, dx += dz·A
      out.push({
        kernel: `${m} LoRA forward`,
        flops: 2 * rows * r * (i + o),
        bytes: rows * (i + o + 2 * r) * F32 + r * (i + o) * F32,
        callsPerStep: L * micro * loraForwards,
        matrix: true,
      });
      out.push({
        kernel: `${m} LoRA backward`,
        flops: 4 * rows * r * (i + o),
        bytes: rows * (2 * i + 2 * o + 4 * r) * F32 + 2 * r * (i + o) * F32,
        callsPerStep: L * micro,
        matrix: true,
      });
    }
  }
  // Causal attention: QKᵀ and P·V over on average (T+1)/2 keys per query, per q head.
  const avgKeys = (T + 1) / 2;
  const attnFlops = 4 * rows * H * hd * avgKeys;
  const qkvBytes = rows * (2 * H + 2 * c.numKvHeads) * hd * F32;
  out.push({
    kernel: 'attention forward (flash)',
    flops: attnFlops,
    bytes: qkvBytes + rows * H * F32,
    callsPerStep: L * micro * layerForwards,
    matrix: true,
  });
  // Backward: recompute S = QKᵀ, dP = dO·Vᵀ, dV = Pᵀ·dO, dQ = dS·K, dK = dSᵀ·Q.
  out.push({
    kernel: 'attention backward (flash)',
    flops: 2.5 * attnFlops,
    bytes: 2 * qkvBytes + rows * 2 * H * hd * F32,
    callsPerStep: L * micro,
    matrix: true,
  });
  const elem = (kernel: string, floatsPerRow: number, flopsPerRow: number, calls: number): void => {
    out.push({
      kernel,
      flops: rows * flopsPerRow,
      bytes: rows * floatsPerRow * F32,
      callsPerStep: calls,
      matrix: false,
    });
  };
  elem('rmsnorm forward', 2 * D + 1, 4 * D, 2 * L * micro * layerForwards);
  elem('rmsnorm backward', 4 * D + 1, 8 * D, 2 * L * micro);
  elem('RoPE (q and k)', 2 * (H + c.numKvHeads) * hd, 3 * (H + c.numKvHeads) * hd, L * micro * (layerForwards + 1));
  elem('SwiGLU forward', 3 * I, 6 * I, L * micro * layerForwards);
  elem('SwiGLU backward', 5 * I, 12 * I, L * micro);
  elem('residual adds', 6 * D, 2 * D, L * micro * (layerForwards + 1));
  // LM head on the scored rows only, recomputed chunk by chunk in the backward.
  const headWeight = V * D * s.weightBytes;
  const headForwards = (s.reference ? 1 : 0) + 1;
  out.push({
    kernel: 'LM head + log-softmax forward',
    flops: 2 * scored * D * V + 4 * scored * V,
    bytes: headWeight + scored * (D + 2) * F32,
    callsPerStep: micro * headForwards,
    matrix: true,
  });
  out.push({
    kernel: 'LM head backward (recompute + dlogits·W)',
    flops: 4 * scored * D * V + 6 * scored * V,
    bytes: 2 * headWeight + 2 * scored * D * F32,
    callsPerStep: micro,
    matrix: true,
  });
  const n = loraParams(s);
  out.push({ kernel: 'grad norm + AdamW', flops: 16 * n, bytes: 7 * n * F32, callsPerStep: 1, matrix: false });
  return out;
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

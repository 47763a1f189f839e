// One decode step of the webgpu engine on paper: B sequences each add one token at context L.
// Bytes moved per step (what bounds decoding): every base matrix once (the LM head included; the
// input embedding is a B-row gather), the LoRA block once (f32, applied unmerged), the KV cache of
// every sequence (read L rows, write one, per layer, K and V), and the logits (written by the LM
// head, then read and rewritten by the sampler: max pass, exp pass into the probability row, the
// kept-mass and draw passes; 6 × B × vocab × 4 bytes). FLOPs: 2 per weight per token (base + LoRA),
// and 4·L·heads·headDim per token per layer of attention. The step takes at least
// max(bytes / bandwidth, FLOPs / peak); tokens/s = B / that.
import type { Qwen2Config } from './config.js';
import { LORA_MODULES, moduleDims } from './lora.js';

export interface DecodeShape {
  batch: number;
  /** Context (keys) per sequence at this step. */
  context: number;
  /** Bytes per base weight (2: f16, 4: f32). */
  weightBytes: number;
  /** Bytes per cached key/value element. */
  kvBytes: number;
  /** LoRA rank on all seven modules (0: none). */
  loraR: number;
}

export interface DecodeCost {
  weightBytes: number;
  loraBytes: number;
  kvBytes: number;
  logitBytes: number;
  totalBytes: number;
  flops: number;
  /** Bytes per generated token (totalBytes / batch). */
  bytesPerToken: number;
  /** max(bytes / bandwidth, flops / f32 peak): the portable kernels' f32 arithmetic. */
  stepS: number;
  tokensPerS: number;
  /** Time of the bytes alone and of the FLOPs alone at f32, f16 (non-tensor) and bf16 tensor peaks. */
  memoryS: number;
  computeF32S: number;
  computeF16S: number;
  computeTensorS: number;
}

export interface Peaks {
  f32: number;
  f16NonTensor: number;
  bf16Tensor: number;
  bytesPerS: number;
}

export function decodeCost(c: Qwen2Config, s: DecodeShape, peaks: Peaks): DecodeCost {
  const D = c.hiddenSize,
    V = c.vocabSize,
    L = c.numLayers,
    B = s.batch;
  let matrices = 0,
    lora = 0;
  for (const m of LORA_MODULES) {
    const [o, i] = moduleDims(c, m);
    matrices += o * i;
    lora += s.loraR * (o + i);
  }
  matrices = L * matrices + V * D; // + LM head (tied or not, it is read once per step)
  lora *= L;
  const kvWidth = c.numKvHeads * c.headDim;
  const weightBytes = matrices * s.weightBytes + B * D * s.weightBytes;
  const loraBytes = lora * 4;
  const kvBytes = B * L * 2 * kvWidth * s.kvBytes * (s.context + 1);
  const logitBytes = 6 * B * V * 4;
  const totalBytes = weightBytes + loraBytes + kvBytes + logitBytes;
  const flops = 2 * B * (matrices + lora) + 4 * B * L * s.context * c.numHeads * c.headDim;
  const memoryS = totalBytes / peaks.bytesPerS;
  const computeF32S = flops / peaks.f32;
  const stepS = Math.max(memoryS, computeF32S);
  return {
    weightBytes,
    loraBytes,
    kvBytes,
    logitBytes,
    totalBytes,
    flops,
    bytesPerToken: totalBytes / B,
    stepS,
    tokensPerS: B / stepS,
    memoryS,
    computeF32S,
    computeF16S: flops / peaks.f16NonTensor,
    computeTensorS: flops / peaks.bf16Tensor,
  };
}

/** decodeCost's step bound for a bench row. */
export function decodeRoofline(c: Qwen2Config, s: DecodeShape, peaks: Peaks): { tokensPerS: number; stepS: number } {
  const d = decodeCost(c, s, peaks);
  return { tokensPerS: d.tokensPerS, stepS: d.stepS };
}

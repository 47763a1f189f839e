// Where the learner's arithmetic runs: the policy/reference forward, the backward into the LoRA
// block and the optimizer step, behind one interface with a cpu and a webgpu implementation.
// The learner actor (actors/learner.ts) keeps the authoritative host copies of the adapter and the
// AdamW moments (checkpoints, crash recovery and the WeightStore read them); a device that holds
// its own copy (the GPU) loads them with loadState and writes them back after every update.
import type { Model } from '../model/weights.js';
import type { LoraAdapter } from '../model/lora.js';
import { backwardScored, forwardScored, type TrainBatch } from '../model/train.js';
import { cpuOps } from '../ops/cpu/index.js';
import type { FloatArray } from '../ops/types.js';
import type { Rng } from '../util/rng.js';
import { scoreRows, truncationActive, type TruncationOptions } from './token-distribution.js';
import { optimizerStep, type AdamWHyperparams, type AdamWState, type OptimizerStepReport } from './optimizer.js';

export type LearnerDeviceKind = 'cpu' | 'webgpu';

export interface ScoredLogprobs {
  /** Log-prob of each scored token, in (sequence, position) order. */
  lp: Float32Array;
  /** Entropy of each scored position's distribution (when asked for). */
  entropy: Float32Array | null;
  /** Flat [B·T] index of each scored token. */
  scoredFlat: Int32Array;
  /** Top-p/top-k: sampled tokens outside the learner's kept set (token-distribution.ts). */
  outside?: number;
}

export interface PolicyForward extends ScoredLogprobs {
  /** Accumulates ∂L/∂(LoRA) from ∂L/∂lp (scored order) into the device's gradient; frees the activations. */
  backward(dlp: Float32Array): Promise<void>;
  /** Frees the activations without a backward. */
  discard(): void;
}

export interface ScoreOptions {
  temperature: number;
  entropy?: boolean;
  /** Score under the top-k/top-p truncated, renormalised distribution (cpu only; see token-distribution.ts). */
  truncation?: TruncationOptions;
}

export interface LearnerDevice {
  readonly kind: LearnerDeviceKind;
  /** One line: device, adapter, weight storage. */
  readonly description: string;
  /** Log-probs without keeping activations; scale 0 is the reference policy (adapter off). */
  logprobs(batch: TrainBatch, scale: number, o: ScoreOptions): Promise<ScoredLogprobs>;
  /** Policy forward keeping what the backward needs; LoRA dropout draws from `dropoutRng`. */
  forward(batch: TrainBatch, scale: number, o: ScoreOptions, dropoutRng: Rng | null): Promise<PolicyForward>;
  zeroGrad(): void;
  /** Clip + AdamW; the host params and state are updated. Throws on a non-finite grad norm. */
  optimizerStep(state: AdamWState, hp: AdamWHyperparams, lr: number): Promise<OptimizerStepReport>;
  /** The host adapter or optimizer state changed (restore): copy them to the device. */
  loadState(state: AdamWState): void;
  /** Peak device memory in bytes since the last call (null on the cpu). */
  takePeakBytes(): number | null;
  /** GPU devices: time every kernel until `stop` (rows largest first). For benchmarks, not training. */
  profileKernels?(): { stop(): Promise<{ kernel: string; calls: number; ms: number; share: number }[]> };
  dispose(): void;
}

/** The cpu device: the model code on cpuOps over the host arrays themselves. */
export function createCpuLearnerDevice(model: Model<Float32Array>, adapter: LoraAdapter<Float32Array>): LearnerDevice {
  const grad = new Float32Array(adapter.params.length);
  const V = model.config.vocabSize;
  const run = (batch: TrainBatch, scale: number, o: ScoreOptions, save: boolean, dropoutRng: Rng | null) => {
    const truncating = !!o.truncation && truncationActive(o.truncation, V);
    const r = forwardScored<FloatArray>(model, adapter, scale, batch, cpuOps, {
      temperature: o.temperature,
      entropy: o.entropy,
      saveForBackward: save,
      keepLogits: truncating,
      ...(dropoutRng && adapter.settings.dropout > 0 ? { dropoutRng } : {}),
    });
    if (!truncating) return { ...r, outside: 0 };
    // Log-probs, entropies and (for the backward) the kept set's lse and logits of the truncated distribution.
    const M = r.scoredFlat.length;
    const rows = scoreRows(
      {
        logits: r.logits as Float32Array,
        targets: batchTargets(batch, r.scoredFlat),
        rows: M,
        vocab: V,
        invTemp: 1 / o.temperature,
      },
      o.truncation!,
      save,
    );
    (r.lp as Float32Array).set(rows.logp);
    if (r.entropy) (r.entropy as Float32Array).set(rows.entropy);
    if (r.saved) {
      (r.saved.lse as Float32Array).set(rows.lse);
      r.saved.keptLogits = r.logits;
    }
    return { ...r, outside: rows.outside };
  };
  return {
    kind: 'cpu',
    description: 'cpu',
    async logprobs(batch, scale, o) {
      const r = run(batch, scale, o, false, null);
      return {
        lp: r.lp as Float32Array,
        entropy: r.entropy as Float32Array | null,
        scoredFlat: r.scoredFlat,
        outside: r.outside,
      };
    },
    async forward(batch, scale, o, dropoutRng) {
      const r = run(batch, scale, o, true, dropoutRng);
      return {
        lp: r.lp as Float32Array,
        entropy: r.entropy as Float32Array | null,
        scoredFlat: r.scoredFlat,
        outside: r.outside,
        backward: async (dlp) => backwardScored<FloatArray>(r.saved!, dlp, { lora: grad }),
        discard: () => {},
      };
    },
    zeroGrad: () => grad.fill(0),
    optimizerStep: async (state, hp, lr) => optimizerStep(adapter.params, grad, state, hp, lr),
    loadState: () => {},
    takePeakBytes: () => null,
    dispose: () => {},
  };
}

/** The token each scored flat [B·T] position predicts: ids at the next position. */
function batchTargets(batch: TrainBatch, scoredFlat: Int32Array): Int32Array {
  const out = new Int32Array(scoredFlat.length);
  for (let k = 0; k < out.length; k++) out[k] = batch.ids[scoredFlat[k]!]!;
  return out;
}

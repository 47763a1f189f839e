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
import { optimizerStep, type AdamWHyperparams, type AdamWState, type OptimizerStepReport } from './optimizer.js';

export type LearnerDeviceKind = 'cpu' | 'webgpu';

export interface ScoredLogprobs {
  /** Log-prob of each scored token, in (sequence, position) order. */
  lp: Float32Array;
  /** Entropy of each scored position's distribution (when asked for). */
  entropy: Float32Array | null;
  /** Flat [B·T] index of each scored token. */
  scoredFlat: Int32Array;
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
  const run = (batch: TrainBatch, scale: number, o: ScoreOptions, save: boolean, dropoutRng: Rng | null) =>
    forwardScored<FloatArray>(model, adapter, scale, batch, cpuOps, {
      temperature: o.temperature, entropy: o.entropy, saveForBackward: save, ...(dropoutRng && adapter.settings.dropout > 0 ? { dropoutRng } : {}),
    });
  return {
    kind: 'cpu',
    description: 'cpu',
    async logprobs(batch, scale, o) {
      const r = run(batch, scale, o, false, null);
      return { lp: r.lp as Float32Array, entropy: r.entropy as Float32Array | null, scoredFlat: r.scoredFlat };
    },
    async forward(batch, scale, o, dropoutRng) {
      const r = run(batch, scale, o, true, dropoutRng);
      return {
        lp: r.lp as Float32Array, entropy: r.entropy as Float32Array | null, scoredFlat: r.scoredFlat,
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

// Supervised (next-token cross-entropy) training with full-parameter gradients through the same
// kernels as the learner: how loractor makes its own tiny model from scratch. Loss on completion
// tokens only (the prompt is context), token mean over the batch.
import { backwardTrain, forwardTrain, type TrainBatch } from '../model/train.js';
import { buildWeights, weightEntries, weightSpecs, numel, type Model } from '../model/weights.js';
import { adamwStep } from '../ops/cpu/adamw.js';
import { clipGradNorm } from '../rl/optimizer.js';

export interface SupervisedExampleIds {
  prompt: number[];
  /** Completion ids including the final EOS. */
  completion: number[];
}

export interface FullParamOptimizer {
  /** Flat views in weightSpecs order; `decay` says which get weight decay (matrices, not norms/biases). */
  tensors: { name: string; grad: Float32Array; m: Float32Array; v: Float32Array; decay: boolean }[];
  flatGrad: Float32Array;
  step: number;
}

export function createFullParamOptimizer(model: Model<Float32Array>): FullParamOptimizer {
  const c = model.config;
  const total = weightSpecs(c).reduce((s, t) => s + numel(t.shape), 0);
  const flatGrad = new Float32Array(total);
  const m = new Float32Array(total);
  const v = new Float32Array(total);
  const shapes = new Map(weightSpecs(c).map((s) => [s.name, s.shape]));
  let off = 0;
  const tensors: FullParamOptimizer['tensors'] = [];
  for (const [name] of weightEntries(c, model.weights)) {
    const n = numel(shapes.get(name)!);
    tensors.push({
      name,
      grad: flatGrad.subarray(off, off + n),
      m: m.subarray(off, off + n),
      v: v.subarray(off, off + n),
      decay: shapes.get(name)!.length === 2,
    });
    off += n;
  }
  return { tensors, flatGrad, step: 0 };
}

/** Right-padded batch: prompt then completion; scoring starts at the first completion token. */
export function makeBatch(examples: SupervisedExampleIds[], padId: number): TrainBatch {
  const B = examples.length;
  const T = Math.max(...examples.map((e) => e.prompt.length + e.completion.length));
  const ids = new Int32Array(B * T).fill(padId);
  const lengths = new Int32Array(B);
  const scoreFrom = new Int32Array(B);
  examples.forEach((e, b) => {
    ids.set(e.prompt, b * T);
    ids.set(e.completion, b * T + e.prompt.length);
    lengths[b] = e.prompt.length + e.completion.length;
    scoreFrom[b] = e.prompt.length;
  });
  return { ids, lengths, seqLen: T, scoreFrom };
}

export interface SupervisedStepResult {
  loss: number;
  gradNorm: number;
  tokens: number;
}

/** One full-parameter AdamW step on a batch. */
export function supervisedStep(
  model: Model<Float32Array>,
  opt: FullParamOptimizer,
  batch: TrainBatch,
  hp: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; maxGradNorm: number },
): SupervisedStepResult {
  const { logp, saved } = forwardTrain(model, null, 0, batch, { saveForBackward: true });
  const B = batch.lengths.length,
    T = batch.seqLen;
  let tokens = 0;
  for (let b = 0; b < B; b++) tokens += batch.lengths[b]! - batch.scoreFrom[b]!;
  const dLogp = new Float32Array(B * T);
  let sum = 0;
  for (let b = 0; b < B; b++) {
    for (let t = batch.scoreFrom[b]!; t < batch.lengths[b]!; t++) {
      sum += logp[b * T + t]!;
      dLogp[b * T + t] = -1 / tokens;
    }
  }
  opt.flatGrad.fill(0);
  // Gradient views laid out exactly like the optimizer's flat buffer (tied lm_head = embed).
  let off = 0;
  const grads = buildWeights(model.config, (_n, size) => {
    const a = opt.flatGrad.subarray(off, off + size);
    off += size;
    return a;
  });
  backwardTrain(saved!, dLogp, { base: grads });
  const gradNorm = clipGradNorm(opt.flatGrad, hp.maxGradNorm);
  if (!Number.isFinite(gradNorm)) throw new Error(`supervised step ${opt.step + 1}: grad norm is ${gradNorm}`);
  opt.step++;
  const params = new Map(weightEntries(model.config, model.weights));
  for (const t of opt.tensors) {
    adamwStep(
      params.get(t.name)!,
      t.grad,
      t.m,
      t.v,
      hp.lr,
      hp.beta1,
      hp.beta2,
      hp.eps,
      t.decay ? hp.weightDecay : 0,
      opt.step,
    );
  }
  return { loss: -sum / tokens, gradNorm, tokens };
}

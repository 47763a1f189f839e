// AdamW over the flat LoRA parameter vector, with the pieces a training step needs around it:
// gradient accumulation, global grad-norm clipping (torch.nn.utils.clip_grad_norm_ semantics), and
// an optimizer state that serialises byte-exactly for checkpoints (resume must be bit-identical).
import { adamwStep } from '../ops/cpu/adamw.js';

export interface AdamWHyperparams {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Global grad-norm clip; ≤ 0 or Infinity disables clipping (the norm is still measured). */
  maxGradNorm: number;
}

/** HF TrainingArguments defaults (adam_beta1/2, adam_epsilon, weight_decay, max_grad_norm). */
export const DEFAULT_ADAMW: AdamWHyperparams = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 };

export interface AdamWState {
  /** Updates applied so far (torch state['step']). */
  step: number;
  /** First moment (exp_avg). */
  m: Float32Array;
  /** Second moment (exp_avg_sq). */
  v: Float32Array;
}

export function createAdamWState(numParams: number): AdamWState {
  if (!Number.isInteger(numParams) || numParams < 0)
    throw new Error(`numParams: must be a non-negative integer, got ${numParams}`);
  return { step: 0, m: new Float32Array(numParams), v: new Float32Array(numParams) };
}

// Byte layout (little-endian): magic "LXAW" | u32 format version | f64 step | u32 n | u32 pad |
// n × f32 m | n × f32 v. 24-byte header keeps the float arrays 4-byte aligned.
const MAGIC = 0x5741584c; // "LXAW" read as little-endian u32
const FORMAT_VERSION = 1;
const HEADER_BYTES = 24;

export function serializeAdamWState(state: AdamWState): Uint8Array {
  const n = state.m.length;
  if (state.v.length !== n) throw new Error(`AdamW state: m has ${n} entries but v has ${state.v.length}`);
  const bytes = new Uint8Array(HEADER_BYTES + 8 * n);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, FORMAT_VERSION, true);
  view.setFloat64(8, state.step, true);
  view.setUint32(16, n, true);
  for (let i = 0; i < n; i++) {
    view.setFloat32(HEADER_BYTES + 4 * i, state.m[i]!, true);
    view.setFloat32(HEADER_BYTES + 4 * (n + i), state.v[i]!, true);
  }
  return bytes;
}

export function deserializeAdamWState(bytes: Uint8Array, source = 'optimizer state'): AdamWState {
  if (bytes.length < HEADER_BYTES)
    throw new Error(`${source}: ${bytes.length} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw new Error(`${source}: not a loractor AdamW state (bad magic)`);
  const version = view.getUint32(4, true);
  if (version !== FORMAT_VERSION)
    throw new Error(`${source}: format version ${version}, this build reads ${FORMAT_VERSION}`);
  const step = view.getFloat64(8, true);
  const n = view.getUint32(16, true);
  if (bytes.length !== HEADER_BYTES + 8 * n)
    throw new Error(`${source}: ${bytes.length} bytes, expected ${HEADER_BYTES + 8 * n} for ${n} parameters`);
  if (!Number.isInteger(step) || step < 0) throw new Error(`${source}: step ${step} is not a non-negative integer`);
  const state = createAdamWState(n);
  state.step = step;
  for (let i = 0; i < n; i++) {
    state.m[i] = view.getFloat32(HEADER_BYTES + 4 * i, true);
    state.v[i] = view.getFloat32(HEADER_BYTES + 4 * (n + i), true);
  }
  return state;
}

/** L2 norm of all gradients together, accumulated in float64. */
export function globalGradNorm(grads: Float32Array | readonly Float32Array[]): number {
  const list = grads instanceof Float32Array ? [grads] : grads;
  let ss = 0;
  for (const g of list) for (let i = 0; i < g.length; i++) ss += g[i]! * g[i]!;
  return Math.sqrt(ss);
}

/**
 * Scale gradients in place so their global L2 norm is at most maxNorm (torch clip_grad_norm_:
 * coef = maxNorm / (norm + 1e-6), applied when < 1). Returns the pre-clip norm (TRL's grad_norm).
 * A non-finite norm is returned unchanged and the gradients are left alone; the caller decides.
 */
export function clipGradNorm(grads: Float32Array | readonly Float32Array[], maxNorm: number): number {
  const norm = globalGradNorm(grads);
  if (!Number.isFinite(norm) || !(maxNorm > 0) || maxNorm === Infinity) return norm;
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    const list = grads instanceof Float32Array ? [grads] : grads;
    for (const g of list) for (let i = 0; i < g.length; i++) g[i] = g[i]! * coef;
  }
  return norm;
}

/**
 * Sums micro-batch gradients into one buffer. The loss normalisers already divide by the whole
 * optimizer batch (see loss.ts `global`), so accumulation is a plain sum, not a mean.
 */
export interface GradAccumulator {
  grad: Float32Array;
  /** Micro-batches added since the last reset. */
  count: number;
  /** Micro-batches per optimizer step (gradient_accumulation_steps). */
  steps: number;
}

export function createGradAccumulator(numParams: number, steps: number): GradAccumulator {
  if (!Number.isInteger(steps) || steps < 1)
    throw new Error(`gradient_accumulation_steps: must be a positive integer, got ${steps}`);
  return { grad: new Float32Array(numParams), count: 0, steps };
}

/** Add one micro-batch gradient; returns true when the step's last micro-batch has arrived. */
export function accumulateGrad(acc: GradAccumulator, microGrad: Float32Array | Float64Array): boolean {
  if (microGrad.length !== acc.grad.length)
    throw new Error(`micro-batch gradient: length ${microGrad.length}, expected ${acc.grad.length}`);
  if (acc.count >= acc.steps)
    throw new Error(`gradient accumulator: already holds ${acc.steps} micro-batches; take the step first`);
  const g = acc.grad;
  for (let i = 0; i < g.length; i++) g[i] = g[i]! + microGrad[i]!;
  acc.count++;
  return acc.count === acc.steps;
}

export function resetGradAccumulator(acc: GradAccumulator): void {
  acc.grad.fill(0);
  acc.count = 0;
}

export interface OptimizerStepReport {
  /** Pre-clip global grad norm (TRL grad_norm). */
  gradNorm: number;
  /** Factor the gradients were scaled by (1 when not clipped). */
  clipCoef: number;
  /** Learning rate used for this update. */
  learningRate: number;
  /** state.step after the update. */
  step: number;
}

/**
 * How many parameters (or moments) the AdamW update would make non-finite in float32, computed with
 * adamwStep's own arithmetic without writing anything. Finite gradients can still overflow the update
 * (a huge learning rate): this is the guard that keeps NaN/Inf out of the adapter.
 */
export function adamwOverflowCount(
  param: Float32Array,
  grad: Float32Array,
  m: Float32Array,
  v: Float32Array,
  lr: number,
  hp: AdamWHyperparams,
  step: number,
): number {
  const decay = 1 - lr * hp.weightDecay;
  const stepSize = lr / (1 - Math.pow(hp.beta1, step));
  const bc2Sqrt = Math.sqrt(1 - Math.pow(hp.beta2, step));
  let bad = 0;
  for (let i = 0; i < param.length; i++) {
    const g = grad[i]!;
    const mi = Math.fround(hp.beta1 * m[i]! + (1 - hp.beta1) * g);
    const vi = Math.fround(hp.beta2 * v[i]! + (1 - hp.beta2) * g * g);
    const p = Math.fround(Math.fround(param[i]! * decay) - stepSize * (mi / (Math.sqrt(vi) / bc2Sqrt + hp.eps)));
    if (!Number.isFinite(p) || !Number.isFinite(mi) || !Number.isFinite(vi)) bad++;
  }
  return bad;
}

/**
 * One optimizer step: clip the (accumulated) gradient, then AdamW. Throws on a non-finite grad
 * norm, and on an update that would overflow the adapter or its moments, instead of writing NaN/Inf
 * (the caller skips the update and says so).
 */
export function optimizerStep(
  params: Float32Array,
  grad: Float32Array,
  state: AdamWState,
  hp: AdamWHyperparams,
  learningRate: number,
): OptimizerStepReport {
  if (params.length !== grad.length || params.length !== state.m.length) {
    throw new Error(
      `optimizerStep: params ${params.length}, grad ${grad.length}, state ${state.m.length} entries differ`,
    );
  }
  if (!(learningRate >= 0) || !Number.isFinite(learningRate))
    throw new Error(`learning_rate: must be finite and ≥ 0, got ${learningRate}`);
  const gradNorm = clipGradNorm(grad, hp.maxGradNorm);
  if (!Number.isFinite(gradNorm)) {
    throw new Error(`grad_norm is ${gradNorm} at optimizer step ${state.step + 1}: refusing to update the adapter`);
  }
  const clipCoef =
    hp.maxGradNorm > 0 && hp.maxGradNorm !== Infinity ? Math.min(1, hp.maxGradNorm / (gradNorm + 1e-6)) : 1;
  const overflow = adamwOverflowCount(params, grad, state.m, state.v, learningRate, hp, state.step + 1);
  if (overflow > 0) {
    throw new Error(
      `the update at optimizer step ${state.step + 1} would make ${overflow} of ${params.length} adapter values or moments non-finite (learning_rate ${learningRate}, grad_norm ${gradNorm}): refusing to update the adapter`,
    );
  }
  state.step += 1;
  adamwStep(params, grad, state.m, state.v, learningRate, hp.beta1, hp.beta2, hp.eps, hp.weightDecay, state.step);
  return { gradNorm, clipCoef, learningRate, step: state.step };
}

// AdamW update, torch.optim.AdamW semantics (single-tensor path, amsgrad=False, maximize=False):
//   param ← param · (1 − lr·wd)                      decoupled weight decay (Loshchilov & Hutter)
//   m ← β1·m + (1 − β1)·g ;  v ← β2·v + (1 − β2)·g²
//   param ← param − (lr / (1 − β1^step)) · m / (sqrt(v) / sqrt(1 − β2^step) + eps)
// `step` is the 1-based count of updates including this one (torch increments state.step first).
// Each stage is rounded to float32 (Math.fround) where torch materialises a float32 tensor (m, v,
// the decayed param), so results track torch's float32 arithmetic closely; no allocation.

export function adamwStep(
  param: Float32Array,
  grad: Float32Array,
  m: Float32Array,
  v: Float32Array,
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  weightDecay: number,
  step: number,
): void {
  const n = param.length;
  if (grad.length !== n || m.length !== n || v.length !== n) {
    throw new Error(`adamwStep: length mismatch (param ${n}, grad ${grad.length}, m ${m.length}, v ${v.length})`);
  }
  if (!Number.isInteger(step) || step < 1) throw new Error(`adamwStep: step must be an integer ≥ 1, got ${step}`);
  if (!(beta1 >= 0 && beta1 < 1)) throw new Error(`adamwStep: beta1 must be in [0, 1), got ${beta1}`);
  if (!(beta2 >= 0 && beta2 < 1)) throw new Error(`adamwStep: beta2 must be in [0, 1), got ${beta2}`);
  const decay = 1 - lr * weightDecay;
  const stepSize = lr / (1 - Math.pow(beta1, step));
  const bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, step));
  const oneMinusB1 = 1 - beta1;
  const oneMinusB2 = 1 - beta2;
  for (let i = 0; i < n; i++) {
    const g = grad[i]!;
    const mi = Math.fround(beta1 * m[i]! + oneMinusB1 * g);
    const vi = Math.fround(beta2 * v[i]! + oneMinusB2 * g * g);
    m[i] = mi;
    v[i] = vi;
    const denom = Math.sqrt(vi) / bc2Sqrt + eps;
    param[i] = Math.fround(param[i]! * decay) - stepSize * (mi / denom);
  }
}

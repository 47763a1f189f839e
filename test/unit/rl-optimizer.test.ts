// AdamW (torch semantics) against hand-computed steps and the textbook formula, grad-norm clipping,
// gradient accumulation, and byte-exact state serialisation for resume.
import t from 'tap';
import { adamwStep } from '../../src/ops/cpu/adamw.js';
import {
  accumulateGrad,
  clipGradNorm,
  createAdamWState,
  createGradAccumulator,
  deserializeAdamWState,
  globalGradNorm,
  optimizerStep,
  resetGradAccumulator,
  serializeAdamWState,
  DEFAULT_ADAMW,
} from '../../src/rl/optimizer.js';
import { Rng } from '../../src/util/rng.js';

t.test('adamwStep: two steps by hand', async (t) => {
  const p = Float32Array.of(1),
    m = new Float32Array(1),
    v = new Float32Array(1);
  // Step 1: lr 0.1, β1 0.9, β2 0.999, eps 1e-8, wd 0.01, g = 0.5.
  //   decay: 1·(1 − 0.1·0.01) = 0.999
  //   m = 0.1·0.5 = 0.05;  v = 0.001·0.25 = 0.00025
  //   m̂ = 0.05/(1 − 0.9) = 0.5;  v̂ = 0.00025/(1 − 0.999) = 0.25;  sqrt(v̂) = 0.5
  //   p = 0.999 − 0.1·0.5/(0.5 + 1e-8) = 0.999 − 0.099999998 = 0.899000002
  adamwStep(p, Float32Array.of(0.5), m, v, 0.1, 0.9, 0.999, 1e-8, 0.01, 1);
  // m and v are stored as float32 (relative rounding ≈ 6e-8).
  t.ok(Math.abs(m[0]! / 0.05 - 1) < 1e-7 && Math.abs(v[0]! / 0.00025 - 1) < 1e-7, `moments ${m[0]} ${v[0]}`);
  t.ok(Math.abs(p[0]! - 0.899000002) < 1e-7, `step 1 param ${p[0]}`);
  // Step 2: g = −0.25.
  //   decay: 0.899·0.999 = 0.898101
  //   m = 0.9·0.05 − 0.1·0.25 = 0.02;  v = 0.999·0.00025 + 0.001·0.0625 = 0.00031225
  //   m̂ = 0.02/0.19 = 0.105263158;  v̂ = 0.00031225/0.001999 = 0.156203102, sqrt = 0.395225382
  //   p = 0.898101 − 0.1·0.105263158/0.395225392 = 0.898101 − 0.026633702 = 0.871467298
  adamwStep(p, Float32Array.of(-0.25), m, v, 0.1, 0.9, 0.999, 1e-8, 0.01, 2);
  t.ok(Math.abs(m[0]! / 0.02 - 1) < 2e-7 && Math.abs(v[0]! / 0.00031225 - 1) < 2e-7, `moments ${m[0]} ${v[0]}`);
  t.ok(Math.abs(p[0]! - 0.871467298) < 2e-7, `step 2 param ${p[0]}`);
  t.throws(() => adamwStep(p, Float32Array.of(0), m, v, 0.1, 0.9, 0.999, 1e-8, 0, 0), /step must be an integer ≥ 1/);
  t.throws(() => adamwStep(p, new Float32Array(2), m, v, 0.1, 0.9, 0.999, 1e-8, 0, 1), /length mismatch/);
});

t.test('adamwStep follows the torch.optim.AdamW algorithm over many steps (float64 reference)', async (t) => {
  const rng = new Rng(3);
  const n = 257;
  const p = Float32Array.from({ length: n }, () => rng.normal());
  const m = new Float32Array(n),
    v = new Float32Array(n);
  const P = Float64Array.from(p),
    M = new Float64Array(n),
    V = new Float64Array(n);
  const [lr, b1, b2, eps, wd] = [3e-3, 0.9, 0.95, 1e-6, 0.1];
  let worst = 0;
  for (let step = 1; step <= 40; step++) {
    const g = Float32Array.from({ length: n }, () => rng.normal() * 0.1);
    adamwStep(p, g, m, v, lr, b1, b2, eps, wd, step);
    for (let i = 0; i < n; i++) {
      // torch docs: θ ← θ − γλθ; m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²;
      //             m̂ = m/(1−β1^t); v̂ = v/(1−β2^t); θ ← θ − γ m̂/(sqrt(v̂) + ε)
      P[i] = P[i]! - lr * wd * P[i]!;
      M[i] = b1 * M[i]! + (1 - b1) * g[i]!;
      V[i] = b2 * V[i]! + (1 - b2) * g[i]! * g[i]!;
      const mh = M[i]! / (1 - b1 ** step),
        vh = V[i]! / (1 - b2 ** step);
      P[i] = P[i]! - (lr * mh) / (Math.sqrt(vh) + eps);
      worst = Math.max(worst, Math.abs(P[i]! - p[i]!));
    }
  }
  // Float32 storage of θ, m, v (≈ 6e-8 relative per rounding) accumulates over 40 steps; a wrong
  // formula is off by more here (checked by mutation: decay after the update 2.3e-5, eps inside
  // the sqrt 1.4e-3, no bias correction 2e-2 / 4e-2).
  t.ok(worst < 1e-5, `max |float32 kernel − float64 reference| after 40 steps = ${worst.toExponential(2)}`);
});

t.test('clipGradNorm: torch clip_grad_norm_ semantics, returns the pre-clip norm', async (t) => {
  const g = Float32Array.of(3, 4);
  t.equal(clipGradNorm(g, 1), 5);
  // coef = 1/(5 + 1e-6)
  t.ok(Math.abs(g[0]! - 3 / (5 + 1e-6)) < 1e-7 && Math.abs(g[1]! - 4 / (5 + 1e-6)) < 1e-7, `clipped ${g}`);
  const parts = [Float32Array.of(3), Float32Array.of(0, 4)];
  t.equal(clipGradNorm(parts, 10), 5, 'several tensors: one global norm');
  t.same(Array.from(parts[1]!), [0, 4], 'under the limit: untouched');
  t.equal(clipGradNorm(Float32Array.of(30, 40), 0), 50, 'max_grad_norm 0 disables clipping but measures');
  t.ok(Number.isNaN(globalGradNorm(Float32Array.of(NaN, 1))));
});

t.test('optimizerStep: clip + AdamW, refuses a non-finite gradient', async (t) => {
  const params = Float32Array.of(1, 1);
  const state = createAdamWState(2);
  const rep = optimizerStep(params, Float32Array.of(3, 4), state, { ...DEFAULT_ADAMW, maxGradNorm: 1 }, 1e-3);
  t.equal(rep.gradNorm, 5);
  t.ok(Math.abs(rep.clipCoef - 1 / (5 + 1e-6)) < 1e-12);
  t.equal(state.step, 1);
  // First Adam step moves each param by ≈ lr·sign(g) (m̂/sqrt(v̂) = ±1).
  t.ok(Math.abs(params[0]! - (1 - 1e-3)) < 1e-6 && Math.abs(params[1]! - (1 - 1e-3)) < 1e-6, `params ${params}`);
  const before = Float32Array.from(params);
  t.throws(
    () => optimizerStep(params, Float32Array.of(NaN, 0), state, DEFAULT_ADAMW, 1e-3),
    /grad_norm is NaN at optimizer step 2/,
  );
  t.same(Array.from(params), Array.from(before), 'adapter untouched');
  t.equal(state.step, 1);
});

t.test('gradient accumulation: plain sum over micro-batches', async (t) => {
  const acc = createGradAccumulator(3, 2);
  t.equal(accumulateGrad(acc, Float64Array.of(1, 2, 3)), false);
  t.equal(accumulateGrad(acc, Float32Array.of(0.5, 0.5, 0.5)), true);
  t.same(Array.from(acc.grad), [1.5, 2.5, 3.5]);
  t.throws(() => accumulateGrad(acc, new Float32Array(3)), /already holds 2 micro-batches/);
  resetGradAccumulator(acc);
  t.equal(acc.count, 0);
  t.same(Array.from(acc.grad), [0, 0, 0]);
  t.throws(() => accumulateGrad(acc, new Float32Array(2)), /length 2, expected 3/);
  t.throws(() => createGradAccumulator(3, 0), /gradient_accumulation_steps/);
});

t.test('optimizer state serialises exactly: resumed run is bit-identical', async (t) => {
  const rng = new Rng(11);
  const n = 100;
  const grads = Array.from({ length: 6 }, () => Float32Array.from({ length: n }, () => rng.normal()));
  const hp = { ...DEFAULT_ADAMW, weightDecay: 0.01 };
  const pa = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const sa = createAdamWState(n);
  for (let s = 0; s < 3; s++) optimizerStep(pa, Float32Array.from(grads[s]!), sa, hp, 1e-2);
  // Checkpoint after 3 steps, restore into a fresh state, continue both for 3 more steps.
  const bytes = serializeAdamWState(sa);
  t.equal(bytes.length, 24 + 8 * n);
  const pb = Float32Array.from(pa);
  const sb = deserializeAdamWState(Uint8Array.from(bytes));
  t.equal(sb.step, 3);
  for (let s = 3; s < 6; s++) {
    optimizerStep(pa, Float32Array.from(grads[s]!), sa, hp, 1e-2);
    optimizerStep(pb, Float32Array.from(grads[s]!), sb, hp, 1e-2);
  }
  t.same(Buffer.from(pa.buffer), Buffer.from(pb.buffer), 'params bit-identical');
  t.same(serializeAdamWState(sa), serializeAdamWState(sb), 'states bit-identical');
  // A subarray view at an odd offset deserialises too.
  const padded = new Uint8Array(bytes.length + 3);
  padded.set(bytes, 3);
  t.equal(deserializeAdamWState(padded.subarray(3)).step, 6 - 3);
  const bad = Uint8Array.from(bytes);
  bad[0] = 0;
  t.throws(() => deserializeAdamWState(bad, 'ckpt/optimizer.bin'), /ckpt\/optimizer.bin: not a loractor AdamW state/);
  t.throws(() => deserializeAdamWState(bytes.subarray(0, bytes.length - 4)), /expected 824 for 100 parameters/);
});

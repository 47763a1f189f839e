// Token sampling on the GPU, one workgroup per sequence, over rows of logits as wide as a 152k
// vocabulary, without sorting. The distribution sampled from is the one src/rl/token-distribution.ts
// defines (and the builtin engine samples from): p ∝ exp(logits / T); keep the top_k most likely
// (ties by lower id); renormalise; keep the smallest prefix in (probability desc, id asc) order whose
// mass reaches top_p of the kept mass; renormalise. The token is drawn by inverse CDF in id order
// over the kept set, with the uniform u the host gives (seeded per sequence and step).
//
// Both truncations are thresholds in that total order, found by bisection instead of a sort: with
// key(i) = the f32 bits of p_i (monotone in p_i since p_i ≥ 0), the kept set is
//   { i : key(i) > τ } ∪ { i : key(i) = τ and i < cut }
// top_k: τ = the largest key with count(key ≥ τ) ≥ k (30 halvings of [0, bits(1.0)]), and cut the id
// after the (k − count(key > τ))-th tie; top_p: the largest τ' ≥ τ whose mass(key ≥ τ') reaches
// top_p·mass(kept by k), and its tie cut by mass. Each halving is one pass over the row (p is kept
// in a scratch row) and a workgroup reduction; sums are in a fixed order, so results are
// reproducible.
//
// Per sequence it reports the token, its log-prob under the distribution sampled from (the
// behaviour log-prob: log p_i − log mass(kept), at temperature T) and its raw log-prob under the
// model (log-softmax of the logits at temperature 1, whole vocabulary). Greedy (T = 0) takes the
// first maximal logit and reports the temperature-1 log-prob for both (the builtin engine's rule).
import { dispatch, type GpuContext, type KernelSpec } from './context.js';
import type { GpuTensor } from './tensor.js';

/** Threads per sequence: 256 for real vocabularies, 32 for small ones (most threads would idle at every barrier). */
export function samplerThreads(vocab: number): number {
  return vocab < 2048 ? 32 : 256;
}

export interface SamplingConfig {
  /** 0 or less: greedy. */
  temperature: number;
  /** 0 or ≥ vocab: off. */
  topK: number;
  /** 1 (or ≤ 0): off. */
  topP: number;
}

export type SamplingMode = 'greedy' | 'full' | 'truncated';

export function samplingMode(s: SamplingConfig, vocab: number): SamplingMode {
  if (!(s.temperature > 0)) return 'greedy';
  const k = s.topK > 0 && s.topK < vocab;
  const p = s.topP > 0 && s.topP < 1;
  return k || p ? 'truncated' : 'full';
}

const code = (WG: number): string => /* wgsl */ `
struct Params { V: u32, chunk: u32, lOff: u32, invT: f32, topK: u32, topP: f32, mode: u32, metaOff: u32, pOff: u32, nextOff: u32, outOff: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
// seqm: per sequence (logits row, slot, bits of u).
@group(0) @binding(2) var<storage, read> seqm: array<u32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;
// out: per sequence (token, behaviour log-prob bits, raw log-prob bits).
@group(0) @binding(4) var<storage, read_write> outv: array<u32>;
// next: the sampled token per slot (the next decode step's input).
@group(0) @binding(5) var<storage, read_write> next: array<i32>;

const ONE_BITS = 0x3f800000u;
var<workgroup> rf: array<f32, ${WG}>;
var<workgroup> ru: array<u32, ${WG}>;
var<workgroup> bf: f32;
var<workgroup> bu: u32;

fn sumF(v: f32, lid: u32) -> f32 {
  rf[lid] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { rf[lid] += rf[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { bf = rf[0]; }
  return workgroupUniformLoad(&bf);
}

fn sumU(v: u32, lid: u32) -> u32 {
  ru[lid] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { ru[lid] += ru[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { bu = ru[0]; }
  return workgroupUniformLoad(&bu);
}

fn maxU(v: u32, lid: u32) -> u32 {
  ru[lid] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { ru[lid] = max(ru[lid], ru[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) { bu = ru[0]; }
  let r = workgroupUniformLoad(&bu);
  workgroupBarrier();
  return r;
}

// The thread whose running total first exceeds goal (strictly when strict, else reaches it):
// thread 0 scans the per-thread totals; returns (thread, total before it), or thread ${WG} if none.
fn crossingF(v: f32, goal: f32, strict: bool, lid: u32) -> vec2<f32> {
  rf[lid] = v;
  workgroupBarrier();
  if (lid == 0u) {
    var acc = 0.0;
    var at = ${WG}u;
    var before = 0.0;
    for (var t = 0u; t < ${WG}u; t++) {
      let x = rf[t];
      let nxt = acc + x;
      if (x > 0.0 && ((strict && nxt > goal) || (!strict && nxt >= goal))) { at = t; before = acc; break; }
      acc = nxt;
    }
    bu = at;
    bf = before;
  }
  let at = workgroupUniformLoad(&bu);
  let before = workgroupUniformLoad(&bf);
  workgroupBarrier(); // every thread has read bu/bf before the crossing thread writes bu
  return vec2<f32>(f32(at), before);
}

fn crossingU(v: u32, goal: u32, lid: u32) -> vec2<u32> {
  ru[lid] = v;
  workgroupBarrier();
  if (lid == 0u) {
    var acc = 0u;
    var at = ${WG}u;
    for (var t = 0u; t < ${WG}u; t++) {
      let x = ru[t];
      if (x > 0u && acc + x >= goal) { at = t; break; }
      acc += x;
    }
    ru[${WG - 1}u] = acc; // total before the crossing thread (read below, after the uniform load)
    bu = at;
  }
  let at = workgroupUniformLoad(&bu);
  let before = ru[${WG - 1}u];
  workgroupBarrier();
  return vec2<u32>(at, before);
}

fn keyOf(i: u32, base: u32) -> u32 { return bitcast<u32>(probs[base + i]); }

fn kept(key: u32, i: u32, tau: u32, cut: u32) -> bool { return key > tau || (key == tau && i < cut); }

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let seq = wid.x;
  let row = seqm[p.metaOff + 3u * seq];
  let slot = seqm[p.metaOff + 3u * seq + 1u];
  let u = bitcast<f32>(seqm[p.metaOff + 3u * seq + 2u]);
  let lb = p.lOff + row * p.V;
  let pb = p.pOff + seq * p.V;
  let c0 = min(p.V, lid * p.chunk);
  let c1 = min(p.V, c0 + p.chunk);

  // Max and first argmax.
  var best = -3.4e38;
  var bi = 0xffffffffu;
  for (var i = c0; i < c1; i++) { let v = logits[lb + i]; if (v > best) { best = v; bi = i; } }
  rf[lid] = best;
  ru[lid] = bi;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let bv = rf[lid + s];
      let bidx = ru[lid + s];
      if (bv > rf[lid] || (bv == rf[lid] && bidx < ru[lid])) { rf[lid] = bv; ru[lid] = bidx; }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { bf = rf[0]; bu = ru[0]; }
  let lmax = workgroupUniformLoad(&bf);
  let argmax = workgroupUniformLoad(&bu);
  workgroupBarrier();

  // p_i = exp((l_i − max)/T) into the scratch row; Σ p and Σ exp(l_i − max) (temperature 1).
  var sT = 0.0;
  var s1 = 0.0;
  for (var i = c0; i < c1; i++) {
    let d = logits[lb + i] - lmax;
    s1 += exp(d);
    if (p.mode != 0u) { let e = exp(d * p.invT); probs[pb + i] = e; sT += e; }
  }
  let sum1 = sumF(s1, lid);
  let sumT = sumF(sT, lid);
  let logZ1 = log(sum1);
  if (p.mode == 0u) {
    if (lid == 0u) {
      let lp = -logZ1;
      outv[p.outOff + 3u * seq] = argmax;
      outv[p.outOff + 3u * seq + 1u] = bitcast<u32>(lp);
      outv[p.outOff + 3u * seq + 2u] = bitcast<u32>(lp);
      next[p.nextOff + slot] = i32(argmax);
    }
    return;
  }

  // The kept set as a threshold (tau, cut) in (p desc, id asc) order; (0, V) keeps everything.
  var tau = 0u;
  var cut = p.V;
  var massK = sumT;
  if (p.mode == 2u && p.topK > 0u && p.topK < p.V) {
    var lo = 0u;
    var hi = ONE_BITS + 1u;
    loop {
      if (hi - lo <= 1u) { break; }
      let mid = lo + (hi - lo) / 2u;
      var c = 0u;
      for (var i = c0; i < c1; i++) { if (keyOf(i, pb) >= mid) { c++; } }
      if (sumU(c, lid) >= p.topK) { lo = mid; } else { hi = mid; }
    }
    tau = lo;
    var above = 0u;
    var ties = 0u;
    for (var i = c0; i < c1; i++) { let k = keyOf(i, pb); if (k > tau) { above++; } else if (k == tau) { ties++; } }
    let need = p.topK - sumU(above, lid);
    let x = crossingU(ties, need, lid);
    if (lid == x.x) {
      var acc = x.y;
      for (var i = c0; i < c1; i++) {
        if (keyOf(i, pb) == tau) { acc++; if (acc == need) { bu = i + 1u; break; } }
      }
    }
    let found = workgroupUniformLoad(&bu);
    cut = select(p.V, found, x.x < ${WG}u);
    var m = 0.0;
    for (var i = c0; i < c1; i++) { let k = keyOf(i, pb); if (kept(k, i, tau, cut)) { m += probs[pb + i]; } }
    massK = sumF(m, lid);
  }
  if (p.mode == 2u && p.topP > 0.0 && p.topP < 1.0) {
    let goal = p.topP * massK;
    var lo = tau;
    var hi = ONE_BITS + 1u;
    loop {
      if (hi - lo <= 1u) { break; }
      let mid = lo + (hi - lo) / 2u;
      var m = 0.0;
      for (var i = c0; i < c1; i++) { if (keyOf(i, pb) >= mid) { m += probs[pb + i]; } }
      if (sumF(m, lid) >= goal) { lo = mid; } else { hi = mid; }
    }
    // Ties at the new threshold (limited to the top-k cut when it did not move), by id, until the
    // mass reaches the goal.
    let tieCut = select(p.V, cut, lo == tau);
    var above = 0.0;
    var ties = 0.0;
    for (var i = c0; i < c1; i++) {
      let k = keyOf(i, pb);
      if (k > lo) { above += probs[pb + i]; } else if (k == lo && i < tieCut) { ties += probs[pb + i]; }
    }
    let need = goal - sumF(above, lid);
    let x = crossingF(ties, need, false, lid);
    if (lid == u32(x.x)) {
      var acc = x.y;
      for (var i = c0; i < c1; i++) {
        if (keyOf(i, pb) == lo && i < tieCut) { acc += probs[pb + i]; if (acc >= need) { bu = i + 1u; break; } }
      }
    }
    let found = workgroupUniformLoad(&bu);
    // Rounding can leave the goal unreached inside the ties: keep them all.
    cut = select(tieCut, found, u32(x.x) < ${WG}u);
    tau = lo;
    var m = 0.0;
    for (var i = c0; i < c1; i++) { let k = keyOf(i, pb); if (kept(k, i, tau, cut)) { m += probs[pb + i]; } }
    massK = sumF(m, lid);
  }

  // Inverse CDF in id order over the kept set.
  var mine = 0.0;
  var lastKept = 0u;
  for (var i = c0; i < c1; i++) {
    let k = keyOf(i, pb);
    if (kept(k, i, tau, cut)) { mine += probs[pb + i]; lastKept = i + 1u; }
  }
  let goal = u * massK;
  let x = crossingF(mine, goal, true, lid);
  let fallback = maxU(lastKept, lid) - 1u;
  if (lid == u32(x.x)) {
    var acc = x.y;
    var tok = fallback;
    for (var i = c0; i < c1; i++) {
      let k = keyOf(i, pb);
      if (kept(k, i, tau, cut)) { acc += probs[pb + i]; if (acc > goal) { tok = i; break; } }
    }
    bu = tok;
  }
  if (lid == 0u && u32(x.x) >= ${WG}u) { bu = fallback; }
  let tok = workgroupUniformLoad(&bu);
  if (lid == 0u) {
    let d = logits[lb + tok] - lmax;
    outv[p.outOff + 3u * seq] = tok;
    outv[p.outOff + 3u * seq + 1u] = bitcast<u32>(d * p.invT - log(massK));
    outv[p.outOff + 3u * seq + 2u] = bitcast<u32>(d - logZ1);
    next[p.nextOff + slot] = i32(tok);
  }
}`;

const specs = new Map<number, KernelSpec>();
function spec(wg: number): KernelSpec {
  let k = specs.get(wg);
  if (!k)
    specs.set(
      wg,
      (k = { key: `sampleTokens:${wg}`, bindings: ['read', 'read', 'write', 'write', 'write'], code: code(wg) }),
    );
  return k;
}

export interface SampleTensors {
  /** f32 [rows, vocab]. */
  logits: GpuTensor;
  /** u32/i32 [3n]: per sequence (logits row, slot, f32 bits of the uniform in [0, 1)). */
  meta: GpuTensor;
  /** f32 [n, vocab] scratch. */
  probs: GpuTensor;
  /** [3n] out: per sequence (token, f32 bits of the behaviour log-prob, f32 bits of the raw log-prob). */
  out: GpuTensor;
  /** i32 [slots]: the token of each sampled slot is written here. */
  next: GpuTensor;
}

/** Samples one token for each of n sequences (see the file comment). */
export function sampleTokens(ctx: GpuContext, t: SampleTensors, n: number, vocab: number, s: SamplingConfig): void {
  const where = 'sampleTokens';
  if (n === 0) return;
  if (t.logits.dtype !== 'f32' || t.logits.split)
    throw new Error(`${where}: logits must be a single-buffer f32 tensor`);
  const mode = samplingMode(s, vocab);
  if (t.probs.dtype !== 'f32' || (mode !== 'greedy' && t.probs.length < n * vocab))
    throw new Error(`${where}: probs must be f32 of at least n·vocab = ${n * vocab} elements (greedy: any f32 tensor)`);
  if (t.meta.length < 3 * n || t.out.length < 3 * n)
    throw new Error(`${where}: meta and out need 3·n = ${3 * n} entries`);
  if (t.next.dtype !== 'i32') throw new Error(`${where}: next must be i32`);
  const lim = ctx.info.limits.maxComputeWorkgroupsPerDimension;
  if (n > lim) throw new Error(`${where}: ${n} sequences exceed ${lim} workgroups; call in chunks`);
  const wg = samplerThreads(vocab);
  const chunk = Math.ceil(vocab / wg);
  dispatch(
    ctx,
    spec(wg),
    [t.logits, t.meta, t.probs, t.out, t.next],
    [
      vocab,
      chunk,
      t.logits.offset,
      { f32: s.temperature > 0 ? 1 / s.temperature : 1 },
      s.topK > 0 ? Math.min(s.topK, vocab) : 0,
      { f32: s.topP },
      mode === 'greedy' ? 0 : mode === 'full' ? 1 : 2,
      t.meta.offset,
      t.probs.offset,
      t.next.offset,
      t.out.offset,
    ],
    [n],
  );
}

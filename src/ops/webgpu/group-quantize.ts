// MLC q4f16_1 group quantization on the GPU: w = base (+ delta) → q_weight words + q_scale halves,
// the WGSL twin of src/engines/webllm/q4f16.ts (layout and exact-decision rules are documented
// there). Every decision is a comparison against a midpoint that is exact in f32, and f16 bits are
// encoded and decoded with integer arithmetic (not pack2x16float / unpack2x16float, whose rounding
// and subnormal handling WGSL leaves to the implementation), so any adapter produces the CPU
// reference's words bit for bit.
//
// One thread per output word (8 consecutive elements of a row: coalesced 32-byte loads), 256 words =
// 64 groups per workgroup. A group's four threads combine their max |w| through workgroup memory;
// one thread per pair of groups writes the pair's two scales as one u32 word (q_scale is f16, two per
// word, so a word is never written by two threads). A non-finite w, or a group whose scale would
// overflow f16, sets the error word instead of producing garbage silently.
import { dispatch, groups1d, type GpuContext, type KernelSpec } from './context.js';
import { WORKGROUP_INDEX } from './operands.js';
import type { GpuTensor } from './tensor.js';

const GROUP = 32;

const HELPERS = /* wgsl */ `
// f16 bits -> f32 by integer assembly (exact for subnormals, which some adapters flush).
fn f16_to_f32(h: u32) -> f32 {
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  let s = select(1.0, -1.0, (h & 0x8000u) != 0u);
  if (e == 0u) { return s * f32(m) * 5.9604644775390625e-8; } // m · 2^-24
  if (e == 31u) { return bitcast<f32>(((h & 0x8000u) << 16u) | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(((h & 0x8000u) << 16u) | ((e + 112u) << 23u) | (m << 13u));
}

// f16 bits of a non-negative finite f32 ≤ 65504, truncated (the estimate the exact step corrects).
fn f32_to_f16_trunc(x: f32) -> u32 {
  if (x < 6.103515625e-5) { return u32(x * 16777216.0); } // subnormal f16: x / 2^-24
  let b = bitcast<u32>(x);
  return ((((b >> 23u) & 0xffu) - 112u) << 10u) | ((b >> 13u) & 0x3ffu);
}

// RNE(m / 7) as f16 bits, decided by exact comparisons with 7 · midpoint.
fn scale_bits(m: f32) -> u32 {
  var bits = f32_to_f16_trunc(min(m / 7.0, 65504.0));
  let c = f16_to_f32(bits);
  let mid_up = (c + f16_to_f32(bits + 1u)) * 0.5;
  if (bits < 0x7bffu && (m > 7.0 * mid_up || (m == 7.0 * mid_up && (bits & 1u) == 1u))) { return bits + 1u; }
  if (bits > 0u) {
    let mid_dn = (c + f16_to_f32(bits - 1u)) * 0.5;
    if (m < 7.0 * mid_dn || (m == 7.0 * mid_dn && (bits & 1u) == 1u)) { bits = bits - 1u; }
  }
  return bits;
}

// The integer nearest to w / s + 7 (ties to even) in [0, 14]; w · (1/s) is only the estimate.
fn code(w: f32, s: f32, inv: f32) -> u32 {
  var q = i32(clamp(round(w * inv) + 7.0, 0.0, 14.0));
  let fq = f32(q);
  let hi = (fq - 6.5) * s;
  let lo = (fq - 7.5) * s;
  if (q < 14 && (w > hi || (w == hi && (q & 1) == 1))) { q = q + 1; }
  else if (q > 0 && (w < lo || (w == lo && (q & 1) == 1))) { q = q - 1; }
  return u32(q);
}

`;

// The 8 elements of a thread are unrolled (constant indices, no private array): adapters with a
// non-optimizing shader compiler (SwiftShader's Subzero) spill dynamically indexed arrays to memory.
function loads(baseF16: boolean, hasDelta: boolean): string {
  const one = (k: number): string => {
    const e = `row * p.cols + j0 + ${k}u`;
    const base = baseF16
      ? `f16_to_f32(select(b${k}w & 0xffffu, b${k}w >> 16u, ((p.base_off + ${e}) & 1u) == 1u))`
      : `base[p.base_off + ${e}]`;
    return (
      (baseF16 ? `  let b${k}w = base[(p.base_off + ${e}) >> 1u];\n` : '') +
      `  let v${k} = select(0.0, ${base}${hasDelta ? ` + delta[p.delta_off + ${e}]` : ''}, live && j0 + ${k}u < p.cols);\n`
    );
  };
  return Array.from({ length: 8 }, (_, k) => one(k)).join('');
}

function codes(): string {
  return Array.from(
    { length: 8 },
    (_, k) =>
      `    if (j0 + ${k}u < p.cols) { word = word | (select(7u, code(v${k}, s, inv), s > 0.0) << ${4 * k}u); }\n`,
  ).join('');
}

function spec(baseF16: boolean, hasDelta: boolean): KernelSpec {
  return {
    key: `q4f16-quantize:${baseF16 ? 'f16' : 'f32'}${hasDelta ? '+delta' : ''}`,
    bindings: ['read', 'read', 'write', 'write', 'write'],
    code: /* wgsl */ `
struct Params { n_words: u32, cols: u32, wpr: u32, n_groups: u32, base_off: u32, delta_off: u32, words_off: u32, scales_word_off: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> base: array<${baseF16 ? 'u32' : 'f32'}>;
@group(0) @binding(2) var<storage, read> delta: array<f32>;
@group(0) @binding(3) var<storage, read_write> words: array<u32>;
@group(0) @binding(4) var<storage, read_write> scales: array<u32>;
@group(0) @binding(5) var<storage, read_write> err: array<atomic<u32>>;
var<workgroup> gmax: array<f32, 256>;
var<workgroup> sbits: array<u32, 64>;
${WORKGROUP_INDEX}

${HELPERS}
// max() may drop a NaN operand on some adapters, so non-finite values are also detected by their bits.
fn nonfinite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u; }
fn any_nonfinite(a: f32, b: f32, c: f32, d: f32, e: f32, f: f32, g: f32, h: f32) -> bool {
  return nonfinite(a) || nonfinite(b) || nonfinite(c) || nonfinite(d) || nonfinite(e) || nonfinite(f) || nonfinite(g) || nonfinite(h);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let wg = workgroupIndex(wid, nwg);
  let wi = wg * 256u + lid;
  let live = wi < p.n_words;
  let row = wi / p.wpr;
  let j0 = (wi % p.wpr) * 8u;
${loads(baseF16, hasDelta)}
  let mx = max(max(max(abs(v0), abs(v1)), max(abs(v2), abs(v3))), max(max(abs(v4), abs(v5)), max(abs(v6), abs(v7))));
  let bad = !(mx <= 3.4028234663852886e38); // NaN or ±Inf among the eight (NaN fails every comparison)
  if (bad || mx > 458528.0 || any_nonfinite(v0, v1, v2, v3, v4, v5, v6, v7)) { atomicOr(&err[0], 1u); } // 7 · 65504: the scale would overflow f16
  gmax[lid] = mx;
  workgroupBarrier();
  let g0 = lid & ~3u;
  let m = max(max(gmax[g0], gmax[g0 + 1u]), max(gmax[g0 + 2u], gmax[g0 + 3u]));
  let sb = scale_bits(m);
  let s = f16_to_f32(sb);
  let inv = select(0.0, 1.0 / s, s > 0.0);
  if (live) {
    var word = 0u;
${codes()}    words[p.words_off + wi] = word;
  }
  if ((lid & 3u) == 0u) { sbits[lid >> 2u] = sb; }
  workgroupBarrier();
  let gi = wg * 64u + 2u * lid;
  if (lid < 32u && gi < p.n_groups) {
    let hi = select(0u, sbits[2u * lid + 1u] << 16u, gi + 1u < p.n_groups);
    scales[p.scales_word_off + (gi >> 1u)] = sbits[2u * lid] | hi;
  }
}`,
  };
}

// Variant 'thread': one thread per pair of groups (64 elements, 8 words, one scale word), no
// workgroup memory and no barrier. Loads are strided across threads (each reads 256 contiguous bytes),
// which real GPUs serve less well than 'workgroup'; CPU adapters (SwiftShader runs a barrier as a
// fiber switch per invocation) run it several times faster.
function threadSpec(baseF16: boolean, hasDelta: boolean): KernelSpec {
  const load = (e: string): string => {
    const b = baseF16 ? `f16_at(p.base_off + ${e})` : `base[p.base_off + ${e}]`;
    return hasDelta ? `${b} + delta[p.delta_off + ${e}]` : b;
  };
  return {
    key: `q4f16-quantize-thread:${baseF16 ? 'f16' : 'f32'}${hasDelta ? '+delta' : ''}`,
    bindings: ['read', 'read', 'write', 'write', 'write'],
    code: /* wgsl */ `
struct Params { n_words: u32, cols: u32, wpr: u32, n_groups: u32, base_off: u32, delta_off: u32, words_off: u32, scales_word_off: u32, groups_per_row: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> base: array<${baseF16 ? 'u32' : 'f32'}>;
@group(0) @binding(2) var<storage, read> delta: array<f32>;
@group(0) @binding(3) var<storage, read_write> words: array<u32>;
@group(0) @binding(4) var<storage, read_write> scales: array<u32>;
@group(0) @binding(5) var<storage, read_write> err: array<atomic<u32>>;
${WORKGROUP_INDEX}
${HELPERS}
${
  baseF16
    ? `fn f16_at(i: u32) -> f32 {
  let w = base[i >> 1u];
  return f16_to_f32(select(w & 0xffffu, w >> 16u, (i & 1u) == 1u));
}`
    : ''
}
fn nonfinite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u; }

// Quantizes group gi (row-major over [rows, groups_per_row]); returns its scale bits.
fn quantize_group(gi: u32) -> u32 {
  let row = gi / p.groups_per_row;
  let c0 = (gi % p.groups_per_row) * 32u;
  let e0 = row * p.cols + c0;
  let n = min(32u, p.cols - c0);
  var m = 0.0;
  var bad = false;
  for (var k = 0u; k < n; k++) {
    let v = ${load('e0 + k')};
    bad = bad || nonfinite(v);
    m = max(m, abs(v));
  }
  if (bad || m > 458528.0) { atomicOr(&err[0], 1u); }
  let sb = scale_bits(m);
  let s = f16_to_f32(sb);
  let inv = select(0.0, 1.0 / s, s > 0.0);
  let w0 = p.words_off + row * p.wpr + c0 / 8u;
  for (var wk = 0u; wk < 4u; wk++) {
    var word = 0u;
    for (var k = 0u; k < 8u; k++) {
      let j = wk * 8u + k;
      if (j < n) { word = word | (select(7u, code(${load('e0 + j')}, s, inv), s > 0.0) << (4u * k)); }
    }
    words[w0 + wk] = word;
  }
  return sb;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let pair = workgroupIndex(wid, nwg) * 64u + lid;
  let gi = 2u * pair;
  if (gi >= p.n_groups) { return; }
  var bits = quantize_group(gi);
  if (gi + 1u < p.n_groups) { bits = bits | (quantize_group(gi + 1u) << 16u); }
  scales[p.scales_word_off + pair] = bits;
}`,
  };
}

export type GroupQuantizeVariant = 'workgroup' | 'thread';

/** The default variant: 'thread' on CPU adapters (SwiftShader), 'workgroup' (coalesced) elsewhere. */
export function defaultGroupQuantizeVariant(ctx: GpuContext): GroupQuantizeVariant {
  return /swiftshader|llvmpipe|lavapipe|cpu/i.test(ctx.info.adapter) ? 'thread' : 'workgroup';
}

export interface GroupQuantizeArgs {
  rows: number;
  cols: number;
  /** f32 or f16 values [rows, cols] (a view: its offset is honoured). */
  base: GpuTensor;
  /** Optional f32 [rows, cols] added to base before quantizing (the merged LoRA delta). */
  delta?: GpuTensor;
  /** q_weight destination, u32 words [rows, 4·ceil(cols/32)] (dtype i32: raw 32-bit words). */
  words: GpuTensor;
  /** q_scale destination, f16 [rows, ceil(cols/32)] (dtype f16, offset even: two halves per word). */
  scales: GpuTensor;
  /** One u32 (dtype i32) that the kernel ORs 1 into when an input is non-finite or out of f16 scale range. */
  error: GpuTensor;
  /** Kernel variant (default: defaultGroupQuantizeVariant); both produce the same words. */
  variant?: GroupQuantizeVariant;
}

/** Enqueue q4f16_1 quantization of base (+ delta) into words and scales. */
export function groupQuantizeQ4(ctx: GpuContext, a: GroupQuantizeArgs): void {
  const { rows, cols } = a;
  const groups = Math.ceil(cols / GROUP);
  const wpr = groups * 4;
  const n = rows * cols;
  const where = 'groupQuantizeQ4';
  if (!(Number.isInteger(rows) && Number.isInteger(cols) && rows >= 0 && cols >= 0))
    throw new Error(`${where}: bad shape [${rows}, ${cols}]`);
  for (const [name, t] of [
    ['base', a.base],
    ['delta', a.delta],
    ['words', a.words],
    ['scales', a.scales],
    ['error', a.error],
  ] as const) {
    if (t?.split) throw new Error(`${where}: ${name} is split across buffers; quantize its row blocks separately`);
  }
  if (a.base.length < n) throw new Error(`${where}: base has ${a.base.length} elements, [${rows}, ${cols}] needs ${n}`);
  if (a.base.dtype === 'i32') throw new Error(`${where}: base must be f32 or f16`);
  if (a.delta && (a.delta.dtype !== 'f32' || a.delta.length < n))
    throw new Error(`${where}: delta must be f32 with ${n} elements`);
  if (a.words.dtype !== 'i32' || a.words.length < rows * wpr)
    throw new Error(`${where}: words must be a 32-bit (i32) tensor of ${rows * wpr} words`);
  if (a.scales.dtype !== 'f16' || a.scales.length < rows * groups || a.scales.offset % 2) {
    throw new Error(`${where}: scales must be an f16 tensor of ${rows * groups} halves at an even offset`);
  }
  if (a.error.dtype !== 'i32' || a.error.length < 1)
    throw new Error(`${where}: error must be an i32 tensor of at least one word`);
  if (rows === 0 || cols === 0) return;
  const nWords = rows * wpr;
  const params = [
    nWords,
    cols,
    wpr,
    rows * groups,
    a.base.offset,
    a.delta?.offset ?? 0,
    a.words.offset,
    a.scales.offset / 2,
    groups,
  ];
  const tensors = [a.base, a.delta ?? a.base, a.words, a.scales, a.error];
  const f16 = a.base.dtype === 'f16';
  if ((a.variant ?? defaultGroupQuantizeVariant(ctx)) === 'thread') {
    const { gx, gy } = groups1d(Math.ceil((rows * groups) / 2), 64);
    dispatch(ctx, threadSpec(f16, !!a.delta), tensors, params, [gx, gy]);
  } else {
    const { gx, gy } = groups1d(nWords, 256);
    dispatch(ctx, spec(f16, !!a.delta), tensors, params, [gx, gy]);
  }
}

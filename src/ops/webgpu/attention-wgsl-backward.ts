// WGSL of the flash-attention backward kernels (attention.ts drives them): dQ, dK/dV and the reduction
// of dK/dV split partial sums. Shared generator helpers, tile geometry and the thread layout:
// attention-wgsl.ts; the forward kernel and the stats pre-pass: attention-wgsl-forward.ts.
import type { KernelSpec } from './context.js';
import {
  type AttentionVariant,
  colOk,
  declOut,
  declScalars,
  each,
  each2,
  ENTRY,
  floatBinding,
  geometry,
  header,
  nnProduct,
  ntProduct,
  paramsStruct,
  prologue,
  scalarBinding,
  variantKey,
} from './attention-wgsl.js';

// --- backward: dQ ----------------------------------------------------------------------------------------

export const DQ_PARAMS = [
  'qOff',
  'kOff',
  'vOff',
  'doOff',
  'dqOff',
  'nHeads',
  'qs',
  'ks',
  'group',
  'gy',
  'nTiles',
  'scale',
];

/**
 * One workgroup per (query tile, q head), same schedule as the forward. Per key tile: S = Q·Kᵀ,
 * dP = dO·Vᵀ, P = exp(S·scale − lse), dS = P ⊙ (dP − D)·scale, dQ += dS·K. dq accumulates.
 */
export function dqKernel(v: AttentionVariant): KernelSpec {
  const g = geometry(v);
  const code = `${header(v, DQ_PARAMS, [
    scalarBinding(1, 'tiles', 'u32', false),
    floatBinding(2, 'q', false, v.vec4),
    floatBinding(3, 'k', false, v.vec4),
    floatBinding(4, 'v', false, v.vec4),
    floatBinding(5, 'dout', false, v.vec4),
    scalarBinding(6, 'stats', 'f32', false),
    floatBinding(7, 'dq', true, v.vec4),
  ])}
@compute @workgroup_size(${g.NT})
fn main(${ENTRY}) {${prologue(g)}
  let qr0 = ti.x; let nq = ti.y; let seq0 = ti.z; let nkt = ti.w;
  let h = wid.x; let kvh = h / p.group;
  let qpos0 = qr0 - seq0;
  let qBase = qr0 * p.qs + h * ${g.hd}u;
  let kvBase = seq0 * p.ks + kvh * ${g.hd}u;
${each(
  g.TM,
  (a) => `  var ls${a} = 0.0; var dd${a} = 0.0;
  if (qrow${a} < nq) { let si = 2u * ((qr0 + qrow${a}) * p.nHeads + h); ls${a} = stats[si]; dd${a} = stats[si + 1u]; }`,
)}
${declOut(g, 'dq')}
  for (var kt = 0u; kt < nkt; kt++) {
    let k0 = kt * ${g.N}u;
    let nkv = min(${g.N}u, qpos0 + nq - k0);
    let kb = kvBase + k0 * p.ks;
${declScalars(g, 's', '0.0')}
${declScalars(g, 'dp', '0.0')}
${ntProduct(g, 's', { ld: 'ld_q', base: 'p.qOff + qBase', rows: 'nq', stride: 'p.qs' }, { ld: 'ld_k', base: 'p.kOff + kb', rows: 'nkv', stride: 'p.ks' })}
${ntProduct(g, 'dp', { ld: 'ld_dout', base: 'p.doOff + qBase', rows: 'nq', stride: 'p.qs' }, { ld: 'ld_v', base: 'p.vOff + kb', rows: 'nkv', stride: 'p.ks' })}
${each2(
  g.TM,
  g.TN,
  (a, b) => `    { let ok = qrow${a} < nq && k0 + pcol${b} <= qpos0 + qrow${a};
      let pr = select(0.0, exp(s_${a}_${b} * p.scale - ls${a}), ok);
      ps[prow${a} + pcol${b}] = pr * (dp_${a}_${b} - dd${a}) * p.scale; }`,
)}
${nnProduct(g, 'dq', { ld: 'ld_k', base: 'p.kOff + kb', rows: 'nkv', stride: 'p.ks' }, 'nkv')}
  }
${each(
  g.TM,
  (a) => `  if (qrow${a} < nq) {
    let ob = p.dqOff + qBase + qrow${a} * p.qs;
${each(g.TE, (e) => `    if (${colOk(g, e)}) { let i = ob + ocol${e} * 4u; st_dq(i, ld_dq(i) + dq_${a}_${e}); }`)}
  }`,
)}
}`;
  return { key: `attn-dq-${variantKey(v)}`, code, bindings: ['read', 'read', 'read', 'read', 'read', 'read', 'write'] };
}

// --- backward: dK, dV ------------------------------------------------------------------------------------

export const DKV_PARAMS = [
  'qOff',
  'kOff',
  'vOff',
  'doOff',
  'dkOff',
  'dvOff',
  'nHeads',
  'qs',
  'ks',
  'group',
  'hpw',
  'splits',
  'partStride',
  'rowBase',
  'accumulate',
  'gy',
  'nTiles',
  'scale',
];

/**
 * One workgroup per (key tile, kv head, split). Schedule words: first key row, valid keys,
 * sequence's first row, sequence length. Rows of the tile are keys, columns queries: for each of
 * the split's `hpw` q heads and each query tile from the key tile's diagonal to the sequence end,
 * Sᵀ = K·Qᵀ, dPᵀ = V·dOᵀ, Pᵀ = exp(Sᵀ·scale − lse), dSᵀ = Pᵀ ⊙ (dPᵀ − D)·scale, dV += Pᵀ·dO,
 * dK += dSᵀ·Q. Output: dk/dv += (accumulate) or the split's slice of a partial-sum buffer.
 */
export function dkvKernel(v: AttentionVariant): KernelSpec {
  const g = geometry(v);
  const code = `${header(v, DKV_PARAMS, [
    scalarBinding(1, 'tiles', 'u32', false),
    floatBinding(2, 'q', false, v.vec4),
    floatBinding(3, 'k', false, v.vec4),
    floatBinding(4, 'v', false, v.vec4),
    floatBinding(5, 'dout', false, v.vec4),
    scalarBinding(6, 'stats', 'f32', false),
    floatBinding(7, 'dk', true, v.vec4),
    floatBinding(8, 'dv', true, v.vec4),
  ])}
@compute @workgroup_size(${g.NT})
fn main(${ENTRY}) {${prologue(g)}
  let kr0 = ti.x; let nk = ti.y; let seq0 = ti.z; let seqLen = ti.w;
  let kvh = wid.x / p.splits; let split = wid.x % p.splits;
  let kpos0 = kr0 - seq0;
  let kBase = kr0 * p.ks + kvh * ${g.hd}u;
  let qt0 = kpos0 / ${g.N}u;
  let nqt = (seqLen + ${g.N - 1}u) / ${g.N}u;
${declOut(g, 'dk')}
${declOut(g, 'dv')}
  for (var hh = 0u; hh < p.hpw; hh++) {
    let h = kvh * p.group + split * p.hpw + hh;
    for (var qt = qt0; qt < nqt; qt++) {
      let i0 = qt * ${g.N}u;
      let nqv = min(${g.N}u, seqLen - i0);
      let qb = (seq0 + i0) * p.qs + h * ${g.hd}u;
${declScalars(g, 's', '0.0')}
${declScalars(g, 'dp', '0.0')}
${ntProduct(g, 's', { ld: 'ld_k', base: 'p.kOff + kBase', rows: 'nk', stride: 'p.ks' }, { ld: 'ld_q', base: 'p.qOff + qb', rows: 'nqv', stride: 'p.qs' })}
${ntProduct(g, 'dp', { ld: 'ld_v', base: 'p.vOff + kBase', rows: 'nk', stride: 'p.ks' }, { ld: 'ld_dout', base: 'p.doOff + qb', rows: 'nqv', stride: 'p.qs' })}
${each(
  g.TN,
  (b) => `      var ls${b} = 0.0; var dd${b} = 0.0;
      if (pcol${b} < nqv) { let si = 2u * ((seq0 + i0 + pcol${b}) * p.nHeads + h); ls${b} = stats[si]; dd${b} = stats[si + 1u]; }`,
)}
${each2(
  g.TM,
  g.TN,
  (a, b) => `      let ok_${a}_${b} = qrow${a} < nk && pcol${b} < nqv && kpos0 + qrow${a} <= i0 + pcol${b};
      let pr_${a}_${b} = select(0.0, exp(s_${a}_${b} * p.scale - ls${b}), ok_${a}_${b});
      let ds_${a}_${b} = pr_${a}_${b} * (dp_${a}_${b} - dd${b}) * p.scale;
      ps[prow${a} + pcol${b}] = pr_${a}_${b};`,
)}
${nnProduct(g, 'dv', { ld: 'ld_dout', base: 'p.doOff + qb', rows: 'nqv', stride: 'p.qs' }, 'nqv')}
      workgroupBarrier();
${each2(g.TM, g.TN, (a, b) => `      ps[prow${a} + pcol${b}] = ds_${a}_${b};`)}
${nnProduct(g, 'dk', { ld: 'ld_q', base: 'p.qOff + qb', rows: 'nqv', stride: 'p.qs' }, 'nqv')}
    }
  }
${each(
  g.TM,
  (a) => `  if (qrow${a} < nk) {
    let rb = (kr0 + qrow${a} - p.rowBase) * p.ks + kvh * ${g.hd}u + split * p.partStride;
${each(
  g.TE,
  (e) => `    if (${colOk(g, e)}) {
      let ik = p.dkOff + rb + ocol${e} * 4u; let iv = p.dvOff + rb + ocol${e} * 4u;
      if (p.accumulate != 0u) { st_dk(ik, ld_dk(ik) + dk_${a}_${e}); st_dv(iv, ld_dv(iv) + dv_${a}_${e}); }
      else { st_dk(ik, dk_${a}_${e}); st_dv(iv, dv_${a}_${e}); }
    }`,
)}
  }`,
)}
}`;
  return {
    key: `attn-dkv-${variantKey(v)}`,
    code,
    bindings: ['read', 'read', 'read', 'read', 'read', 'read', 'write', 'write'],
  };
}

// --- split reduction: out[i] += Σ_z part[z·stride + i] ------------------------------------------------------

export const REDUCE_PARAMS = ['outOff', 'n', 'splits', 'stride', 'gx'];

export function splitReduceKernel(): KernelSpec {
  const code = `${paramsStruct(REDUCE_PARAMS)}
${scalarBinding(1, 'part', 'f32', false)}
${scalarBinding(2, 'out', 'f32', true)}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.gx * 256u;
  if (i >= p.n) { return; }
  var acc = out[p.outOff + i];
  for (var z = 0u; z < p.splits; z++) { acc += part[z * p.stride + i]; }
  out[p.outOff + i] = acc;
}`;
  return { key: 'attn-split-reduce', code, bindings: ['read', 'write'] };
}

// WGSL of the flash-attention forward kernel and of the backward's stats pre-pass (attention.ts drives
// them). Shared generator helpers, tile geometry and the thread layout: attention-wgsl.ts; the dQ,
// dK/dV and split-reduction kernels: attention-wgsl-backward.ts.
import type { KernelSpec } from './context.js';
import {
  type AttentionVariant,
  allReduce,
  colOk,
  declOut,
  declRows,
  declScalars,
  each,
  ENTRY,
  floatBinding,
  geometry,
  header,
  nnProduct,
  ntProduct,
  paramsStruct,
  prologue,
  range,
  scalarBinding,
  variantKey,
} from './attention-wgsl.js';

// --- forward -------------------------------------------------------------------------------------------

export const FORWARD_PARAMS = [
  'qOff',
  'kOff',
  'vOff',
  'oOff',
  'lseOff',
  'nHeads',
  'qs',
  'ks',
  'group',
  'gy',
  'nTiles',
  'scale',
];

/**
 * One workgroup per (query tile, q head). Schedule words: first row, valid rows, sequence's first
 * row, key tiles to visit. Online softmax over the key tiles; o = acc / l, lse = m + log l.
 */
export function forwardKernel(v: AttentionVariant): KernelSpec {
  const g = geometry(v);
  const code = `${header(v, FORWARD_PARAMS, [
    scalarBinding(1, 'tiles', 'u32', false),
    floatBinding(2, 'q', false, v.vec4),
    floatBinding(3, 'k', false, v.vec4),
    floatBinding(4, 'v', false, v.vec4),
    floatBinding(5, 'o', true, v.vec4),
    scalarBinding(6, 'lse', 'f32', true),
  ])}
@compute @workgroup_size(${g.NT})
fn main(${ENTRY}) {${prologue(g)}
  let qr0 = ti.x; let nq = ti.y; let seq0 = ti.z; let nkt = ti.w;
  let h = wid.x; let kvh = h / p.group;
  let qpos0 = qr0 - seq0;
  let qBase = p.qOff + qr0 * p.qs + h * ${g.hd}u;
  let kvBase = seq0 * p.ks + kvh * ${g.hd}u;
${declRows(g, 'm', '-1e30')}
${declRows(g, 'l', '0.0')}
${declOut(g, 'o')}
  for (var kt = 0u; kt < nkt; kt++) {
    let k0 = kt * ${g.N}u;
    let nkv = min(${g.N}u, qpos0 + nq - k0);
${declScalars(g, 's', '0.0')}
${ntProduct(g, 's', { ld: 'ld_q', base: 'qBase', rows: 'nq', stride: 'p.qs' }, { ld: 'ld_k', base: 'p.kOff + kvBase + k0 * p.ks', rows: 'nkv', stride: 'p.ks' })}
${each(
  g.TM,
  (a) => `    let rv${a} = qrow${a} < nq; let ip${a} = qpos0 + qrow${a};
${each(g.TN, (b) => `    let ok_${a}_${b} = rv${a} && k0 + pcol${b} <= ip${a};\n    s_${a}_${b} = select(-1e30, s_${a}_${b} * p.scale, ok_${a}_${b});`)}
    var mx${a} = ${range(g.TN).reduce((acc, b) => (acc ? `max(${acc}, s_${a}_${b})` : `s_${a}_${b}`), '')};`,
)}
${allReduce(g, v.subgroups, 'mx', 'max')}
${each(
  g.TM,
  (a) => `    let mn${a} = max(m${a}, mx${a}); let al${a} = exp(m${a} - mn${a}); m${a} = mn${a}; l${a} = l${a} * al${a};
${each(g.TE, (e) => `    o_${a}_${e} = o_${a}_${e} * al${a};`)}
${each(g.TN, (b) => `    { let pr = select(0.0, exp(s_${a}_${b} - mn${a}), ok_${a}_${b}); l${a} += pr; ps[prow${a} + pcol${b}] = pr; }`)}`,
)}
${nnProduct(g, 'o', { ld: 'ld_v', base: 'p.vOff + kvBase + k0 * p.ks', rows: 'nkv', stride: 'p.ks' }, 'nkv')}
  }
${allReduce(g, v.subgroups, 'l', 'add')}
${each(
  g.TM,
  (a) => `  if (qrow${a} < nq) {
    let inv = 1.0 / l${a};
    let ob = p.oOff + (qr0 + qrow${a}) * p.qs + h * ${g.hd}u;
${each(g.TE, (e) => `    if (${colOk(g, e)}) { st_o(ob + ocol${e} * 4u, o_${a}_${e} * inv); }`)}
    if (c == 0u) { lse[p.lseOff + (qr0 + qrow${a}) * p.nHeads + h] = m${a} + log(l${a}); }
  }`,
)}
}`;
  return { key: `attn-fwd-${variantKey(v)}`, code, bindings: ['read', 'read', 'read', 'read', 'write', 'write'] };
}

// --- backward pre-pass: stats = (lse, D = rowsum(dO ⊙ O)) --------------------------------------------

export const STATS_PARAMS = ['doOff', 'oOff', 'lseOff', 'rowBase', 'pairs', 'nHeads', 'qs', 'gx'];

/** One thread per (row, head) pair: stats[2·(row·nHeads + h)] = (lse, Σ_d dO·O). */
export function statsKernel(headDim: number, vec4: boolean): KernelSpec {
  const code = `${paramsStruct(STATS_PARAMS)}
${floatBinding(1, 'dout', false, vec4)}
${floatBinding(2, 'o', false, vec4)}
${scalarBinding(3, 'lse', 'f32', false)}
${scalarBinding(4, 'stats', 'f32', true)}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.gx * 64u;
  if (i >= p.pairs) { return; }
  let pair = p.rowBase * p.nHeads + i;
  let row = pair / p.nHeads; let h = pair % p.nHeads;
  let b = row * p.qs + h * ${headDim}u;
  var acc = vec4<f32>(0.0);
  for (var d = 0u; d < ${headDim}u; d += 4u) { acc += ld_dout(p.doOff + b + d) * ld_o(p.oOff + b + d); }
  stats[2u * pair] = lse[p.lseOff + pair];
  stats[2u * pair + 1u] = acc.x + acc.y + acc.z + acc.w;
}`;
  return { key: `attn-stats-hd${headDim}${vec4 ? '-v4' : ''}`, code, bindings: ['read', 'read', 'read', 'write'] };
}

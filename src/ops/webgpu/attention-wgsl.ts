// WGSL of the flash-attention kernels (attention.ts drives them): the shared generator helpers and the
// tile geometry. The kernels live in attention-wgsl-forward.ts (forward, stats pre-pass) and
// attention-wgsl-backward.ts (dQ, dK/dV, split reduction). Every kernel is generated for one
// head dim and one tile geometry, so loop bounds are constants and the per-thread accumulators are
// plain scalar / vec4 variables (registers), unrolled here rather than left to the shader compiler.
//
// Thread layout (all kernels): a workgroup of R·C threads works on a tile of M = R·TM "rows" by
// N = C·TN "columns". Thread t is (rg = t / C, c = t % C); it owns rows rg·TM .. rg·TM+TM−1 and
// score columns c, c+C, .., c+(TN−1)·C, and of the [rows × headDim] outputs the vec4 columns
// c, c+C, .. (TE of them). The C threads of a row group therefore share their rows: the row max and
// row sum of the online softmax are all-reduced over them (subgroup shuffles when C fits in a
// subgroup, workgroup memory otherwise).
//
// Two in-workgroup products, both staged through one workgroup buffer `stage` (aliased between them;
// every staging loop starts with a barrier so a buffer is never overwritten while being read):
//   nt: acc[row, col] += Σ_d X[row, d] · Y[col, d]   (scores Q·Kᵀ, dO·Vᵀ; staged in d-chunks of BK)
//   nn: acc[row, d]   += Σ_j ps[row, j] · Z[j, d]     (P·V, dS·K, Pᵀ·dO, dSᵀ·Q; Z staged BJ rows at a time)
// where ps is a [M × N] workgroup tile of probabilities (or their gradients) written by the threads.

export interface AttentionTile {
  /** Threads per row group (a power of two); they split the tile's columns and the head dim. */
  C: number;
  /** Row groups (workgroup size R·C). */
  R: number;
  /** Rows per thread. */
  TM: number;
  /** Score columns per thread. */
  TN: number;
  /** Head-dim chunk staged per step of the score products (a multiple of 4). */
  BK: number;
  /** Rows of V (K, dO, Q) staged per step of the value products (divides C·TN). */
  BJ: number;
}

export interface AttentionVariant {
  headDim: number;
  tile: AttentionTile;
  /** Row all-reductions by subgroupShuffleXor (needs C ≤ the subgroup size). */
  subgroups: boolean;
  /** Global q/k/v/o/dO/dq/dk/dv accessed as vec4 (every view offset a multiple of 4). */
  vec4: boolean;
}

export interface Geometry {
  hd: number;
  hd4: number;
  C: number;
  R: number;
  TM: number;
  TN: number;
  BK: number;
  BK4: number;
  BJ: number;
  /** Tile rows and columns, threads per workgroup. */
  M: number;
  N: number;
  NT: number;
  /** Row stride (vec4) of the nt staging (BK/4 + 1: the pad spreads rows over banks). */
  XS4: number;
  /** Row stride (f32) of ps. */
  PS: number;
  /** vec4 elements of `stage`. */
  STAGE4: number;
  /** vec4 output columns per thread. */
  TE: number;
}

export function geometry(v: AttentionVariant): Geometry {
  const { C, R, TM, TN, BK, BJ } = v.tile;
  const hd = v.headDim,
    hd4 = hd / 4,
    BK4 = BK / 4,
    XS4 = BK4 + 1,
    M = R * TM,
    N = C * TN;
  const STAGE4 = Math.max((M + N) * XS4, BJ * hd4, Math.ceil((M * C) / 4));
  return { hd, hd4, C, R, TM, TN, BK, BK4, BJ, M, N, NT: R * C, XS4, PS: N + 1, STAGE4, TE: Math.ceil(hd4 / C) };
}

/** Workgroup memory of a kernel of this geometry, bytes. */
export function sharedBytes(g: Geometry): number {
  return g.STAGE4 * 16 + g.M * g.PS * 4 + 16;
}

export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
export const each = (n: number, f: (i: number) => string): string => range(n).map(f).join('\n');
export const each2 = (n: number, m: number, f: (i: number, j: number) => string): string =>
  range(n)
    .flatMap((i) => range(m).map((j) => f(i, j)))
    .join('\n');

// --- declarations ------------------------------------------------------------------------------------

export function paramsStruct(fields: string[]): string {
  return `struct Params { ${fields.map((f) => (f === 'scale' ? 'scale: f32' : `${f}: u32`)).join(', ')} }
@group(0) @binding(0) var<uniform> p: Params;`;
}

/** A float tensor binding with ld_<name> (and st_<name>) helpers taking element indices (multiples of 4). */
export function floatBinding(i: number, name: string, write: boolean, vec4: boolean): string {
  const access = write ? 'read_write' : 'read';
  const lines = [`@group(0) @binding(${i}) var<storage, ${access}> ${name}: array<${vec4 ? 'vec4<f32>' : 'f32'}>;`];
  lines.push(
    vec4
      ? `fn ld_${name}(i: u32) -> vec4<f32> { return ${name}[i >> 2u]; }`
      : `fn ld_${name}(i: u32) -> vec4<f32> { return vec4<f32>(${name}[i], ${name}[i + 1u], ${name}[i + 2u], ${name}[i + 3u]); }`,
  );
  lines.push(
    `fn ldz_ld_${name}(ok: bool, i: u32) -> vec4<f32> { if (ok) { return ld_${name}(i); } return vec4<f32>(0.0); }`,
  );
  if (write) {
    lines.push(
      vec4
        ? `fn st_${name}(i: u32, x: vec4<f32>) { ${name}[i >> 2u] = x; }`
        : `fn st_${name}(i: u32, x: vec4<f32>) { ${name}[i] = x.x; ${name}[i + 1u] = x.y; ${name}[i + 2u] = x.z; ${name}[i + 3u] = x.w; }`,
    );
  }
  return lines.join('\n');
}

export function scalarBinding(i: number, name: string, type: 'f32' | 'u32', write: boolean): string {
  return `@group(0) @binding(${i}) var<storage, ${write ? 'read_write' : 'read'}> ${name}: array<${type}>;`;
}

function workgroupDecls(g: Geometry): string {
  return `var<workgroup> stage: array<vec4<f32>, ${g.STAGE4}>;
var<workgroup> ps: array<f32, ${g.M * g.PS}>;
var<workgroup> info: vec4<u32>;`;
}

/**
 * Entry point prologue: the tile's 4 schedule words (made workgroup-uniform so loops bounded by
 * them may hold barriers) and the thread's row/column coordinates.
 */
export function prologue(g: Geometry): string {
  const colGuard = g.hd4 % g.C !== 0;
  return `
  let tile = wid.y + wid.z * p.gy;
  if (tile >= p.nTiles) { return; }
  if (lid == 0u) { let t4 = 4u * tile; info = vec4<u32>(tiles[t4], tiles[t4 + 1u], tiles[t4 + 2u], tiles[t4 + 3u]); }
  let ti = workgroupUniformLoad(&info);
  let c = lid % ${g.C}u;
  let rg = lid / ${g.C}u;
  let xrow = rg * ${g.TM * g.XS4}u;
${each(g.TN, (b) => `  let yrow${b} = ${g.M * g.XS4}u + (c + ${g.C * b}u) * ${g.XS4}u;\n  let pcol${b} = c + ${g.C * b}u;`)}
${each(g.TM, (a) => `  let qrow${a} = rg * ${g.TM}u + ${a}u;\n  let prow${a} = qrow${a} * ${g.PS}u;`)}
${each(g.TE, (e) => `  let ocol${e} = c + ${g.C * e}u;\n  let zcol${e} = ${colGuard ? `min(ocol${e}, ${g.hd4 - 1}u)` : `ocol${e}`};`)}`;
}

/** Whether output vec4 column e of this thread exists (only the last may not, when C ∤ hd/4). */
export function colOk(g: Geometry, e: number): string {
  return g.hd4 % g.C !== 0 && (e + 1) * g.C > g.hd4 ? `ocol${e} < ${g.hd4}u` : 'true';
}

// --- building blocks ---------------------------------------------------------------------------------

/** Rows of a [rows × stride] tensor: element index of (row r, col d) is base + r·stride + d. */
export interface Src {
  ld: string;
  base: string;
  rows: string;
  stride: string;
}

/**
 * Staging of `count` vec4 elements through registers: thread lid holds elements lid + i·NT. The
 * next block's global loads are issued into registers before the current block is computed on, so
 * their latency overlaps the arithmetic (software pipelining; two barriers per block either way).
 */
interface Staged {
  decl: string;
  load: (at: string) => string;
  store: string;
}

function staged(
  g: Geometry,
  reg: string,
  count: number,
  load: (e: string, at: string) => string,
  slot: (e: string) => string,
): Staged {
  const n = Math.ceil(count / g.NT);
  const partial = (i: number): boolean => (i + 1) * g.NT > count;
  return {
    decl: each(n, (i) => `    var ${reg}${i} = vec4<f32>(0.0);`),
    load: (at) =>
      each(
        n,
        (i) =>
          `    { let e = lid + ${i * g.NT}u; ${reg}${i} = ${partial(i) ? `select(vec4<f32>(0.0), ${load('e', at)}, e < ${count}u)` : load('e', at)}; }`,
      ),
    store: each(
      n,
      (i) =>
        `    { let e = lid + ${i * g.NT}u; ${partial(i) ? `if (e < ${count}u) { ` : ''}stage[${slot('e')}] = ${reg}${i};${partial(i) ? ' }' : ''} }`,
    ),
  };
}

/** A guarded row load: zero beyond the valid rows (and beyond the head dim). */
function rowLoad(S: Src, row: string, col: string, extra = ''): string {
  return `ldz_${S.ld}(${row} < ${S.rows}${extra}, ${S.base} + ${row} * ${S.stride} + ${col})`;
}

/** acc_a_b += Σ_d X[row a, d] · Y[col b, d] over the whole head dim (staged in chunks of BK). */
export function ntProduct(g: Geometry, acc: string, X: Src, Y: Src): string {
  const guard = (d: string): string => (g.hd % g.BK !== 0 ? ` && ${d} < ${g.hd}u` : '');
  const part = (S: Src, reg: string, rows: number, off: number): Staged =>
    staged(
      g,
      reg,
      rows * g.BK4,
      (e, at) => {
        const d = `${at} + (${e} % ${g.BK4}u) * 4u`;
        return rowLoad(S, `(${e} / ${g.BK4}u)`, `(${d})`, guard(`(${d})`));
      },
      (e) => `${off}u + (${e} / ${g.BK4}u) * ${g.XS4}u + ${e} % ${g.BK4}u`,
    );
  const xs = part(X, 'px', g.M, 0),
    ys = part(Y, 'py', g.N, g.M * g.XS4);
  return `
  {
${xs.decl}
${ys.decl}
${xs.load('0u')}
${ys.load('0u')}
  for (var d0 = 0u; d0 < ${g.hd}u; d0 += ${g.BK}u) {
    workgroupBarrier();
${xs.store}
${ys.store}
    workgroupBarrier();
    if (d0 + ${g.BK}u < ${g.hd}u) {
${xs.load(`d0 + ${g.BK}u`)}
${ys.load(`d0 + ${g.BK}u`)}
    }
    for (var kk = 0u; kk < ${g.BK4}u; kk++) {
${each(g.TM, (a) => `      let x${a} = stage[xrow + ${a * g.XS4}u + kk];`)}
${each(g.TN, (b) => `      let y${b} = stage[yrow${b} + kk];`)}
${each2(g.TM, g.TN, (a, b) => `      ${acc}_${a}_${b} += dot(x${a}, y${b});`)}
    }
  }
  }`;
}

/** acc_a_e += Σ_j ps[row a, j] · Z[j, vec4 col e] for j < cols (Z rows staged BJ at a time). */
export function nnProduct(g: Geometry, acc: string, Z: Src, cols: string): string {
  const zs = staged(
    g,
    'pz',
    g.BJ * g.hd4,
    (e, at) => rowLoad(Z, `(${at} + ${e} / ${g.hd4}u)`, `(${e} % ${g.hd4}u) * 4u`),
    (e) => e,
  );
  return `
  {
${zs.decl}
${zs.load('0u')}
  for (var j0 = 0u; j0 < ${cols}; j0 += ${g.BJ}u) {
    workgroupBarrier();
${zs.store}
    workgroupBarrier();
    if (j0 + ${g.BJ}u < ${cols}) {
${zs.load(`j0 + ${g.BJ}u`)}
    }
    for (var jj = 0u; jj < ${g.BJ}u; jj++) {
${each(g.TM, (a) => `      let w${a} = ps[prow${a} + j0 + jj];`)}
${each(g.TE, (e) => `      let z${e} = stage[jj * ${g.hd4}u + zcol${e}];`)}
${each2(g.TM, g.TE, (a, e) => `      ${acc}_${a}_${e} += w${a} * z${e};`)}
    }
  }
  }`;
}

/** name_a ← op over the C threads of the row group, for every row a of the thread. */
export function allReduce(g: Geometry, subgroups: boolean, name: string, op: 'max' | 'add'): string {
  if (g.C === 1) return '';
  const f = (x: string, y: string): string => (op === 'max' ? `max(${x}, ${y})` : `(${x} + ${y})`);
  if (subgroups) {
    const steps: string[] = [];
    for (let o = 1; o < g.C; o *= 2)
      for (const a of range(g.TM))
        steps.push(`  ${name}${a} = ${f(`${name}${a}`, `subgroupShuffleXor(${name}${a}, ${o}u)`)};`);
    return steps.join('\n');
  }
  return `
  workgroupBarrier();
${each(g.TM, (a) => `  { let i = qrow${a} * ${g.C}u + c; stage[i >> 2u][i & 3u] = ${name}${a}; }`)}
  workgroupBarrier();
${each(
  g.TM,
  (a) => `  { let i0 = qrow${a} * ${g.C}u; var r = stage[i0 >> 2u][i0 & 3u];
    for (var j = 1u; j < ${g.C}u; j++) { let i = i0 + j; r = ${f('r', 'stage[i >> 2u][i & 3u]')}; }
    ${name}${a} = r; }`,
)}`;
}

export const declScalars = (g: Geometry, name: string, init: string): string =>
  each2(g.TM, g.TN, (a, b) => `    var ${name}_${a}_${b} = ${init};`);
export const declRows = (g: Geometry, name: string, init: string): string =>
  each(g.TM, (a) => `  var ${name}${a} = ${init};`);
export const declOut = (g: Geometry, name: string): string =>
  each2(g.TM, g.TE, (a, e) => `  var ${name}_${a}_${e} = vec4<f32>(0.0);`);

export function header(v: AttentionVariant, params: string[], bindings: string[]): string {
  return `${v.subgroups ? 'enable subgroups;\n' : ''}${paramsStruct(params)}
${bindings.join('\n')}
${workgroupDecls(geometry(v))}`;
}

export const ENTRY = `@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32`;

export function variantKey(v: AttentionVariant): string {
  const t = v.tile;
  return `hd${v.headDim}-C${t.C}R${t.R}TM${t.TM}TN${t.TN}BK${t.BK}BJ${t.BJ}${v.subgroups ? '-sg' : ''}${v.vec4 ? '-v4' : ''}`;
}

// Embedding rows of tokens that live on the GPU: dst[r, :] = table[tokens[slots[r]], :]. The
// generation engine's sampler writes each sequence's next token into `tokens` at the sequence's
// slot, and the next decode step reads it from there, so no token has to come back to the host
// before the step that consumes it is enqueued. The table (the embedding matrix) may be f16-packed
// and split into row blocks across buffers (tensor.ts); each block's pass fills the rows whose token
// falls inside it.
import { dispatch, type GpuContext, type KernelSpec } from './context.js';
import { rowParts, type GpuTensor } from './tensor.js';

function kernel(f16: boolean): KernelSpec {
  const load = f16
    ? 'fn ld(j: u32) -> f32 { let h = unpack2x16float(src[j >> 1u]); return select(h.x, h.y, (j & 1u) == 1u); }'
    : 'fn ld(j: u32) -> f32 { return bitcast<f32>(src[j]); }';
  return {
    key: `gatherTokenRows:${f16 ? 'f16' : 'f32'}`,
    bindings: ['write', 'read', 'read', 'read'],
    code: /* wgsl */ `
struct Params { n: u32, width: u32, dstOff: u32, srcOff: u32, rowStart: u32, partRows: u32, tokOff: u32, slotOff: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<u32>;
@group(0) @binding(3) var<storage, read> tokens: array<i32>;
@group(0) @binding(4) var<storage, read> slots: array<i32>;
${load}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = wid.x + wid.y * 32768u;
  if (r >= p.n) { return; }
  let tok = tokens[p.tokOff + u32(slots[p.slotOff + r])] - i32(p.rowStart);
  if (tok < 0 || tok >= i32(p.partRows)) { return; }
  for (var j = lid; j < p.width; j += 256u) { dst[p.dstOff + r * p.width + j] = ld(p.srcOff + u32(tok) * p.width + j); }
}`,
  };
}

const specs = new Map<boolean, KernelSpec>();

/** dst [n, width] (f32) ← rows tokens[slots[r]] of table (f32/f16, maybe split). Tokens must be in range (the sampler's own output). */
export function gatherTokenRows(
  ctx: GpuContext,
  dst: GpuTensor,
  table: GpuTensor,
  tokens: GpuTensor,
  slots: GpuTensor,
  n: number,
  width: number,
): void {
  const where = 'gatherTokenRows';
  if (n === 0) return;
  if (dst.dtype !== 'f32' || dst.split || dst.length < n * width)
    throw new Error(`${where}: dst must be a single f32 tensor of at least n·width = ${n * width} elements`);
  if (tokens.dtype !== 'i32' || slots.dtype !== 'i32' || slots.length < n)
    throw new Error(`${where}: tokens and slots must be i32 (slots of n entries)`);
  if (table.dtype !== 'f32' && table.dtype !== 'f16') throw new Error(`${where}: table must be f32 or f16`);
  const gx = Math.min(n, 32768),
    gy = Math.ceil(n / gx);
  for (const part of rowParts(table, width)) {
    if (part.rows === 0) continue;
    const t = part.tensor;
    let spec = specs.get(t.dtype === 'f16');
    if (!spec) specs.set(t.dtype === 'f16', (spec = kernel(t.dtype === 'f16')));
    dispatch(
      ctx,
      spec,
      [dst, t, tokens, slots],
      [n, width, dst.offset, t.offset, part.rowStart, part.rows, tokens.offset, slots.offset],
      [gx, gy],
    );
  }
}

// GPU tensors: a typed view (element offset + length) into a GPUBuffer. Kernels bind whole buffers
// and take element offsets as parameters, because storage-binding offsets must be 256-byte aligned
// and views into the flat LoRA block (one tensor per module) are not.
//
// dtype f16 is stored packed two per u32 word (element i is half i&1 of word i>>1) and read with
// unpack2x16float, which is core WGSL: the same storage path runs on adapters without shader-f16
// (SwiftShader in CI). A matrix larger than one storage binding (maxStorageBufferBindingSize) is
// split into row blocks, each in its own buffer (`split`); kernels that take weight matrices loop
// over the blocks.
import { f32ToF16 as f32ToF16Bits, f16ToF32 as f16BitsToF32 } from '../../util/half.js';

export type GpuDType = 'f32' | 'f16' | 'i32';

export interface GpuTensor {
  readonly buffer: GPUBuffer;
  /** Element offset of the view into the buffer (elements of dtype). */
  readonly offset: number;
  /** Elements in the view. */
  readonly length: number;
  readonly dtype: GpuDType;
  /** Present only on matrices split across buffers: row blocks of rowWidth elements. */
  readonly split?: TensorSplit;
}

export interface TensorSplit {
  rowWidth: number;
  rowsPerPart: number;
  parts: GpuTensor[];
}

/** Bytes a buffer needs to hold `n` elements of dtype (rounded up to whole u32 words). */
export function bytesFor(n: number, dtype: GpuDType): number {
  return dtype === 'f16' ? Math.ceil(n / 2) * 4 : n * 4;
}

export function isGpuTensor(x: unknown): x is GpuTensor {
  return typeof x === 'object' && x !== null && 'buffer' in x && 'dtype' in x && 'offset' in x;
}

/** A sub-view of t (elements [offset, offset+length) of t). Split tensors cannot be viewed. */
export function viewOf(t: GpuTensor, offset: number, length: number): GpuTensor {
  if (t.split) throw new Error(`viewOf: tensor is split across ${t.split.parts.length} buffers; view its parts`);
  if (!(offset >= 0 && length >= 0 && offset + length <= t.length)) {
    throw new Error(`viewOf: [${offset}, ${offset + length}) outside a tensor of ${t.length} elements`);
  }
  return { buffer: t.buffer, offset: t.offset + offset, length, dtype: t.dtype };
}

/** The single-buffer tensor of an op that cannot take split ones. */
export function single(t: GpuTensor, where: string): GpuTensor {
  if (t.split)
    throw new Error(
      `${where}: tensor of ${t.length} elements is split across buffers (larger than one storage binding); this op takes single-buffer tensors`,
    );
  return t;
}

/** Parts of t as [rowStart, rows, tensor]; a single-buffer tensor is one part. */
export function rowParts(t: GpuTensor, rowWidth: number): { rowStart: number; rows: number; tensor: GpuTensor }[] {
  const totalRows = Math.floor(t.length / rowWidth);
  if (!t.split) return [{ rowStart: 0, rows: totalRows, tensor: t }];
  if (t.split.rowWidth !== rowWidth)
    throw new Error(`rowParts: tensor is split in rows of ${t.split.rowWidth}, asked for rows of ${rowWidth}`);
  return t.split.parts.map((p, i) => ({ rowStart: i * t.split!.rowsPerPart, rows: p.length / rowWidth, tensor: p }));
}

// --- f16 packing (CPU side) -------------------------------------------------------------------

// IEEE half bits, round-to-nearest-even; overflow gives ±Infinity (packF16 range-checks first).
export { f32ToF16Bits, f16BitsToF32 };

/** Largest finite half. */
export const F16_MAX = 65504;

/**
 * Packs f32 values into u32 words of two halves. A finite value outside the half range is an error
 * naming `what` (a weight that does not fit must stay f32 rather than silently become Infinity).
 */
export function packF16(src: ArrayLike<number>, what: string): Uint32Array {
  const n = src.length;
  const out = new Uint32Array(Math.ceil(n / 2));
  for (let i = 0; i < n; i++) {
    const v = src[i]!;
    if (Math.abs(v) > F16_MAX && Number.isFinite(v)) {
      throw new Error(`${what}: element ${i} = ${v} is outside the f16 range (±${F16_MAX}); keep this tensor in f32`);
    }
    const h = f32ToF16Bits(v);
    out[i >>> 1]! |= (i & 1 ? h << 16 : h) >>> 0;
  }
  return out;
}

export function unpackF16(words: Uint32Array, n: number, offset = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const j = offset + i;
    const w = words[j >>> 1]!;
    out[i] = f16BitsToF32(j & 1 ? w >>> 16 : w & 0xffff);
  }
  return out;
}

/** Whether every value of src fits the f16 range (so the tensor can be stored as f16). */
export function fitsF16(src: ArrayLike<number>): boolean {
  for (let i = 0; i < src.length; i++) {
    const v = Math.abs(src[i]!);
    if (v > F16_MAX && v !== Infinity) return false;
  }
  return true;
}

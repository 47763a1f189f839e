// Bulk data crosses threads as a descriptor over a SharedArrayBuffer, never element by element:
// the receiving thread builds a typed-array view over the same memory. Descriptors ride in the
// message envelope (structured clone shares a SharedArrayBuffer; it does not copy it).

export type DType = 'f32' | 'f64' | 'i32' | 'u32' | 'u8' | 'i8' | 'u16' | 'i16';

export interface SharedTensor {
  buffer: SharedArrayBuffer;
  dtype: DType;
  shape: number[];
  /** Offset in bytes into buffer. */
  byteOffset: number;
}

export type TypedArrayOf<D extends DType> = D extends 'f32'
  ? Float32Array
  : D extends 'f64'
    ? Float64Array
    : D extends 'i32'
      ? Int32Array
      : D extends 'u32'
        ? Uint32Array
        : D extends 'u8'
          ? Uint8Array
          : D extends 'i8'
            ? Int8Array
            : D extends 'u16'
              ? Uint16Array
              : Int16Array;

type AnyTypedArray =
  | Float32Array
  | Float64Array
  | Int32Array
  | Uint32Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array;

const CTORS = {
  f32: Float32Array,
  f64: Float64Array,
  i32: Int32Array,
  u32: Uint32Array,
  u8: Uint8Array,
  i8: Int8Array,
  u16: Uint16Array,
  i16: Int16Array,
} as const;

export const DTYPES = Object.keys(CTORS) as DType[];

export function bytesPerElement(dtype: DType): number {
  return CTORS[dtype].BYTES_PER_ELEMENT;
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Allocate a fresh shared tensor (zero-filled). */
export function allocSharedTensor<D extends DType>(dtype: D, shape: number[]): SharedTensor & { dtype: D } {
  const bytes = elementCount(shape) * bytesPerElement(dtype);
  // SharedArrayBuffer of length 0 is legal but a view over it is useless; keep at least 8 bytes.
  return { buffer: new SharedArrayBuffer(Math.max(8, bytes)), dtype, shape: [...shape], byteOffset: 0 };
}

/** Copy a typed array into a new shared tensor (one copy, done by the producer). */
export function toSharedTensor(data: AnyTypedArray, shape?: number[]): SharedTensor {
  const dtype = dtypeOf(data);
  const t = allocSharedTensor(dtype, shape ?? [data.length]);
  (tensorView(t) as AnyTypedArray).set(data as never);
  return t;
}

export function dtypeOf(data: AnyTypedArray): DType {
  for (const d of DTYPES) if (data instanceof CTORS[d]) return d;
  throw new Error('toSharedTensor: unsupported typed array ' + Object.prototype.toString.call(data));
}

/** A typed-array view over the shared memory of a descriptor (no copy). Throws naming the problem on a bad descriptor. */
export function tensorView<D extends DType>(t: SharedTensor & { dtype: D }): TypedArrayOf<D> {
  const problem = checkSharedTensor(t);
  if (problem) throw new Error('SharedTensor: ' + problem);
  const Ctor = CTORS[t.dtype] as unknown as new (b: SharedArrayBuffer, off: number, len: number) => TypedArrayOf<D>;
  return new Ctor(t.buffer, t.byteOffset, elementCount(t.shape));
}

/** Returns null when the descriptor is usable, otherwise a sentence naming the bad field. */
export function checkSharedTensor(t: unknown): string | null {
  if (t === null || typeof t !== 'object') return 'expected a SharedTensor object';
  const o = t as Record<string, unknown>;
  if (!(o.buffer instanceof SharedArrayBuffer)) return 'buffer: expected SharedArrayBuffer';
  if (typeof o.dtype !== 'string' || !(o.dtype in CTORS)) return `dtype: expected one of ${DTYPES.join('|')}`;
  if (!Array.isArray(o.shape) || !o.shape.every((d) => Number.isInteger(d) && d >= 0))
    return 'shape: expected non-negative integers';
  if (!Number.isInteger(o.byteOffset) || (o.byteOffset as number) < 0)
    return 'byteOffset: expected a non-negative integer';
  const bpe = bytesPerElement(o.dtype as DType);
  if ((o.byteOffset as number) % bpe !== 0) return `byteOffset: ${o.byteOffset} not aligned to ${bpe} bytes`;
  const end = (o.byteOffset as number) + elementCount(o.shape as number[]) * bpe;
  if (end > o.buffer.byteLength)
    return `shape: [${(o.shape as number[]).join(',')}] runs past the buffer end (${end} > ${o.buffer.byteLength} bytes)`;
  return null;
}

export function isSharedTensor(t: unknown): t is SharedTensor {
  return checkSharedTensor(t) === null;
}

/**
 * Write `rows` into ONE new shared buffer of `dtype`, back to back; returns one descriptor per row
 * (views of that buffer). The producer's single copy: every later hop passes the descriptors.
 */
export function packSharedRows(dtype: DType, rows: readonly ArrayLike<number>[]): SharedTensor[] {
  let total = 0;
  for (const r of rows) total += r.length;
  const all = allocSharedTensor(dtype, [total]);
  const view = tensorView(all) as AnyTypedArray;
  const out: SharedTensor[] = [];
  let at = 0;
  for (const r of rows) {
    view.set(r as never, at);
    out.push({ buffer: all.buffer, dtype, shape: [r.length], byteOffset: at * bytesPerElement(dtype) });
    at += r.length;
  }
  return out;
}

/** The descriptor of a typed array that lives in shared memory (no copy); any other is copied into a new shared tensor. */
export function describeShared(data: AnyTypedArray): SharedTensor {
  if (data.buffer instanceof SharedArrayBuffer)
    return { buffer: data.buffer, dtype: dtypeOf(data), shape: [data.length], byteOffset: data.byteOffset };
  return toSharedTensor(data);
}

/** Int32 ids in any message form as an Int32Array: a SharedTensor's view (no copy), an Int32Array as is, an array copied. */
export function int32View(x: SharedTensor | Int32Array | readonly number[]): Int32Array {
  if (x instanceof Int32Array) return x;
  if (isSharedTensor(x)) {
    if (x.dtype !== 'i32') throw new Error(`SharedTensor: dtype: expected i32, got ${x.dtype}`);
    return tensorView(x as SharedTensor & { dtype: 'i32' });
  }
  return Int32Array.from(x as readonly number[]);
}

/**
 * Log-probs in any message form as a Float32Array (log-probs are f32 throughout loractor): an f32
 * SharedTensor's view (no copy), a Float32Array as is; anything else is copied (and rounded to f32).
 */
export function float32View(x: SharedTensor | Float32Array | Float64Array | readonly number[]): Float32Array {
  if (x instanceof Float32Array) return x;
  if (isSharedTensor(x))
    return x.dtype === 'f32'
      ? tensorView(x as SharedTensor & { dtype: 'f32' })
      : Float32Array.from(tensorView(x) as ArrayLike<number>);
  return Float32Array.from(x as ArrayLike<number>);
}

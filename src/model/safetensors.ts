// safetensors read/write (F32, F16, BF16 → float32 in memory). Format: u64 little-endian header
// length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?},
// then the data block. Every header problem is an error naming the file (and tensor).
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../util/half.js';
import { closeSync, fstatSync, openSync, readSync, rmSync } from 'node:fs';
import { writeAll } from '../util/fs-write.js';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';
const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };
/** Whether this machine's typed arrays are little-endian, as safetensors' data is. */
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte range inside the data block. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  path: string;
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  /** Absolute file offset of the data block. */
  dataStart: number;
  /**
   * Set when some bytes of the data block belong to no tensor (a removed or duplicated header entry,
   * trailing garbage). Reported by loadModel / readSafetensors after their by-name checks, which name
   * the missing tensor more precisely.
   */
  unclaimed?: string;
}

export function readSafetensorsHeader(path: string): SafetensorsHeader {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new Error(`${path}: cannot open safetensors file (${(err as Error).message})`);
  }
  try {
    const size = fstatSync(fd).size;
    if (size < 8) throw new Error(`${path}: truncated safetensors file (${size} bytes, no header length)`);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const n = Number(lenBuf.readBigUInt64LE(0));
    if (n <= 0 || n > 100_000_000 || 8 + n > size)
      throw new Error(`${path}: corrupt or truncated safetensors header (header length ${n}, file size ${size})`);
    const hb = Buffer.alloc(n);
    readSync(fd, hb, 0, n, 8);
    let raw: unknown;
    try {
      raw = JSON.parse(hb.toString('utf8'));
    } catch (err) {
      throw new Error(`${path}: safetensors header is not valid JSON (${(err as Error).message})`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw new Error(`${path}: safetensors header must be a JSON object`);
    const dataStart = 8 + n;
    const dataSize = size - dataStart;
    const entries = new Map<string, SafetensorsEntry>();
    let metadata: Record<string, string> = {};
    for (const [name, v] of Object.entries(raw as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (
          v !== null &&
          (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string'))
        ) {
          throw new Error(
            `${path}: safetensors "__metadata__" must be an object of strings, got ${JSON.stringify(v).slice(0, 80)}`,
          );
        }
        metadata = (v ?? {}) as Record<string, string>;
        continue;
      }
      const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof e !== 'object' || e === null)
        throw new Error(`${path}: tensor "${name}": header entry is not an object`);
      if (e.dtype !== 'F32' && e.dtype !== 'F16' && e.dtype !== 'BF16')
        throw new Error(
          `${path}: tensor "${name}": unsupported dtype ${JSON.stringify(e.dtype)} (F32, F16, BF16 are supported)`,
        );
      if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0))
        throw new Error(`${path}: tensor "${name}": invalid shape ${JSON.stringify(e.shape)}`);
      const off = e.data_offsets;
      if (
        !Array.isArray(off) ||
        off.length !== 2 ||
        !off.every((d) => Number.isInteger(d) && d >= 0) ||
        off[1] < off[0]
      ) {
        throw new Error(`${path}: tensor "${name}": invalid data_offsets ${JSON.stringify(off)}`);
      }
      const count = (e.shape as number[]).reduce((a, b) => a * b, 1);
      const want = count * BYTES[e.dtype];
      if (off[1] - off[0] !== want)
        throw new Error(
          `${path}: tensor "${name}": data_offsets span ${off[1] - off[0]} bytes but shape ${JSON.stringify(e.shape)} of ${e.dtype} needs ${want}`,
        );
      if (off[1] > dataSize)
        throw new Error(
          `${path}: tensor "${name}": data ends at byte ${off[1]} but the file's data block has ${dataSize} bytes (truncated file?)`,
        );
      entries.set(name, { name, dtype: e.dtype, shape: e.shape as number[], begin: off[0], end: off[1] });
    }
    const unclaimed = checkCoverage(path, entries, dataSize);
    return { path, entries, metadata, dataStart, ...(unclaimed ? { unclaimed } : {}) };
  } finally {
    closeSync(fd);
  }
}

/**
 * The reference safetensors library requires the tensors to tile the data block exactly. Overlapping
 * tensors (a shifted or corrupt offset) are an error here; bytes no tensor claims (a removed or
 * duplicated header entry — JSON keeps the last — or trailing garbage) are returned as a message.
 */
function checkCoverage(path: string, entries: Map<string, SafetensorsEntry>, dataSize: number): string | undefined {
  const sorted = [...entries.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let prev = '';
  const gaps: string[] = [];
  for (const e of sorted) {
    if (e.begin < at)
      throw new Error(
        `${path}: tensor "${e.name}": data starts at byte ${e.begin}, inside the previous tensor "${prev}" (ends at ${at}): corrupt data_offsets`,
      );
    if (e.begin > at) gaps.push(`${at}..${e.begin}`);
    at = e.end;
    prev = e.name;
  }
  if (at < dataSize) gaps.push(`${at}..${dataSize}`);
  if (!gaps.length) return undefined;
  return `${path}: bytes ${gaps.slice(0, 3).join(', ')}${gaps.length > 3 ? ', …' : ''} of the data block belong to no tensor (a tensor entry removed or duplicated in the header, or trailing garbage)`;
}

/** Reads one tensor into `out` (float32, length = numel) — e.g. straight into a SharedArrayBuffer view. */
export function readTensorInto(h: SafetensorsHeader, name: string, out: Float32Array, expectShape?: number[]): void {
  const e = h.entries.get(name);
  if (!e) throw new Error(`${h.path}: tensor "${name}" is missing`);
  if (expectShape && (e.shape.length !== expectShape.length || e.shape.some((d, i) => d !== expectShape[i]))) {
    throw new Error(
      `${h.path}: tensor "${name}" has shape ${JSON.stringify(e.shape)}, expected ${JSON.stringify(expectShape)}`,
    );
  }
  const count = e.shape.reduce((a, b) => a * b, 1);
  if (out.length !== count)
    throw new Error(`${h.path}: tensor "${name}" has ${count} elements, destination holds ${out.length}`);
  const bytes = Buffer.alloc(e.end - e.begin);
  const fd = openSync(h.path, 'r');
  try {
    const got = readSync(fd, bytes, 0, bytes.length, h.dataStart + e.begin);
    if (got !== bytes.length)
      throw new Error(`${h.path}: tensor "${name}": read ${got} of ${bytes.length} bytes (truncated file?)`);
  } finally {
    closeSync(fd);
  }
  const bad = decodeInto(out, bytes, e.dtype);
  // NaN/Inf in base weights make every logit NaN later, far from the cause; name it here.
  if (bad >= 0)
    throw new Error(
      `${h.path}: tensor "${name}" holds a non-finite value (${out[bad]}) at index ${bad}: corrupt weights`,
    );
}

export function readSafetensors(path: string): {
  header: SafetensorsHeader;
  tensors: Map<string, { shape: number[]; dtype: SafetensorsDtype; data: Float32Array }>;
} {
  const header = readSafetensorsHeader(path);
  const tensors = new Map<string, { shape: number[]; dtype: SafetensorsDtype; data: Float32Array }>();
  for (const e of header.entries.values()) {
    const data = new Float32Array(e.shape.reduce((a, b) => a * b, 1));
    readTensorInto(header, e.name, data);
    tensors.set(e.name, { shape: e.shape, dtype: e.dtype, data });
  }
  if (header.unclaimed) throw new Error(header.unclaimed);
  return { header, tensors };
}

/** Decodes into `out`; returns the index of the first non-finite value, or -1. */
function decodeInto(out: Float32Array, bytes: Buffer, dtype: SafetensorsDtype): number {
  const n = out.length;
  if (LITTLE_ENDIAN && bytes.byteOffset % 4 === 0) {
    // The file's little-endian words read as typed arrays directly: a bf16 is the top half of its f32.
    if (dtype === 'F32') out.set(new Float32Array(bytes.buffer, bytes.byteOffset, n));
    else {
      const h = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
      if (dtype === 'F16') for (let i = 0; i < n; i++) out[i] = f16ToF32(h[i]!);
      else {
        const o = new Uint32Array(out.buffer, out.byteOffset, n);
        for (let i = 0; i < n; i++) o[i] = h[i]! << 16;
      }
    }
  } else {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (dtype === 'F32') for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
    else if (dtype === 'F16') for (let i = 0; i < n; i++) out[i] = f16ToF32(dv.getUint16(i * 2, true));
    else for (let i = 0; i < n; i++) out[i] = bf16ToF32(dv.getUint16(i * 2, true));
  }
  // x - x is 0 for finite x and NaN for NaN/±Inf: one branch-free pass, then a search only on failure.
  let acc = 0;
  for (let i = 0; i < n; i++) acc += out[i]! - out[i]!;
  if (acc === 0) return -1;
  for (let i = 0; i < n; i++) if (!Number.isFinite(out[i]!)) return i;
  return -1;
}

export { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 };

export interface TensorToWrite {
  name: string;
  shape: number[];
  /**
   * The values, or a function that makes them when this tensor's turn to be written comes (tensors
   * are made and written one at a time, in order, so a writer of a large model need not hold it whole).
   */
  data: ArrayLike<number> | (() => ArrayLike<number>);
  dtype?: SafetensorsDtype;
}

/** Values encoded per write: at most 1 Mi values (4 MiB of F32), one buffer reused for every tensor. */
const CHUNK_VALUES = 1 << 20;

/**
 * Writes tensors in the given order; the header is padded with spaces to 8-byte alignment. Each
 * tensor is encoded and written in chunks, so the file may exceed what one Buffer or one write can
 * hold (a 1.5B-parameter model in BF16 is 3.1 GB).
 */
export function writeSafetensors(path: string, tensors: TensorToWrite[], metadata: Record<string, string> = {}): void {
  for (const t of tensors) if (typeof t.data !== 'function') checkCount(path, t, t.data);
  const head = headerBytes(tensors, metadata);
  const largest = Math.max(0, ...tensors.map((t) => t.shape.reduce((a, b) => a * b, 1)));
  const chunk = Buffer.alloc(Math.min(largest, CHUNK_VALUES) * 4);
  const fd = openSync(path, 'w');
  let whole = false;
  try {
    writeAll(fd, head);
    for (const t of tensors) {
      const lazy = typeof t.data === 'function';
      const data = typeof t.data === 'function' ? t.data() : t.data;
      if (lazy) checkCount(path, t, data); // the others were checked before the file was opened
      writeTensor(fd, chunk, data, t.dtype ?? 'F32');
    }
    whole = true;
  } finally {
    closeSync(fd);
    // No half-written file: a reader would take it for a truncated one.
    if (!whole) rmSync(path, { force: true });
  }
}

function checkCount(path: string, t: TensorToWrite, data: ArrayLike<number>): void {
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (count !== data.length)
    throw new Error(
      `writeSafetensors ${path}: tensor "${t.name}" has ${data.length} values, shape ${JSON.stringify(t.shape)} needs ${count}`,
    );
}

/** u64 header length, then the JSON header (data offsets from the shapes) padded to 8 bytes. */
function headerBytes(tensors: TensorToWrite[], metadata: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let off = 0;
  for (const t of tensors) {
    const dtype = t.dtype ?? 'F32';
    const size = t.shape.reduce((a, b) => a * b, 1) * BYTES[dtype];
    header[t.name] = { dtype, shape: t.shape, data_offsets: [off, off + size] };
    off += size;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const hlen = Buffer.byteLength(json);
  const buf = Buffer.alloc(8 + hlen);
  buf.writeBigUInt64LE(BigInt(hlen), 0);
  buf.write(json, 8, 'utf8');
  return buf;
}

/** One tensor's values, encoded as dtype (little-endian) a chunk at a time. */
function writeTensor(fd: number, chunk: Buffer, data: ArrayLike<number>, dtype: SafetensorsDtype): void {
  const dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  const n = data.length;
  for (let i0 = 0; i0 < n; i0 += CHUNK_VALUES) {
    const i1 = Math.min(n, i0 + CHUNK_VALUES);
    let p = 0;
    if (dtype === 'F32') for (let i = i0; i < i1; i++, p += 4) dv.setFloat32(p, data[i]!, true);
    else if (dtype === 'F16') for (let i = i0; i < i1; i++, p += 2) dv.setUint16(p, f32ToF16(data[i]!), true);
    else for (let i = i0; i < i1; i++, p += 2) dv.setUint16(p, f32ToBf16(data[i]!), true);
    writeAll(fd, chunk.subarray(0, p));
  }
}

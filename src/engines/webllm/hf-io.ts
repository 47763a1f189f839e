// Minimal Hugging Face checkpoint I/O used by the WebLLM path (tools/convert-to-mlc, the CPU
// reference forward, the synthetic test checkpoint): safetensors read/write for F32/F16/BF16 and
// the bf16/f16 bit conversions MLC's shard records use. Kept deliberately small and local so the
// WebLLM path does not block on src/model; when src/model/safetensors.ts settles, callers can move.
import { closeSync, openSync, readSync, statSync, writeSync } from 'node:fs';

export type StDtype = 'F32' | 'F16' | 'BF16';
const BYTES: Record<StDtype, number> = { F32: 4, F16: 2, BF16: 2 };

export interface StTensorInfo {
  name: string;
  dtype: StDtype;
  shape: number[];
  /** Absolute byte offset of the data in the file. */
  start: number;
  nbytes: number;
}

/** Parse a safetensors header; every malformed field is reported with the file and tensor name. */
export function readSafetensorsHeader(file: string): Map<string, StTensorInfo> {
  const size = statSync(file).size;
  if (size < 8) throw new Error(`${file}: not a safetensors file (size ${size} < 8)`);
  const fd = openSync(file, 'r');
  try {
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const hlen = Number(lenBuf.readBigUInt64LE(0));
    if (hlen <= 0 || 8 + hlen > size) throw new Error(`${file}: header length ${hlen} exceeds file size ${size}`);
    const hbuf = Buffer.alloc(hlen);
    readSync(fd, hbuf, 0, hlen, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(hbuf.toString('utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${file}: header is not valid JSON (${(e as Error).message})`);
    }
    const out = new Map<string, StTensorInfo>();
    for (const [name, v] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const info = v as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
      const dtype = info.dtype as StDtype;
      if (!(dtype in BYTES)) throw new Error(`${file}: tensor ${name}: unsupported dtype ${String(info.dtype)} (F32, F16, BF16)`);
      if (!Array.isArray(info.shape) || !Array.isArray(info.data_offsets)) throw new Error(`${file}: tensor ${name}: missing shape or data_offsets`);
      const [a, b] = info.data_offsets;
      const count = info.shape.reduce((x, y) => x * y, 1);
      if (b - a !== count * BYTES[dtype]) throw new Error(`${file}: tensor ${name}: ${b - a} bytes for shape [${info.shape}] ${dtype}`);
      if (8 + hlen + b > size) throw new Error(`${file}: tensor ${name}: data past end of file (truncated?)`);
      out.set(name, { name, dtype, shape: info.shape, start: 8 + hlen + a, nbytes: b - a });
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Read one tensor's raw bytes. */
export function readTensorBytes(file: string, info: StTensorInfo): Uint8Array {
  const buf = new Uint8Array(info.nbytes);
  const fd = openSync(file, 'r');
  try {
    let done = 0;
    while (done < info.nbytes) {
      const n = readSync(fd, buf, done, Math.min(info.nbytes - done, 1 << 28), info.start + done);
      if (n <= 0) throw new Error(`${file}: tensor ${info.name}: short read`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return buf;
}

/** Read one tensor widened to f32. */
export function readTensorF32(file: string, info: StTensorInfo): Float32Array {
  const raw = readTensorBytes(file, info);
  if (info.dtype === 'F32') return new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const h = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
  return info.dtype === 'BF16' ? bf16ToF32(h) : f16ToF32(h);
}

export interface StWriteTensor {
  name: string;
  dtype: StDtype;
  shape: number[];
  /** Raw little-endian bytes of the tensor. */
  bytes: Uint8Array;
}

/** Write a safetensors file tensor by tensor (no whole-file buffer). */
export function writeSafetensors(file: string, tensors: StWriteTensor[], metadata: Record<string, string> = { format: 'pt' }): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.byteLength] };
    off += t.bytes.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const hb = Buffer.from(json, 'utf8');
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(hb.byteLength));
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, lenBuf);
    writeSync(fd, hb);
    for (const t of tensors) writeAll(fd, t.bytes);
  } finally {
    closeSync(fd);
  }
}

export function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) done += writeSync(fd, bytes, done, Math.min(bytes.byteLength - done, 1 << 28));
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** f32 → bf16 bits, round to nearest even (what MLC's f32-to-bf16 storage and torch do). */
export function f32ToBf16(src: Float32Array, dst = new Uint16Array(src.length)): Uint16Array {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const x = u[i]!;
    if ((x & 0x7fffffff) > 0x7f800000) { dst[i] = (x >>> 16) | 0x40; continue; } // NaN stays NaN
    dst[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return dst;
}

export function bf16ToF32(src: Uint16Array, dst = new Float32Array(src.length)): Float32Array {
  const u = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) u[i] = src[i]! << 16;
  return dst;
}

export function f16ToF32(src: Uint16Array, dst = new Float32Array(src.length)): Float32Array {
  for (let i = 0; i < src.length; i++) {
    const h = src[i]!;
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    dst[i] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return dst;
}

/** f32 → f16 bits, round to nearest even. */
export function f32ToF16(src: Float32Array, dst = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) {
    f32Scratch[0] = src[i]!;
    const x = u32Scratch[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) { dst[i] = sign | 0x7c00 | (mant ? 0x200 : 0); continue; }
    let e = exp - 127 + 15;
    if (e >= 31) { dst[i] = sign | 0x7c00; continue; }
    if (e <= 0) {
      if (e < -10) { dst[i] = sign; continue; }
      mant |= 0x800000;
      const shift = 14 - e;
      const half = 1 << (shift - 1);
      let r = mant >>> shift;
      const rem = mant & ((1 << shift) - 1);
      if (rem > half || (rem === half && (r & 1))) r++;
      dst[i] = sign | r;
      continue;
    }
    let r = (e << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (r & 1))) r++;
    dst[i] = sign | r;
  }
  return dst;
}

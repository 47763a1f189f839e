// Scalar half-precision conversions (IEEE f16 and bf16 bits), round to nearest even. Pure functions:
// the safetensors reader/writer and the WebGPU f16 packing (which must run in a browser too) share them.

const cvt = new DataView(new ArrayBuffer(4));

export function bf16ToF32(h: number): number {
  cvt.setUint32(0, h << 16);
  return cvt.getFloat32(0);
}

/** float32 → bf16 bits, round to nearest even (NaN stays NaN). */
export function f32ToBf16(x: number): number {
  cvt.setFloat32(0, x);
  const u = cvt.getUint32(0);
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) return (u >>> 16) | 0x40;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** f16 bits (the low 16 bits of h) → the value, exactly: one lookup in a table of all 65,536. */
export function f16ToF32(h: number): number {
  return (f16Table ?? buildF16Table())[h & 0xffff]!;
}

// Every f16 is exact in f32, so a table read gives the formula's values; the formula's `2 **` (a
// Math.pow call) cost about 40 ns per value, in loops over whole weight matrices.
let f16Table: Float32Array | undefined;

function buildF16Table(): Float32Array {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    t[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  f16Table = t;
  return t;
}

/** float32 → f16 bits, round to nearest even, overflow to ±Inf. */
export function f32ToF16(x: number): number {
  cvt.setFloat32(0, x);
  const u = cvt.getUint32(0);
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

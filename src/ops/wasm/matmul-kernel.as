// WASM-SIMD single-precision GEMM kernel (AssemblyScript; compiled by tools/build-steps/wasm-matmul.mjs).
// The file extension is .as, not .ts, so that the project's tsc (which does not know v128) skips it.
//
// Computes rows [row0, row1) of C[M,N] (+)= op(A) · op(B), where op(A) is A[M,K] or A[K,M]^T and
// op(B) is B[K,N] or B[N,K]^T. All pointers are byte offsets into one shared linear memory so that
// several threads can each compute their own rows of the same product.
//
// Structure (GotoBLAS-style): B is packed once per product by packB into K-blocks of KC rows, each
// block cut into 8-column panels laid out [p][8] (zero-padded past N). Each thread then, per K-block,
// packs MC rows of op(A) into 4-row tiles laid out [p][4] (zero-padded past its last row) and runs a
// 4x8 register-tile micro-kernel: 8 f32x4 accumulators, per p two B vector loads and four A splats.
// 4x8 keeps 8 accumulators + 2 B + 1 A + 1 temp within x64's 16 xmm registers (no spills).

const KC: i32 = 256; // K-block: a 8xKC B micro-panel is 8 KiB (stays in L1), 4xKC A tile 4 KiB
const MC: i32 = 128; // rows of A packed at once: MC*KC*4 = 128 KiB (stays in L2)

/** Floats of packed-A scratch one thread needs (plus a 4x8 edge tile). */
export function scratchFloats(): i32 {
  return MC * KC + 32;
}

/** Pack all of op(B) into dst: K-block at float offset p0*N8, panel jp at + jp*8*kcLen. */
export function packB(dst: i32, b: i32, k: i32, n: i32, transB: i32): void {
  const n8 = (n + 7) & ~7;
  for (let p0 = 0; p0 < k; p0 += KC) {
    const kc = min(KC, k - p0);
    const blk = dst + ((p0 * n8) << 2);
    for (let j0 = 0; j0 < n; j0 += 8) {
      const panel = blk + ((j0 * kc) << 2);
      const nj = min(8, n - j0);
      if (!transB) {
        // B[K,N]: each p contributes 8 contiguous floats
        if (nj == 8) {
          for (let p = 0; p < kc; p++) {
            const src = b + (((p0 + p) * n + j0) << 2);
            const d = panel + (p << 5);
            v128.store(d, v128.load(src));
            v128.store(d, v128.load(src, 16), 16);
          }
        } else {
          for (let p = 0; p < kc; p++) {
            const src = b + (((p0 + p) * n + j0) << 2);
            const d = panel + (p << 5);
            for (let jj = 0; jj < 8; jj++) store<f32>(d + (jj << 2), jj < nj ? load<f32>(src + (jj << 2)) : 0);
          }
        }
      } else {
        // B[N,K]: column j of op(B) is row j of B; read it contiguously, scatter with stride 8
        for (let jj = 0; jj < 8; jj++) {
          const d = panel + (jj << 2);
          if (jj < nj) {
            const src = b + (((j0 + jj) * k + p0) << 2);
            for (let p = 0; p < kc; p++) store<f32>(d + (p << 5), load<f32>(src + (p << 2)));
          } else {
            for (let p = 0; p < kc; p++) store<f32>(d + (p << 5), 0);
          }
        }
      }
    }
  }
}

// Pack rows [i0, i0+mr) x cols [p0, p0+kc) of op(A) into 4-row tiles [t][p][4], zero-padded to 4 rows.
function packA(dst: i32, a: i32, m: i32, k: i32, i0: i32, mr: i32, p0: i32, kc: i32, transA: i32): void {
  for (let t = 0; t < mr; t += 4) {
    const tile = dst + ((t * kc) << 2);
    const rows = min(4, mr - t);
    if (transA) {
      // A[K,M]: the 4 rows of a tile are 4 contiguous floats at each p
      const base = a + ((p0 * m + i0 + t) << 2);
      if (rows == 4) {
        for (let p = 0; p < kc; p++) v128.store(tile + (p << 4), v128.load(base + ((p * m) << 2)));
      } else {
        for (let p = 0; p < kc; p++) {
          const src = base + ((p * m) << 2);
          for (let r = 0; r < 4; r++) store<f32>(tile + (p << 4) + (r << 2), r < rows ? load<f32>(src + (r << 2)) : 0);
        }
      }
    } else {
      // A[M,K]: read each row contiguously, scatter with stride 4
      for (let r = 0; r < 4; r++) {
        const d = tile + (r << 2);
        if (r < rows) {
          const src = a + (((i0 + t + r) * k + p0) << 2);
          for (let p = 0; p < kc; p++) store<f32>(d + (p << 4), load<f32>(src + (p << 2)));
        } else {
          for (let p = 0; p < kc; p++) store<f32>(d + (p << 4), 0);
        }
      }
    }
  }
}

// The 4x8 micro-kernel: C tile at c (row stride ldc floats) (+)= packed A tile · packed B panel.
// @inline so that the accumulators live in registers of the caller's loop without call overhead.
// @ts-ignore: decorator
@inline
function kernel4x8(c: i32, ldc: i32, ap: i32, bp: i32, kc: i32, loadC: bool): void {
  const r1 = c + (ldc << 2);
  const r2 = r1 + (ldc << 2);
  const r3 = r2 + (ldc << 2);
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  if (loadC) {
    c00 = v128.load(c); c01 = v128.load(c, 16);
    c10 = v128.load(r1); c11 = v128.load(r1, 16);
    c20 = v128.load(r2); c21 = v128.load(r2, 16);
    c30 = v128.load(r3); c31 = v128.load(r3, 16);
  }
  const end = ap + (kc << 4);
  while (ap < end) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let av = v128.load32_splat(ap);
    c00 = f32x4.add(c00, f32x4.mul(av, b0));
    c01 = f32x4.add(c01, f32x4.mul(av, b1));
    av = v128.load32_splat(ap, 4);
    c10 = f32x4.add(c10, f32x4.mul(av, b0));
    c11 = f32x4.add(c11, f32x4.mul(av, b1));
    av = v128.load32_splat(ap, 8);
    c20 = f32x4.add(c20, f32x4.mul(av, b0));
    c21 = f32x4.add(c21, f32x4.mul(av, b1));
    av = v128.load32_splat(ap, 12);
    c30 = f32x4.add(c30, f32x4.mul(av, b0));
    c31 = f32x4.add(c31, f32x4.mul(av, b1));
    ap += 16;
    bp += 32;
  }
  v128.store(c, c00); v128.store(c, c01, 16);
  v128.store(r1, c10); v128.store(r1, c11, 16);
  v128.store(r2, c20); v128.store(r2, c21, 16);
  v128.store(r3, c30); v128.store(r3, c31, 16);
}

/**
 * Rows [row0, row1) of C (+)= op(A)·op(B) with op(B) already packed at bp by packB.
 * scratch: scratchFloats() floats private to the calling thread.
 */
export function gemmRows(
  c: i32, a: i32, bp: i32, m: i32, k: i32, n: i32,
  row0: i32, row1: i32, transA: i32, accumulate: i32, scratch: i32,
): void {
  const n8 = (n + 7) & ~7;
  const edge = scratch + ((MC * KC) << 2); // 4x8 tile for partial tiles at the right/bottom edges
  if (k == 0) {
    if (!accumulate) memory.fill(c + ((row0 * n) << 2), 0, ((row1 - row0) * n) << 2);
    return;
  }
  for (let p0 = 0; p0 < k; p0 += KC) {
    const kc = min(KC, k - p0);
    const loadC = accumulate != 0 || p0 > 0;
    const bblk = bp + ((p0 * n8) << 2);
    for (let i0 = row0; i0 < row1; i0 += MC) {
      const mr = min(MC, row1 - i0);
      packA(scratch, a, m, k, i0, mr, p0, kc, transA);
      for (let j0 = 0; j0 < n; j0 += 8) {
        const panel = bblk + ((j0 * kc) << 2);
        const nj = min(8, n - j0);
        for (let t = 0; t < mr; t += 4) {
          const ap = scratch + ((t * kc) << 2);
          const ci = c + (((i0 + t) * n + j0) << 2);
          const rows = min(4, mr - t);
          if (rows == 4 && nj == 8) {
            kernel4x8(ci, n, ap, panel, kc, loadC);
          } else {
            // partial tile: run the full kernel on a private 4x8 copy, then write back the valid part
            for (let r = 0; r < 4; r++) {
              for (let jj = 0; jj < 8; jj++) {
                const v: f32 = loadC && r < rows && jj < nj ? load<f32>(ci + ((r * n + jj) << 2)) : 0;
                store<f32>(edge + ((r * 8 + jj) << 2), v);
              }
            }
            kernel4x8(edge, 8, ap, panel, kc, true);
            for (let r = 0; r < rows; r++) {
              for (let jj = 0; jj < nj; jj++) store<f32>(ci + ((r * n + jj) << 2), load<f32>(edge + ((r * 8 + jj) << 2)));
            }
          }
        }
      }
    }
  }
}

/**
 * C[M,N] (+)= A[M,K] · B[N,K]^T for a handful of rows (decode steps): dot products straight from B,
 * no packing, so each weight row is read once per call while it sits in L1 for all M rows.
 */
export function gemvNT(c: i32, a: i32, b: i32, m: i32, k: i32, n: i32, accumulate: i32): void {
  const k4 = k & ~3;
  for (let j = 0; j < n; j++) {
    const bj = b + ((j * k) << 2);
    for (let i = 0; i < m; i++) {
      const ai = a + ((i * k) << 2);
      let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
      let p = 0;
      for (; p + 8 <= k4; p += 8) {
        s0 = f32x4.add(s0, f32x4.mul(v128.load(ai + (p << 2)), v128.load(bj + (p << 2))));
        s1 = f32x4.add(s1, f32x4.mul(v128.load(ai + (p << 2), 16), v128.load(bj + (p << 2), 16)));
      }
      for (; p < k4; p += 4) s0 = f32x4.add(s0, f32x4.mul(v128.load(ai + (p << 2)), v128.load(bj + (p << 2))));
      s0 = f32x4.add(s0, s1);
      let s: f32 = f32x4.extract_lane(s0, 0) + f32x4.extract_lane(s0, 1) + f32x4.extract_lane(s0, 2) + f32x4.extract_lane(s0, 3);
      for (; p < k; p++) s += load<f32>(ai + (p << 2)) * load<f32>(bj + (p << 2));
      const ci = c + ((i * n + j) << 2);
      store<f32>(ci, accumulate ? load<f32>(ci) + s : s);
    }
  }
}

// Matrix products used by every layer. Row-major, dense, no strides: callers pass subarray views.
// This file is the single entry point for matmul. Float32Array products above a few thousand FLOPs
// run on the WASM-SIMD kernel with row-parallel helper threads (src/ops/wasm/); Float64Array inputs
// (gradient checks), mixed types and tiny products take the plain loops below.
//
//   matmulNN: C[M,N] (+)= A[M,K] · B[K,N]
//   matmulNT: C[M,N] (+)= A[M,K] · B[N,K]^T   (linear layer: y = x · W^T with HF weight [out, in])
//   matmulTN: C[M,N] (+)= A[K,M]^T · B[K,N]   (weight gradient: dW = dY^T · X)
// accumulate=false overwrites C; true adds into it.
import type { FloatArray } from './types.js';
import { gemmF32 } from './wasm/matmul-wasm.js';

export {
  configureMatmulThreads,
  matmulKernelStats,
  matmulThreadCount,
  shutdownMatmulThreads,
  warmUpMatmulThreads,
  wasmKernelStatus,
} from './wasm/matmul-wasm.js';
export type { MatmulThreadOptions } from './wasm/matmul-wasm.js';

export type { FloatArray };

// Below this many FLOPs (2·M·N·K) the copies into the kernel's arena cost more than the loops save.
let wasmMinFlops = 16384;

/** Products below minFlops use the plain loops (tests set 0 to push every shape through the kernel). */
export function configureMatmulKernel(opts: { minFlops?: number; enabled?: boolean }): void {
  if (opts.minFlops !== undefined) {
    if (!(opts.minFlops >= 0)) throw new Error(`matmul minFlops must be >= 0, got ${opts.minFlops}`);
    wasmMinFlops = opts.minFlops;
  }
  if (opts.enabled !== undefined) kernelEnabled = opts.enabled;
}
let kernelEnabled = true;

function check(name: string, c: FloatArray, a: FloatArray, b: FloatArray, m: number, k: number, n: number): void {
  if (!(Number.isInteger(m) && Number.isInteger(k) && Number.isInteger(n) && m >= 0 && k >= 0 && n >= 0)) {
    throw new Error(`${name}: dimensions must be non-negative integers, got m=${m} k=${k} n=${n}`);
  }
  if (a.length < m * k) throw new Error(`${name}: a has ${a.length} elements, needs m*k = ${m}*${k} = ${m * k}`);
  if (b.length < k * n) throw new Error(`${name}: b has ${b.length} elements, needs k*n = ${k}*${n} = ${k * n}`);
  if (c.length < m * n) throw new Error(`${name}: c has ${c.length} elements, needs m*n = ${m}*${n} = ${m * n}`);
}

function useKernel(c: FloatArray, a: FloatArray, b: FloatArray, m: number, k: number, n: number): boolean {
  return (
    kernelEnabled &&
    c instanceof Float32Array &&
    a instanceof Float32Array &&
    b instanceof Float32Array &&
    2 * m * n * k >= wasmMinFlops
  );
}

export function matmulNN(
  c: FloatArray,
  a: FloatArray,
  b: FloatArray,
  m: number,
  k: number,
  n: number,
  accumulate = false,
): void {
  check('matmulNN', c, a, b, m, k, n);
  if (
    useKernel(c, a, b, m, k, n) &&
    gemmF32(c as Float32Array, a as Float32Array, b as Float32Array, m, k, n, false, false, accumulate)
  )
    return;
  matmulNNPlain(c, a, b, m, k, n, accumulate);
}

export function matmulNT(
  c: FloatArray,
  a: FloatArray,
  b: FloatArray,
  m: number,
  k: number,
  n: number,
  accumulate = false,
): void {
  check('matmulNT', c, a, b, m, k, n);
  if (
    useKernel(c, a, b, m, k, n) &&
    gemmF32(c as Float32Array, a as Float32Array, b as Float32Array, m, k, n, false, true, accumulate)
  )
    return;
  matmulNTPlain(c, a, b, m, k, n, accumulate);
}

export function matmulTN(
  c: FloatArray,
  a: FloatArray,
  b: FloatArray,
  m: number,
  k: number,
  n: number,
  accumulate = false,
): void {
  check('matmulTN', c, a, b, m, k, n);
  if (
    useKernel(c, a, b, m, k, n) &&
    gemmF32(c as Float32Array, a as Float32Array, b as Float32Array, m, k, n, true, false, accumulate)
  )
    return;
  matmulTNPlain(c, a, b, m, k, n, accumulate);
}

// The plain loops: reference semantics, the Float64 path, and the fallback when the kernel is missing.

export function matmulNNPlain(
  c: FloatArray,
  a: FloatArray,
  b: FloatArray,
  m: number,
  k: number,
  n: number,
  accumulate = false,
): void {
  if (!accumulate) c.fill(0, 0, m * n);
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p]!;
      if (av === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) c[ci + j]! += av * b[bp + j]!;
    }
  }
}

export function matmulNTPlain(
  c: FloatArray,
  a: FloatArray,
  b: FloatArray,
  m: number,
  k: number,
  n: number,
  accumulate = false,
): void {
  for (let i = 0; i < m; i++) {
    const ai = i * k;
    for (let j = 0; j < n; j++) {
      const bj = j * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += a[ai + p]! * b[bj + p]!;
      if (accumulate) c[i * n + j]! += s;
      else c[i * n + j] = s;
    }
  }
}

export function matmulTNPlain(
  c: FloatArray,
  a: FloatArray,
  b: FloatArray,
  m: number,
  k: number,
  n: number,
  accumulate = false,
): void {
  if (!accumulate) c.fill(0, 0, m * n);
  for (let p = 0; p < k; p++) {
    const ap = p * m;
    const bp = p * n;
    for (let i = 0; i < m; i++) {
      const av = a[ap + i]!;
      if (av === 0) continue;
      const ci = i * n;
      for (let j = 0; j < n; j++) c[ci + j]! += av * b[bp + j]!;
    }
  }
}

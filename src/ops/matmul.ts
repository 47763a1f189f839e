// Matrix products used by every layer. Row-major, dense, no strides: callers pass subarray views.
// This file is the single entry point for matmul; faster implementations (WASM-SIMD, row-parallel
// threads) plug in behind these same three functions. Float64Array inputs always take the plain
// path (used by gradient checks).
//
//   matmulNN: C[M,N] (+)= A[M,K] · B[K,N]
//   matmulNT: C[M,N] (+)= A[M,K] · B[N,K]^T   (linear layer: y = x · W^T with HF weight [out, in])
//   matmulTN: C[M,N] (+)= A[K,M]^T · B[K,N]   (weight gradient: dW = dY^T · X)
// accumulate=false overwrites C; true adds into it.

export type FloatArray = Float32Array | Float64Array;

export function matmulNN(c: FloatArray, a: FloatArray, b: FloatArray, m: number, k: number, n: number, accumulate = false): void {
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

export function matmulNT(c: FloatArray, a: FloatArray, b: FloatArray, m: number, k: number, n: number, accumulate = false): void {
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

export function matmulTN(c: FloatArray, a: FloatArray, b: FloatArray, m: number, k: number, n: number, accumulate = false): void {
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

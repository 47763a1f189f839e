// Types shared by the WASM-SIMD matmul driver (matmul-wasm.ts), its thread pool (matmul-pool.ts)
// and the helper workers. The project compiles against lib ES2023 + @types/node 20, which do not
// declare WebAssembly; these are the few parts used.
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}
export type WasmModule = object;

/** The functions the AssemblyScript kernel (matmul-kernel.as) exports. */
export interface KernelExports {
  scratchFloats(): number;
  packB(dst: number, b: number, k: number, n: number, transB: number): void;
  gemvNT(c: number, a: number, b: number, m: number, k: number, n: number, accumulate: number): void;
  gemmRows(
    c: number,
    a: number,
    bp: number,
    m: number,
    k: number,
    n: number,
    row0: number,
    row1: number,
    transA: number,
    accumulate: number,
    scratch: number,
  ): void;
}

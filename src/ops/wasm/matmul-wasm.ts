// Float32 GEMM on the WASM-SIMD kernel (matmul-kernel.as), row-parallel over helper worker threads.
//
// Every thread that calls matmul (the main thread, a learner actor's worker, ...) gets its own state
// here (module state is per isolate): one shared WebAssembly.Memory arena, the kernel instance, and
// (threads-1) helper workers that map the same arena. A product copies A and B into the arena (O(n²)
// next to O(n³) compute), packs B once, then the caller and the helpers claim chunks of rows of C
// (matmul-pool.ts); the caller blocks on Atomics.wait until the last chunk is done, so the API stays
// synchronous. Helpers are unref'd (never keep a process alive) and die with the thread that made them.
// Results do not depend on the thread count: every element of C sees the same operations in the same
// order whichever thread computes its row (bit-identical; runs stay reproducible).
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { KernelExports, WasmMemory, WasmModule } from './kernel-types.js';
import { createPool, retirePool, runParallel, spawnHelpers, waitReady, type Pool } from './matmul-pool.js';

interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: unknown };
  Memory: new (desc: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const WASM_PAGE = 65536;
const MAX_PAGES = 32768; // 2 GiB arena ceiling (the kernel declares up to 4 GiB)
const ARENA_BASE = 1024; // the kernel has no data segments; keep the first KiB free anyway

interface WasmState {
  memory: WasmMemory;
  module: WasmModule;
  kernel: KernelExports;
  f32: Float32Array; // view of the whole arena (renewed after growth)
  scratchBytes: number;
  pool: Pool;
}

let threadCount = defaultThreadCount();
const GEMV_MAX_ROWS = 4; // NT products with this few rows (decode steps) skip packing: measured 2-4x faster for m=1
let parallelMinFlops = 4e6; // below ~0.2 ms of work, waking a helper costs more than it saves
let state: WasmState | null = null;
let loadError: Error | null = null;
const stats = { kernelProducts: 0, parallelProducts: 0, helperChunks: 0 };

/**
 * Counts for products issued from this thread: run on the kernel; offered to helper threads; row
 * chunks that helpers computed (products are shared dynamically, so a busy helper may take none).
 */
export function matmulKernelStats(): { kernelProducts: number; parallelProducts: number; helperChunks: number } {
  return { ...stats };
}

function defaultThreadCount(): number {
  const env = process.env.LORACTOR_MATMUL_THREADS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`LORACTOR_MATMUL_THREADS must be an integer >= 1, got "${env}"`);
    return n;
  }
  return availableParallelism();
}

export interface MatmulThreadOptions {
  /** Threads computing one product, the caller included (default os.availableParallelism() or $LORACTOR_MATMUL_THREADS). */
  threads?: number;
  /** Products below this many FLOPs (2·M·N·K) stay on the calling thread (default 4e6). */
  parallelMinFlops?: number;
}

/** Set the thread count / threshold for products issued from this thread. Changing threads retires current helpers. */
export function configureMatmulThreads(opts: MatmulThreadOptions): void {
  if (opts.threads !== undefined) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1)
      throw new Error(`matmul threads must be an integer >= 1, got ${opts.threads}`);
    if (opts.threads !== threadCount && state) {
      void retirePool(state.pool);
      state.pool = createPool();
    }
    threadCount = opts.threads;
  }
  if (opts.parallelMinFlops !== undefined) {
    if (!(opts.parallelMinFlops >= 0))
      throw new Error(`matmul parallelMinFlops must be >= 0, got ${opts.parallelMinFlops}`);
    parallelMinFlops = opts.parallelMinFlops;
  }
}

export function matmulThreadCount(): number {
  return threadCount;
}

/** URL of the compiled kernel, next to this module in dist/ (written by tools/build-steps/wasm-matmul.mjs). */
export function kernelWasmUrl(): URL {
  return new URL('./matmul-kernel.wasm', import.meta.url);
}

export function instantiateKernel(module: WasmModule, memory: WasmMemory): KernelExports {
  return new WA.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
}

function load(): WasmState | null {
  if (state || loadError) return state;
  try {
    const module = new WA.Module(readFileSync(kernelWasmUrl()));
    const memory = new WA.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
    const kernel = instantiateKernel(module, memory);
    state = {
      memory,
      module,
      kernel,
      f32: new Float32Array(memory.buffer),
      scratchBytes: align(kernel.scratchFloats() * 4),
      pool: createPool(),
    };
  } catch (err) {
    loadError = new Error(
      `matmul: WASM-SIMD kernel unavailable (${kernelWasmUrl().pathname}): ${(err as Error).message}`,
    );
    // say it once: Float32 products still run (plain loops), about 20x slower
    console.warn(`loractor: ${loadError.message}; using plain loops (run npm run build)`);
  }
  return state;
}

/** 'wasm-simd' when the kernel loaded, else the reason Float32 products fall back to plain loops. */
export function wasmKernelStatus(): { ok: true } | { ok: false; reason: string } {
  load();
  return state ? { ok: true } : { ok: false, reason: loadError!.message };
}

function align(bytes: number): number {
  return (bytes + 63) & ~63; // cache-line alignment for every region
}

/** Grow the arena to hold `bytes`; false when that is over the ceiling (the caller then uses plain loops). */
function ensureBytes(s: WasmState, bytes: number): boolean {
  const have = s.memory.buffer.byteLength;
  if (bytes <= have) return true;
  const pages = Math.ceil((bytes - have) / WASM_PAGE);
  if (have / WASM_PAGE + pages > MAX_PAGES) {
    if (!warnedTooBig)
      console.warn(
        `loractor: a matmul needs ${(bytes / 2 ** 20).toFixed(0)} MiB of kernel arena (limit ${MAX_PAGES / 16} MiB); such products use plain loops`,
      );
    warnedTooBig = true;
    return false;
  }
  s.memory.grow(pages);
  s.f32 = new Float32Array(s.memory.buffer);
  return true;
}
let warnedTooBig = false;

function scratchOf(s: WasmState): (thread: number) => number {
  return (thread) => ARENA_BASE + s.scratchBytes * thread;
}

/** Stop this thread's helper workers (they are unref'd, so this is only needed for a tidy shutdown). */
export async function shutdownMatmulThreads(): Promise<void> {
  if (!state) return;
  const old = state.pool;
  state.pool = createPool();
  await retirePool(old);
}

/** Start this thread's helpers now and resolve when all are ready (products before that run without them). */
export async function warmUpMatmulThreads(timeoutMs = 10_000): Promise<number> {
  const s = load();
  if (!s) return 1;
  spawnHelpers(s.pool, threadCount - 1, s.memory, s.module, scratchOf(s));
  await waitReady(s.pool, timeoutMs);
  return 1 + s.pool.helpers.length;
}

/**
 * C[M,N] (+)= op(A)·op(B) in Float32 on the kernel. Returns false (nothing done) when the kernel is
 * unavailable or the product would not fit the arena ceiling, so the caller can use its plain path.
 */
export function gemmF32(
  c: Float32Array,
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  transA: boolean,
  transB: boolean,
  accumulate: boolean,
): boolean {
  const s = load();
  if (!s) return false;
  const parallel = threadCount > 1 && m >= 32 && 2 * m * n * k >= parallelMinFlops;
  if (parallel && s.pool.helpers.length < threadCount - 1)
    spawnHelpers(s.pool, threadCount - 1, s.memory, s.module, scratchOf(s));

  // arena layout: [base][scratch × threads][A][B][C][packed B]
  const n8 = (n + 7) & ~7;
  const offA = ARENA_BASE + s.scratchBytes * threadCount;
  const offB = offA + align(m * k * 4);
  const offC = offB + align(k * n * 4);
  const offP = offC + align(m * n * 4);
  if (!ensureBytes(s, offP + align(k * n8 * 4))) return false;
  const f = s.f32;
  f.set(a.subarray(0, m * k), offA >> 2);
  f.set(b.subarray(0, k * n), offB >> 2);
  if (accumulate) f.set(c.subarray(0, m * n), offC >> 2);
  stats.kernelProducts++;
  if (transB && !transA && m <= GEMV_MAX_ROWS) {
    // decode-sized x·Wᵀ: packing W would cost more than the product itself
    s.kernel.gemvNT(offC, offA, offB, m, k, n, accumulate ? 1 : 0);
    c.set(s.f32.subarray(offC >> 2, (offC >> 2) + m * n), 0);
    return true;
  }
  s.kernel.packB(offP, offB, k, n, transB ? 1 : 0);

  const p = { c: offC, a: offA, bp: offP, m, k, n, transA: transA ? 1 : 0, acc: accumulate ? 1 : 0 };
  if (parallel) {
    stats.parallelProducts++;
    stats.helperChunks += runParallel(s.pool, s.kernel, p, threadCount, ARENA_BASE);
  } else {
    s.kernel.gemmRows(p.c, p.a, p.bp, m, k, n, 0, m, p.transA, p.acc, ARENA_BASE);
  }
  c.set(s.f32.subarray(offC >> 2, (offC >> 2) + m * n), 0);
  return true;
}

// Row-parallel execution of one product over the calling thread and its helper workers.
//
// Protocol (one shared Int32Array "job block" per calling thread, read by all its helpers):
// the caller writes the product's fields, resets the counters, bumps SEQ and notifies. Every thread,
// caller included, then claims chunks of rows with a compare-and-swap on CLAIM until none are left;
// the caller returns once CHUNKS_DONE reaches the chunk count. Work is claimed dynamically rather
// than split in fixed halves so that a helper descheduled by other load (two actors on two cores,
// a busy machine) costs nothing: the caller just takes its chunks.
//
// CLAIM carries the job's 15-bit tag in its high half, so a helper that wakes late can never claim
// a chunk of a newer job with the fields of an older one: the caller stores the new CLAIM before any
// new field, and fields are read with Atomics (sequentially consistent), so a helper that saw any
// new field also sees the new tag and its compare-and-swap against the old tag fails.
import { Worker } from 'node:worker_threads';
import type { KernelExports, WasmMemory, WasmModule } from './kernel-types.js';

export const JOB = {
  SEQ: 0,
  CLAIM: 1,
  CHUNKS_DONE: 2,
  N_CHUNKS: 3,
  CHUNK_ROWS: 4,
  ERR: 5,
  STOP: 6,
  C: 7,
  A: 8,
  BP: 9,
  M: 10,
  K: 11,
  N: 12,
  TRANS_A: 13,
  ACC: 14,
} as const;
const JOB_INTS = 16;
const MAX_CHUNKS = 0xffff;
const HELPER_TIMEOUT_MS = 120_000;

export interface Helper {
  worker: Worker;
  ready: Int32Array;
  failure: Error | null;
}
export interface Pool {
  job: Int32Array;
  helpers: Helper[];
  seq: number;
}

export function createPool(): Pool {
  return { job: new Int32Array(new SharedArrayBuffer(JOB_INTS * 4)), helpers: [], seq: 0 };
}

/** Helper i uses scratch region i+1 (region 0 is the caller's). */
export function spawnHelpers(
  pool: Pool,
  count: number,
  memory: WasmMemory,
  module: WasmModule,
  scratchOf: (thread: number) => number,
): void {
  while (pool.helpers.length < count) {
    const ready = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(new URL('./matmul-helper.js', import.meta.url), {
      workerData: { memory, module, job: pool.job, ready, scratch: scratchOf(pool.helpers.length + 1) },
      // the helper needs no loaders or flags of its parent (and some, like --input-type, break it)
      execArgv: [],
    });
    worker.unref(); // never keeps the process alive; dies with the thread that created it
    const h: Helper = { worker, ready, failure: null };
    // a helper that fails to start never claims work: products run without it, warmUp reports why
    worker.on('error', (err) => {
      h.failure = err;
    });
    pool.helpers.push(h);
  }
}

export async function retirePool(pool: Pool): Promise<void> {
  Atomics.store(pool.job, JOB.STOP, 1);
  Atomics.notify(pool.job, JOB.SEQ);
  await Promise.all(pool.helpers.map((h) => h.worker.terminate()));
  pool.helpers = [];
}

export async function waitReady(pool: Pool, timeoutMs: number): Promise<void> {
  const t0 = Date.now();
  while (pool.helpers.some((h) => Atomics.load(h.ready, 0) !== 1)) {
    const failed = pool.helpers.find((h) => h.failure);
    if (failed) throw new Error(`matmul: helper thread failed to start: ${failed.failure!.message}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`matmul: helper threads not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface Product {
  c: number;
  a: number;
  bp: number;
  m: number;
  k: number;
  n: number;
  transA: number;
  acc: number;
}

/**
 * Claim and compute chunks of the job tagged `tag` until none are left; returns how many this
 * thread computed. Shared by the caller and the helpers.
 */
export function runChunks(
  job: Int32Array,
  kernel: KernelExports,
  tag: number,
  p: Product,
  nChunks: number,
  chunkRows: number,
  scratch: number,
): number {
  let done = 0;
  for (;;) {
    const v = Atomics.load(job, JOB.CLAIM);
    if (v >>> 16 !== tag) return done; // a newer job: this one is finished
    const chunk = v & 0xffff;
    if (chunk >= nChunks) return done;
    if (Atomics.compareExchange(job, JOB.CLAIM, v, v + 1) !== v) continue;
    const row0 = chunk * chunkRows;
    try {
      kernel.gemmRows(p.c, p.a, p.bp, p.m, p.k, p.n, row0, Math.min(p.m, row0 + chunkRows), p.transA, p.acc, scratch);
    } catch (err) {
      Atomics.store(job, JOB.ERR, 1);
      console.error('loractor matmul: kernel failed:', err);
    }
    done++;
    if (Atomics.add(job, JOB.CHUNKS_DONE, 1) + 1 === nChunks) Atomics.notify(job, JOB.CHUNKS_DONE);
  }
}

/** Read a published job's fields (Atomics: see the protocol note at the top). */
export function readProduct(job: Int32Array): Product {
  return {
    c: Atomics.load(job, JOB.C),
    a: Atomics.load(job, JOB.A),
    bp: Atomics.load(job, JOB.BP),
    m: Atomics.load(job, JOB.M),
    k: Atomics.load(job, JOB.K),
    n: Atomics.load(job, JOB.N),
    transA: Atomics.load(job, JOB.TRANS_A),
    acc: Atomics.load(job, JOB.ACC),
  };
}

/**
 * Compute all rows of p on this thread and the pool's helpers; blocks until done. Returns the
 * number of chunks helpers computed (0 when they were all busy elsewhere or asleep too long).
 */
export function runParallel(pool: Pool, kernel: KernelExports, p: Product, threads: number, scratch: number): number {
  const job = pool.job;
  // chunks: several per thread (so late or slow threads even out), whole 4-row tiles, ≥ 16 rows
  const chunkRows = Math.max(16, Math.ceil(p.m / MAX_CHUNKS), Math.ceil(p.m / (threads * 4) / 4) * 4);
  const nChunks = Math.ceil(p.m / chunkRows);
  pool.seq = (pool.seq + 1) & 0x7fff;
  const tag = pool.seq;
  Atomics.store(job, JOB.CLAIM, tag << 16); // first: invalidates claims under the previous tag
  Atomics.store(job, JOB.C, p.c);
  Atomics.store(job, JOB.A, p.a);
  Atomics.store(job, JOB.BP, p.bp);
  Atomics.store(job, JOB.M, p.m);
  Atomics.store(job, JOB.K, p.k);
  Atomics.store(job, JOB.N, p.n);
  Atomics.store(job, JOB.TRANS_A, p.transA);
  Atomics.store(job, JOB.ACC, p.acc);
  Atomics.store(job, JOB.N_CHUNKS, nChunks);
  Atomics.store(job, JOB.CHUNK_ROWS, chunkRows);
  Atomics.store(job, JOB.CHUNKS_DONE, 0);
  Atomics.store(job, JOB.ERR, 0);
  Atomics.store(job, JOB.SEQ, tag);
  Atomics.notify(job, JOB.SEQ);
  const mine = runChunks(job, kernel, tag, p, nChunks, chunkRows, scratch);
  const t0 = Date.now();
  for (let spins = 0; ; spins++) {
    const d = Atomics.load(job, JOB.CHUNKS_DONE);
    if (d === nChunks) break;
    if (spins < 1000) continue; // a helper's last chunk usually ends within microseconds of ours
    Atomics.wait(job, JOB.CHUNKS_DONE, d, 50);
    if (Date.now() - t0 > HELPER_TIMEOUT_MS)
      throw new Error(`matmul: helper threads did not finish their rows within ${HELPER_TIMEOUT_MS} ms`);
  }
  if (Atomics.load(job, JOB.ERR) !== 0)
    throw new Error('matmul: the WASM kernel failed in a helper thread (see stderr)');
  return nChunks - mine;
}

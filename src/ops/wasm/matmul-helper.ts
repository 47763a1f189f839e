// Helper thread for row-parallel matmul (protocol in matmul-pool.ts): maps its creator's shared
// arena with its own instance of the kernel, then loops: wait for a new job, claim and compute chunks
// of its rows. No messages per product: only the arena and the shared job block are touched.
import { workerData } from 'node:worker_threads';
import { JOB, readProduct, runChunks } from './matmul-pool.js';
import type { WasmMemory, WasmModule } from './kernel-types.js';
import { instantiateKernel } from './matmul-wasm.js';

interface HelperData {
  memory: WasmMemory;
  module: WasmModule;
  job: Int32Array;
  ready: Int32Array;
  scratch: number;
}
const { memory, module, job, ready, scratch } = workerData as HelperData;
const kernel = instantiateKernel(module, memory);

Atomics.store(ready, 0, 1);
let seen = Atomics.load(job, JOB.SEQ);
for (;;) {
  // spin briefly (a layer issues several products back to back), then sleep until notified
  let seq = seen;
  for (let i = 0; i < 20000 && seq === seen; i++) seq = Atomics.load(job, JOB.SEQ);
  while (seq === seen && Atomics.load(job, JOB.STOP) === 0) {
    Atomics.wait(job, JOB.SEQ, seen, 1000);
    seq = Atomics.load(job, JOB.SEQ);
  }
  if (Atomics.load(job, JOB.STOP) !== 0) break;
  seen = seq;
  const p = readProduct(job);
  runChunks(job, kernel, seq, p, Atomics.load(job, JOB.N_CHUNKS), Atomics.load(job, JOB.CHUNK_ROWS), scratch);
}

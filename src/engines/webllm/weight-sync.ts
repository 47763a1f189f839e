// Applying an adapter version to the weights WebLLM holds on the GPU, as a transaction:
// merge (from frozen W0) → write in place → read back and compare checksums → reset KV cache.
// If any tensor fails verification, every touched tensor is rewritten to the previous version's
// values (themselves verified) and the sync is rejected: the previous version keeps serving.
import type { AdapterSnapshot } from '../../model/adapter-layout.js';
import { f32ToF16 } from './half-floats.js';
import { checksum32, mergeInto, planAdapter, type LoraPair } from './lora-merge.js';
import { readMlcParamF32, type MlcArtifacts } from './mlc-artifacts.js';
import { paramInfo, readParams, resetKvCache, writeParam, writeParams, type Pipeline } from './private-access.js';
import { writeQ4Verified, type Q4SyncState } from './q4-sync.js';
import { createWebLlmQ4Sync } from './q4-webllm.js';

export class SyncVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SyncVerificationError';
  }
}

export interface SyncStats {
  version: number;
  tensors: number;
  bytes: number;
  mergeMs: number;
  writeMs: number;
  verifyMs: number;
  totalMs: number;
}

export interface WeightSyncState {
  artifacts: MlcArtifacts;
  pipeline: Pipeline;
  /** Frozen base weights of tensors LoRA has touched, f32, loaded lazily from the MLC shards. */
  base: Map<string, Float32Array>;
  /** GPU dtype per tensor ('float32' or 'float16'). */
  gpuDtype: Map<string, string>;
  /** The applied adapter (a private copy) and which tensors differ from W0 because of it. */
  current: { snapshot: AdapterSnapshot; plan: Map<string, LoraPair[]> } | null;
  /** Test hook: after writing this tensor, corrupt it on the GPU (simulates a bad transfer). */
  corruptNextWrite: string | null;
  warn: (msg: string) => void;
  warnedF16: boolean;
  /** Set when a failed sync could not be rolled back: the engine must stop serving. */
  broken: string | null;
  /** q4f16_1 libraries: merge and quantize on web-llm's GPU device (created at the first sync). */
  q4: Q4SyncState | null;
}

export function createWeightSync(
  artifacts: MlcArtifacts,
  pipeline: Pipeline,
  warn: (m: string) => void,
): WeightSyncState {
  return {
    artifacts,
    pipeline,
    base: new Map(),
    gpuDtype: new Map(),
    current: null,
    corruptNextWrite: null,
    warn,
    warnedF16: false,
    broken: null,
    q4: null,
  };
}

function baseOf(s: WeightSyncState, name: string): Float32Array {
  let w = s.base.get(name);
  if (!w) {
    w = readMlcParamF32(s.artifacts, name);
    s.base.set(name, w);
    const info = paramInfo(s.pipeline, name);
    if (info.dtype !== 'float32' && info.dtype !== 'float16') {
      throw new Error(
        `WebLLM weight sync: ${name} is ${info.dtype} on the GPU; only q0f32 (exact) and q0f16 libraries can take LoRA updates`,
      );
    }
    s.gpuDtype.set(name, info.dtype);
  }
  return w;
}

/** Bytes for tensor `name` under an adapter (null adapter or no pairs = the base weights). */
function tensorBytes(
  s: WeightSyncState,
  name: string,
  pairs: LoraPair[] | undefined,
  snap: AdapterSnapshot | null,
  scratch: Float32Array,
): Uint8Array {
  const base = baseOf(s, name);
  const f32 = pairs && snap ? mergeInto(scratch.subarray(0, base.length), base, pairs, snap) : base;
  if (s.gpuDtype.get(name) === 'float16') return new Uint8Array(f32ToF16(f32).buffer);
  return new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength).slice();
}

// Tensors are written and read back in batches of about this many bytes: one device sync per batch
// instead of per tensor, while the read-back copies stay well inside the lib's 2 GiB wasm heap.
const BATCH_BYTES = 128 * 2 ** 20;

async function writeVerified(
  s: WeightSyncState,
  names: string[],
  bytesFor: (n: string) => Uint8Array,
  stats?: SyncStats,
): Promise<string[]> {
  const expected = new Map<string, number>();
  const bad: string[] = [];
  for (let i = 0; i < names.length; ) {
    const batch: [string, Uint8Array][] = [];
    let size = 0;
    while (i < names.length && (batch.length === 0 || size < BATCH_BYTES)) {
      const name = names[i++]!;
      const bytes = bytesFor(name);
      expected.set(name, checksum32(bytes));
      batch.push([name, bytes]);
      size += bytes.byteLength;
    }
    const t0 = performance.now();
    await writeParams(s.pipeline, batch);
    const hit = batch.find(([n]) => n === s.corruptNextWrite);
    if (hit) {
      s.corruptNextWrite = null;
      hit[1][hit[1].byteLength >>> 1] ^= 0x40; // one flipped exponent bit in one value
      await writeParam(s.pipeline, hit[0], hit[1]);
    }
    const t1 = performance.now();
    const back = await readParams(
      s.pipeline,
      batch.map(([n]) => n),
    );
    back.forEach((b, j) => {
      if (checksum32(b) !== expected.get(batch[j]![0])) bad.push(batch[j]![0]);
    });
    if (stats) {
      stats.bytes += size;
      stats.writeMs += t1 - t0;
      stats.verifyMs += performance.now() - t1;
    }
  }
  return bad;
}

/** Apply `next` (null = base model). Resolves with timings once verified; rejects keeping the previous version. */
export async function applyAdapter(s: WeightSyncState, next: AdapterSnapshot | null): Promise<SyncStats> {
  const tStart = performance.now();
  const quant = s.artifacts.lib.quantization;
  if (quant === 'q4f16_1') return applyAdapterQ4(s, next, tStart);
  if (next && !/^q0f(32|16)$/.test(quant)) {
    throw new Error(
      `WebLLM weight sync: library quantization ${quant} cannot take LoRA updates; q0f32 (exact), q0f16 and q4f16_1 (re-quantized on the GPU) can`,
    );
  }
  if (next && quant === 'q0f16' && !s.warnedF16) {
    s.warnedF16 = true;
    s.warn(
      'WebLLM weight sync: q0f16 library — merged LoRA deltas are rounded to f16 and small updates round away; use q0f32 for exact sync',
    );
  }
  const nextPlan = next ? planAdapter(next, s.artifacts.modelConfig) : new Map<string, LoraPair[]>();
  // Private copy: the caller's buffer may be reused for the next version (and is needed to restore).
  const nextSnap = next ? { ...next, params: next.params.slice(0, next.layout.size) } : null;
  const prev = s.current;
  const touched = [...new Set([...nextPlan.keys(), ...(prev ? prev.plan.keys() : [])])].sort();
  const stats: SyncStats = {
    version: next?.version ?? 0,
    tensors: touched.length,
    bytes: 0,
    mergeMs: 0,
    writeMs: 0,
    verifyMs: 0,
    totalMs: 0,
  };
  let maxLen = 0;
  for (const n of touched) maxLen = Math.max(maxLen, baseOf(s, n).length);
  const scratch = new Float32Array(maxLen);
  const bytesFor =
    (snap: AdapterSnapshot | null, plan: Map<string, LoraPair[]>) =>
    (name: string): Uint8Array => {
      const t = performance.now();
      const b = tensorBytes(s, name, plan.get(name), snap, scratch);
      stats.mergeMs += performance.now() - t;
      return b;
    };
  const bad = await writeVerified(s, touched, bytesFor(nextSnap, nextPlan), stats);
  if (bad.length > 0) {
    const restoreBad = await writeVerified(s, touched, bytesFor(prev?.snapshot ?? null, prev?.plan ?? new Map()));
    resetKvCache(s.pipeline);
    if (restoreBad.length > 0) s.broken = `weights inconsistent after failed restore of ${restoreBad.join(', ')}`;
    const restored =
      restoreBad.length === 0
        ? `version ${prev?.snapshot.version ?? 0} restored and still active`
        : `RESTORE ALSO FAILED for ${restoreBad.join(', ')}: engine weights are inconsistent`;
    throw new SyncVerificationError(
      `WebLLM weight sync of adapter v${stats.version} failed read-back verification for ${bad.join(', ')}; ${restored}`,
    );
  }
  resetKvCache(s.pipeline);
  s.current = nextSnap ? { snapshot: nextSnap, plan: nextPlan } : null;
  stats.totalMs = performance.now() - tStart;
  return stats;
}

/** The q4f16_1 transaction: merge + quantize on the GPU, sampled rows verified against the CPU reference. */
async function applyAdapterQ4(s: WeightSyncState, next: AdapterSnapshot | null, tStart: number): Promise<SyncStats> {
  const q4 = (s.q4 ??= createWebLlmQ4Sync(s.artifacts, s.pipeline));
  const nextPlan = next ? planAdapter(next, s.artifacts.modelConfig) : new Map<string, LoraPair[]>();
  const nextSnap = next ? { ...next, params: next.params.slice(0, next.layout.size) } : null;
  const prev = s.current;
  const touched = [...new Set([...nextPlan.keys(), ...(prev ? prev.plan.keys() : [])])].sort();
  if (s.corruptNextWrite) {
    q4.corruptNextWrite = s.corruptNextWrite;
    s.corruptNextWrite = null;
  }
  const times = { quantizeMs: 0, verifyMs: 0, bytes: 0, rowsVerified: 0 };
  const bad = await writeQ4Verified(q4, touched, nextPlan, nextSnap, times);
  const stats: SyncStats = {
    version: next?.version ?? 0,
    tensors: touched.length,
    bytes: times.bytes,
    mergeMs: 0,
    writeMs: times.quantizeMs,
    verifyMs: times.verifyMs,
    totalMs: 0,
  };
  if (bad.length > 0) {
    const restoreBad = await writeQ4Verified(q4, touched, prev?.plan ?? new Map(), prev?.snapshot ?? null, {
      quantizeMs: 0,
      verifyMs: 0,
      bytes: 0,
      rowsVerified: 0,
    });
    resetKvCache(s.pipeline);
    if (restoreBad.length > 0)
      s.broken = `q4 weights inconsistent after failed restore of ${restoreBad.map((b) => b.name).join(', ')}`;
    const restored =
      restoreBad.length === 0
        ? `version ${prev?.snapshot.version ?? 0} restored and still active`
        : `RESTORE ALSO FAILED for ${restoreBad.map((b) => b.name).join(', ')}: engine weights are inconsistent`;
    throw new SyncVerificationError(
      `WebLLM q4f16_1 sync of adapter v${stats.version} failed verification for ${bad.map((b) => `${b.name} (${b.reason})`).join('; ')}; ${restored}`,
    );
  }
  resetKvCache(s.pipeline);
  s.current = nextSnap ? { snapshot: nextSnap, plan: nextPlan } : null;
  stats.totalMs = performance.now() - tStart;
  return stats;
}

// Adapter versions resident on the GPU for the webgpu engine. The engine keeps the last
// max_staleness+1 verified versions (TRL's AsyncGRPO, verl and SkyRL keep as many) plus one slot
// that a sync writes into, so a sync never overwrites a version that serves or that a running
// generation pinned. Switching to a resident version is a pointer flip (no transfer). A sync uploads
// only the flat LoRA block, reads it back and compares its checksum with the host block's (FNV-1a,
// as the WeightStore and the WebLLM sync do); a mismatch or a non-finite value rejects the version
// and frees its slot, and the version that served keeps serving. With it goes the version's block of
// stacked LoRA matrices (stacked-lora.ts: the A stacks of q,k,v and gate,up), verified the same way.
import { allocTensor, readF32, releaseTensor, writeTensor, type GpuContext } from '../../ops/webgpu/context.js';
import type { GpuTensor } from '../../ops/webgpu/tensor.js';
import { checksumFloat32 } from '../../runtime/checksum.js';
import type { AdapterSnapshot } from '../../model/adapter-layout.js';
import type { StackedLora } from '../../model/layer.js';
import type { Qwen2Config } from '../../model/config.js';
import { stackBlock, stackPlan, stackViews } from './stacked-lora.js';

export interface ResidentVersion {
  version: number;
  snapshot: Omit<AdapterSnapshot, 'params'>;
  params: GpuTensor;
  /** The stacked LoRA block and its per-layer views (null: stacking off, or no group adapted in full). */
  stacks: { block: GpuTensor; layers: StackedLora<GpuTensor>[] } | null;
  /** Generations running on this version (it is not overwritten while pinned). */
  pins: number;
  lastUsed: number;
}

export interface AdapterSlots {
  ctx: GpuContext;
  /** Slots in all (resident versions + the one a sync writes). */
  capacity: number;
  resident: ResidentVersion[];
  serving: ResidentVersion | null;
  clock: number;
  /** Fault drill: corrupt the next upload on the GPU after writing it (a bad transfer). */
  corruptNext: boolean;
  /** The model's config when versions carry stacked LoRA blocks (stacked-lora.ts); null: they do not. */
  stackFor: Qwen2Config | null;
}

export interface SyncReport {
  version: number;
  /** 'flip': the version was resident; 'upload': written, read back and verified. */
  kind: 'flip' | 'upload' | 'base';
  /** Bytes uploaded: the flat LoRA block and the stacked block (stacked-lora.ts). */
  bytes: number;
  ms: number;
}

export class AdapterVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdapterVerificationError';
  }
}

export function createAdapterSlots(
  ctx: GpuContext,
  residentVersions: number,
  stackFor: Qwen2Config | null = null,
): AdapterSlots {
  if (!(Number.isInteger(residentVersions) && residentVersions >= 1))
    throw new Error(`webgpu engine: residentVersions must be a positive integer, got ${residentVersions}`);
  return { ctx, capacity: residentVersions + 1, resident: [], serving: null, clock: 0, corruptNext: false, stackFor };
}

/** The slot a new version may take: a free one, else the least recently used that neither serves nor is pinned. */
function takeSlot(s: AdapterSlots, size: number): GpuTensor {
  if (s.resident.length < s.capacity) return allocTensor(s.ctx, size, 'f32', false, true);
  const victims = s.resident.filter((r) => r !== s.serving && r.pins === 0).sort((a, b) => a.lastUsed - b.lastUsed);
  const v = victims[0];
  if (!v) throw new Error(`webgpu engine: all ${s.capacity} adapter slots serve or are pinned by running generations`);
  s.resident.splice(s.resident.indexOf(v), 1);
  if (v.stacks) releaseTensor(s.ctx, v.stacks.block);
  if (v.params.length === size) return v.params;
  releaseTensor(s.ctx, v.params);
  return allocTensor(s.ctx, size, 'f32', false, true);
}

function firstNonFinite(a: Float32Array): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return i;
  return -1;
}

/** Makes `snapshot` the serving version: a flip when resident, else an upload verified by read-back. */
export async function applyVersion(s: AdapterSlots, snapshot: AdapterSnapshot | null): Promise<SyncReport> {
  const t0 = performance.now();
  if (!snapshot) {
    s.serving = null;
    return { version: 0, kind: 'base', bytes: 0, ms: performance.now() - t0 };
  }
  const hit = s.resident.find((r) => r.version === snapshot.version && r.params.length === snapshot.params.length);
  if (hit) {
    hit.lastUsed = ++s.clock;
    s.serving = hit;
    return { version: hit.version, kind: 'flip', bytes: 0, ms: performance.now() - t0 };
  }
  if (snapshot.params.length !== snapshot.layout.size)
    throw new Error(`setAdapter: params has ${snapshot.params.length} values, layout needs ${snapshot.layout.size}`);
  const bad = firstNonFinite(snapshot.params);
  if (bad >= 0)
    throw new AdapterVerificationError(
      `adapter version ${snapshot.version}: element ${bad} is ${snapshot.params[bad]} (not finite)`,
    );
  const { params: _host, ...meta } = snapshot;
  void _host;
  const plan = s.stackFor ? stackPlan(s.stackFor, meta) : null;
  const stackHost = plan ? stackBlock(snapshot.params, plan) : null;
  const params = takeSlot(s, snapshot.params.length);
  let block: GpuTensor | null = null;
  try {
    await uploadVerified(s, params, snapshot.params, `adapter version ${snapshot.version}`);
    if (stackHost) {
      block = allocTensor(s.ctx, stackHost.length, 'f32', false, true);
      await uploadVerified(s, block, stackHost, `adapter version ${snapshot.version} (stacked LoRA)`);
    }
  } catch (err) {
    releaseTensor(s.ctx, params);
    if (block) releaseTensor(s.ctx, block);
    throw err;
  }
  const stacks = plan && block ? { block, layers: stackViews(plan, block) } : null;
  const rv: ResidentVersion = {
    version: snapshot.version,
    snapshot: meta,
    params,
    stacks,
    pins: 0,
    lastUsed: ++s.clock,
  };
  s.resident.push(rv);
  s.serving = rv;
  const bytes = (snapshot.params.length + (stackHost?.length ?? 0)) * 4;
  return { version: rv.version, kind: 'upload', bytes, ms: performance.now() - t0 };
}

/** Writes host into t, reads it back and compares checksums (the fault drill corrupts the first write). */
async function uploadVerified(s: AdapterSlots, t: GpuTensor, host: Float32Array, what: string): Promise<void> {
  const expected = checksumFloat32(host);
  writeTensor(s.ctx, t, host, what);
  if (s.corruptNext) {
    s.corruptNext = false;
    const word = new Uint32Array([new Uint32Array(host.buffer, host.byteOffset, 1)[0]! ^ 0x00400000]);
    s.ctx.device.queue.writeBuffer(t.buffer, t.offset * 4, word);
  }
  const got = checksumFloat32(await readF32(s.ctx, t));
  if (got !== expected)
    throw new AdapterVerificationError(
      `${what}: GPU copy failed checksum verification (read back ${got.toString(16)}, expected ${expected.toString(16)})`,
    );
}

/** The serving version, pinned until `unpin` (a generation runs on it whatever syncs happen meanwhile). */
export function pinServing(s: AdapterSlots): ResidentVersion | null {
  const v = s.serving;
  if (v) {
    v.pins++;
    v.lastUsed = ++s.clock;
  }
  return v;
}

export function unpin(v: ResidentVersion | null): void {
  if (v) v.pins--;
}

export function releaseAdapterSlots(s: AdapterSlots): void {
  for (const r of s.resident) {
    releaseTensor(s.ctx, r.params);
    if (r.stacks) releaseTensor(s.ctx, r.stacks.block);
  }
  s.resident = [];
  s.serving = null;
}

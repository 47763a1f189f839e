// Per-kernel GPU time, from timestamp queries: with a profile attached, every dispatch runs in its
// own compute pass whose start and end the GPU stamps. The stamps are resolved at each submit and
// read back asynchronously; `finish` waits for them. Profiling serialises passes, so it measures
// where time goes, not how fast the unprofiled stream is.

/** The part of a GpuContext (context.ts) profiling touches; context.ts imports this module. */
interface ProfiledContext {
  device: GPUDevice;
  state: { profile: KernelProfile | null };
}

export interface KernelTime {
  calls: number;
  ms: number;
}

export interface KernelProfile {
  querySet: GPUQuerySet;
  capacity: number;
  /** Kernel key of each stamped pass since the last submit. */
  keys: string[];
  pending: Promise<void>[];
  totals: Map<string, KernelTime>;
}

/** Attaches a profile to the context (needs the adapter's timestamp-query feature). */
export function startProfile(ctx: ProfiledContext, capacity = 2048): KernelProfile {
  if (!ctx.device.features.has('timestamp-query'))
    throw new Error('webgpu profile: the device has no timestamp-query feature');
  const p: KernelProfile = {
    querySet: ctx.device.createQuerySet({ type: 'timestamp', count: 2 * capacity }),
    capacity,
    keys: [],
    pending: [],
    totals: new Map(),
  };
  ctx.state.profile = p;
  return p;
}

/** Detaches the profile, waits for its last readings, and returns kernel → calls and milliseconds. */
export async function stopProfile(ctx: ProfiledContext): Promise<Map<string, KernelTime>> {
  const p = ctx.state.profile;
  if (!p) throw new Error('webgpu profile: none attached');
  ctx.state.profile = null;
  await Promise.all(p.pending);
  p.querySet.destroy();
  return p.totals;
}

/** Timestamp writes for the next dispatch's pass, or undefined when the query set is full. */
export function stampNext(p: KernelProfile, key: string): GPUComputePassTimestampWrites | undefined {
  if (p.keys.length >= p.capacity) return undefined;
  const i = p.keys.length;
  p.keys.push(key);
  return { querySet: p.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
}

/** Encodes the resolve of this submit's stamps; call `afterSubmit` once the encoder is submitted. */
export function resolveStamps(ctx: ProfiledContext, p: KernelProfile, encoder: GPUCommandEncoder): (() => void) | null {
  const n = p.keys.length;
  if (!n) return null;
  const bytes = 16 * n;
  const resolved = ctx.device.createBuffer({
    size: bytes,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const read = ctx.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  encoder.resolveQuerySet(p.querySet, 0, 2 * n, resolved, 0);
  encoder.copyBufferToBuffer(resolved, 0, read, 0, bytes);
  const keys = p.keys;
  p.keys = [];
  return () => {
    p.pending.push(
      read.mapAsync(GPUMapMode.READ).then(() => {
        const t = new BigUint64Array(read.getMappedRange());
        keys.forEach((k, i) => {
          const e = p.totals.get(k) ?? { calls: 0, ms: 0 };
          e.calls++;
          e.ms += Number(t[2 * i + 1]! - t[2 * i]!) / 1e6;
          p.totals.set(k, e);
        });
        read.unmap();
        read.destroy();
        resolved.destroy();
      }),
    );
  };
}

/** Kernel times as table rows, largest first. */
export function profileRows(
  totals: Map<string, KernelTime>,
): { kernel: string; calls: number; ms: number; share: number }[] {
  const all = [...totals.values()].reduce((s, e) => s + e.ms, 0) || 1;
  return [...totals.entries()]
    .map(([kernel, e]) => ({ kernel, calls: e.calls, ms: e.ms, share: e.ms / all }))
    .sort((a, b) => b.ms - a.ms);
}

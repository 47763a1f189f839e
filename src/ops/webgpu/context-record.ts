// Recorded dispatch runs of the GPU context (context.ts is the entry; see its header). WebGPU has no
// compute render bundles, and a decode step re-encodes the same few hundred dispatches every step:
// most of its host time is the JavaScript of the ops that choose them (shapes, checks, variants,
// keys), not Dawn's calls (a 1.5B-structured step, batch 48 on SwiftShader: the engine's encode
// ~7–10 ms, the same Dawn calls replayed from a list ~2 ms). A recording keeps what dispatch()
// encoded: pipelines, bind groups, parameter words, workgroup counts. Replaying it
// (context-dispatch.ts replayRecording) issues the same calls, like a CUDA graph.
//
// Replay is only right if every buffer it binds holds, at replay time, what the ops would have put
// there. So while recording:
//   - every buffer allocated is held by the recording (ContextState.heldBy): released tensors go to
//     the recording's own free list (its later allocations reuse them, as the pool would), and after
//     the recording they stay out of the pool until it is dropped. Nothing else can be handed them;
//   - buffers it binds but did not allocate (weights, caches, tables) are watched: one going back to
//     the pool invalidates the recording;
//   - host writes are noted: each written buffer must be one of the inputs the caller names (and
//     rewrites before each replay), else the recording is invalid (an op that uploads per call).
// A recording is made and replayed inside one synchronous stretch of encoding, never across an await
// of other work on the same context.
import type { ContextState, DispatchRecording, GpuContext } from './context-types.js';
import type { GpuTensor } from './tensor.js';

/** Starts recording the dispatches, allocations and writes that follow (until stopRecording). */
export function startRecording(ctx: GpuContext): void {
  const s = ctx.state;
  if (s.recording) throw new Error('startRecording: a recording is already being made');
  if (s.profile) throw new Error('startRecording: kernels are being profiled (profiled passes are not recorded)');
  s.recording = {
    pipelines: [],
    groups: [],
    words: [],
    wordStart: [0],
    workgroups: [],
    lastKernel: '(none)',
    held: new Set(),
    released: [],
    free: new Map(),
    written: new Set(),
    bound: new Set(),
    invalid: null,
  };
}

/**
 * Ends the recording. `inputs`: the tensors the caller rewrites before each replay (the only buffers
 * that may have been written while recording). The result may be invalid (see its `invalid`).
 */
export function stopRecording(ctx: GpuContext, inputs: GpuTensor[]): DispatchRecording {
  const s = ctx.state;
  const r = s.recording;
  if (!r) throw new Error('stopRecording: nothing is being recorded');
  s.recording = null;
  // What is still on the recording's free list is released: out of the pool until the drop.
  for (const [size, list] of r.free) {
    for (const b of list) {
      r.released.push(b);
      s.bytesInUse += size;
    }
  }
  r.free.clear();
  const rewritten = new Set(inputs.map((t) => t.buffer));
  for (const b of r.written)
    if (!rewritten.has(b)) r.invalid ??= 'a buffer was written while recording that is not an input';
  for (const b of r.bound) {
    if (r.held.has(b)) continue;
    const list = s.watchedBy.get(b);
    if (list) list.push(r);
    else s.watchedBy.set(b, [r]);
  }
  return r;
}

/** Gives back what a recording holds (its released buffers to the pool); it may not be replayed after. */
export function dropRecording(ctx: GpuContext, r: DispatchRecording): void {
  const s = ctx.state;
  if (s.recording === r) throw new Error('dropRecording: stop the recording first');
  for (const b of r.held) if (s.heldBy.get(b) === r) s.heldBy.delete(b);
  for (const b of r.released) returnToPool(s, b);
  r.released = [];
  r.held.clear();
  for (const b of r.bound) {
    const list = s.watchedBy.get(b);
    if (!list) continue;
    const rest = list.filter((x) => x !== r);
    if (rest.length) s.watchedBy.set(b, rest);
    else s.watchedBy.delete(b);
  }
  r.invalid ??= 'dropped';
}

// --- hooks of the context's parts ------------------------------------------------------------------

/** dispatch(): the call just encoded (its words are in the arena at `slot`). */
export function recordDispatch(
  s: ContextState,
  pipeline: GPUComputePipeline,
  group: GPUBindGroup,
  slot: number,
  nWords: number,
  gx: number,
  gy: number,
  gz: number,
  kernel: string,
  tensors: GpuTensor[],
): void {
  const r = s.recording!;
  r.pipelines.push(pipeline);
  r.groups.push(group);
  for (let i = 0; i < nWords; i++) r.words.push(s.arena[slot / 4 + i]!);
  r.wordStart.push(r.words.length);
  r.workgroups.push(gx, gy, gz);
  r.lastKernel = kernel;
  for (const t of tensors) r.bound.add(t.buffer);
}

/** takeBuffer(): a buffer of this size class from the recording's own free list, if it has one. */
export function takeReleasedWhileRecording(s: ContextState, size: number): GPUBuffer | undefined {
  return s.recording?.free.get(size)?.pop();
}

/** takeBuffer(): the buffer handed out is held by the recording being made. */
export function holdIfRecording(s: ContextState, b: GPUBuffer): void {
  const r = s.recording;
  if (!r) return;
  r.held.add(b);
  s.heldBy.set(b, r);
}

/**
 * releaseTensor(): true when a recording keeps the buffer (it is not to go back to the pool). Also
 * invalidates the recordings that bind a buffer going back to the pool.
 */
export function keptByRecording(s: ContextState, b: GPUBuffer): boolean {
  const owner = s.heldBy.get(b);
  if (owner) {
    if (owner === s.recording) {
      let list = owner.free.get(b.size);
      if (!list) owner.free.set(b.size, (list = []));
      list.push(b);
      s.bytesInUse -= b.size;
    } else owner.released.push(b);
    return true;
  }
  const watchers = s.watchedBy.get(b);
  if (watchers) for (const r of watchers) r.invalid ??= 'a buffer it binds went back to the pool';
  return false;
}

/** writeTensor(): a host write while recording. */
export function noteWrite(s: ContextState, b: GPUBuffer): void {
  s.recording?.written.add(b);
}

function returnToPool(s: ContextState, b: GPUBuffer): void {
  let list = s.free.get(b.size);
  if (!list) s.free.set(b.size, (list = []));
  list.push(b);
  s.bytesInUse -= b.size;
}

// The command stream of the GPU context (context.ts is the entry; see its header): the pipeline
// cache, the one open encoder and compute pass, dispatch with its uniform parameter arena, flush
// (submit), and the fill kernel the context itself needs.
import { resolveStamps, stampNext } from './profile.js';
import type { GpuTensor } from './tensor.js';
import type { DispatchRecording, GpuContext, KernelSpec, ParamWord, Pipeline } from './context-types.js';
import { recordDispatch } from './context-record.js';

/** Bytes of one dispatch's parameter block: the uniform offset alignment, and room for 64 words. */
const UNIFORM_SLOT = 256;
export const UNIFORM_ARENA = 1 << 20;
const MAX_DISPATCHES_PER_SUBMIT = 2048;
/**
 * Cached bind groups before the cache starts over (a 1.5B decode step needs at most one per dispatch:
 * 451 on the GEMM route).
 */
const MAX_BIND_GROUPS = 16384;

// --- dispatch ------------------------------------------------------------------------------------

function pipelineFor(ctx: GpuContext, spec: KernelSpec): Pipeline {
  let p = ctx.state.pipelines.get(spec.key);
  if (p) return p;
  const device = ctx.device;
  const entries: GPUBindGroupLayoutEntry[] = [
    { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true } },
  ];
  spec.bindings.forEach((kind, i) => {
    entries.push({
      binding: i + 1,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: kind === 'read' ? 'read-only-storage' : 'storage' },
    });
  });
  const layout = device.createBindGroupLayout({ entries, label: spec.key });
  const module = device.createShaderModule({ code: spec.code, label: spec.key });
  const pipeline = device.createComputePipeline({
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: spec.entryPoint ?? 'main' },
    label: spec.key,
  });
  p = { pipeline, layout, id: ctx.state.pipelines.size };
  ctx.state.pipelines.set(spec.key, p);
  return p;
}

export function encoder(ctx: GpuContext): GPUCommandEncoder {
  return (ctx.state.encoder ??= ctx.device.createCommandEncoder());
}

export function endPass(ctx: GpuContext): void {
  if (ctx.state.pass) {
    ctx.state.pass.end();
    ctx.state.pass = null;
  }
}

/**
 * Enqueues one dispatch. `tensors` bind to bindings 1..n in spec order; `params` fill the uniform
 * block (u32 words, f32 as { f32 }; at most 64). A buffer bound for writing must not also be bound
 * for reading.
 */
export function dispatch(
  ctx: GpuContext,
  spec: KernelSpec,
  tensors: GpuTensor[],
  params: ParamWord[],
  groups: [number, number?, number?],
): void {
  if (tensors.length !== spec.bindings.length)
    throw new Error(`${spec.key}: ${tensors.length} tensors for ${spec.bindings.length} bindings`);
  if (params.length > UNIFORM_SLOT / 4)
    throw new Error(`${spec.key}: ${params.length} parameter words (at most ${UNIFORM_SLOT / 4})`);
  const [gx, gy = 1, gz = 1] = groups;
  if (gx === 0 || gy === 0 || gz === 0) return;
  const lim = ctx.info.limits.maxComputeWorkgroupsPerDimension;
  if (gx > lim || gy > lim || gz > lim)
    throw new Error(`${spec.key}: ${gx}×${gy}×${gz} workgroups exceed the device limit ${lim} per dimension`);
  checkNoReadOfWritten(spec, tensors);
  const s = ctx.state;
  if (s.arenaUsed + UNIFORM_SLOT > UNIFORM_ARENA || s.dispatches >= MAX_DISPATCHES_PER_SUBMIT) flush(ctx);
  const slot = s.arenaUsed;
  for (let i = 0; i < params.length; i++) {
    const w = params[i]!;
    if (typeof w === 'number') s.arena[slot / 4 + i] = w >>> 0;
    else s.arenaF32[slot / 4 + i] = w.f32;
  }
  s.arenaUsed += UNIFORM_SLOT;
  const p = pipelineFor(ctx, spec);
  const group = bindGroupFor(ctx, p, tensors);
  const stamps = s.profile ? stampNext(s.profile, spec.key) : undefined;
  if (stamps) endPass(ctx);
  if (!s.pass) s.pass = encoder(ctx).beginComputePass(stamps ? { timestampWrites: stamps } : undefined);
  s.pass.setPipeline(p.pipeline);
  dynamicOffset[0] = slot;
  s.pass.setBindGroup(0, group, dynamicOffset, 0, 1);
  s.pass.dispatchWorkgroups(gx, gy, gz);
  for (let i = 0; i < tensors.length; i++) s.pending.add(tensors[i]!.buffer);
  if (stamps) endPass(ctx);
  s.dispatches++;
  s.dispatchCount++;
  s.lastKernel = spec.key;
  if (s.recording) recordDispatch(s, p.pipeline, group, slot, params.length, gx, gy, gz, spec.key, tensors);
}

/**
 * Encodes a recording's dispatches again (context-record.ts): the same pipelines, bind groups,
 * parameter words and workgroup counts, without the ops that chose them. Its inputs must have been
 * rewritten by the caller.
 */
export function replayRecording(ctx: GpuContext, r: DispatchRecording): void {
  const s = ctx.state;
  if (r.invalid) throw new Error(`replayRecording: the recording may not be replayed (${r.invalid})`);
  if (s.recording) throw new Error('replayRecording: a recording is being made');
  if (s.profile) throw new Error('replayRecording: kernels are being profiled (profiled passes are not replayed)');
  const { words, wordStart, workgroups } = r;
  for (let i = 0; i < r.groups.length; i++) {
    if (s.arenaUsed + UNIFORM_SLOT > UNIFORM_ARENA || s.dispatches >= MAX_DISPATCHES_PER_SUBMIT) flush(ctx);
    const slot = s.arenaUsed;
    for (let w = wordStart[i]!, o = slot / 4; w < wordStart[i + 1]!; w++, o++) s.arena[o] = words[w]!;
    s.arenaUsed += UNIFORM_SLOT;
    if (!s.pass) s.pass = encoder(ctx).beginComputePass();
    s.pass.setPipeline(r.pipelines[i]!);
    dynamicOffset[0] = slot;
    s.pass.setBindGroup(0, r.groups[i]!, dynamicOffset, 0, 1);
    s.pass.dispatchWorkgroups(workgroups[3 * i]!, workgroups[3 * i + 1]!, workgroups[3 * i + 2]!);
    s.dispatches++;
  }
  // Every bound buffer counts as pending (a flush above already submitted some: more than needed, never fewer).
  for (const b of r.bound) s.pending.add(b);
  s.dispatchCount += r.groups.length;
  s.lastKernel = r.lastKernel;
}

const dynamicOffset = new Uint32Array(1);

/** WebGPU forbids one buffer bound both read-only and writable in a dispatch (a usage conflict). */
function checkNoReadOfWritten(spec: KernelSpec, tensors: GpuTensor[]): void {
  const kinds = spec.bindings;
  for (let i = 0; i < kinds.length; i++) {
    if (kinds[i] !== 'read') continue;
    for (let j = 0; j < kinds.length; j++)
      if (kinds[j] === 'write' && tensors[j]!.buffer === tensors[i]!.buffer)
        throw new Error(`${spec.key}: binding ${i + 1} reads a buffer another binding writes (pass distinct tensors)`);
  }
}

/** The bind group of these buffers under this pipeline's layout, from the cache (see ContextState.bindGroups). */
function bindGroupFor(ctx: GpuContext, p: Pipeline, tensors: GpuTensor[]): GPUBindGroup {
  const s = ctx.state;
  let key = `${p.id}`;
  for (const t of tensors) key += `,${bufferId(ctx, t.buffer)}`;
  let group = s.bindGroups.get(key);
  if (group) return group;
  const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: s.uniform, offset: 0, size: UNIFORM_SLOT } }];
  tensors.forEach((t, i) => {
    entries.push({ binding: i + 1, resource: { buffer: t.buffer } });
  });
  group = ctx.device.createBindGroup({ layout: p.layout, entries });
  if (s.bindGroups.size >= MAX_BIND_GROUPS) s.bindGroups.clear();
  s.bindGroups.set(key, group);
  return group;
}

function bufferId(ctx: GpuContext, b: GPUBuffer): number {
  const s = ctx.state;
  let id = s.bufferIds.get(b);
  if (id === undefined) s.bufferIds.set(b, (id = s.nextBufferId++));
  return id;
}

/** Submits everything enqueued so far (parameters first). */
export function flush(ctx: GpuContext): void {
  const s = ctx.state;
  if (!s.encoder) return;
  endPass(ctx);
  if (s.arenaUsed) ctx.device.queue.writeBuffer(s.uniform, 0, s.arena.buffer, 0, s.arenaUsed);
  const afterSubmit = s.profile ? resolveStamps(ctx, s.profile, s.encoder) : null;
  ctx.device.queue.submit([s.encoder.finish()]);
  afterSubmit?.();
  s.encoder = null;
  s.pending.clear();
  s.dispatches = 0;
  s.arenaUsed = 0;
}

// --- the one kernel the context itself needs -----------------------------------------------------

const FILL: KernelSpec = {
  key: 'fill',
  bindings: ['write'],
  code: /* wgsl */ `
struct Params { offset: u32, n: u32, value: u32, rowGroups: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<u32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.rowGroups * 256u;
  if (i < p.n) { x[p.offset + i] = p.value; }
}`,
};

const bitsScratch = new Float32Array(1);

/** Enqueues x[:] = value (f32/i32 tensors; for f16 only value 0). The value is written as raw bits. */
export function fillTensor(ctx: GpuContext, t: GpuTensor, value: number): void {
  if (t.split) {
    for (const part of t.split.parts) fillTensor(ctx, part, value);
    return;
  }
  let offset = t.offset,
    n = t.length;
  if (t.dtype === 'f16') {
    if (value !== 0) throw new Error('fillTensor: f16 tensors can only be zeroed');
    if (t.offset % 2 || t.length % 2) throw new Error('fillTensor: f16 views must cover whole words');
    offset = t.offset / 2;
    n = t.length / 2;
  }
  const groups = Math.ceil(n / 256);
  const gx = Math.min(groups, 32768),
    gy = Math.ceil(groups / gx);
  bitsScratch[0] = value;
  const word = t.dtype === 'i32' ? value | 0 : new Uint32Array(bitsScratch.buffer)[0]!;
  dispatch(ctx, FILL, [t], [offset, n, word, gx], [gx, gy]);
}

/** 1-D dispatch shape for n threads of workgroup size wg, folded into y beyond the per-dimension limit. */
export function groups1d(n: number, wg: number): { gx: number; gy: number } {
  const g = Math.ceil(n / wg);
  const gx = Math.min(g, 32768);
  return { gx, gy: Math.ceil(g / gx) };
}

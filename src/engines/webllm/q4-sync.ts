// Per-step sync into a q4f16_1 WebLLM library: merge and re-quantize on the GPU, verify on the CPU.
//
// A q4 library holds no full-precision weights, and re-quantizing 1.5B merged weights on the CPU
// every step would take seconds, so the frozen W0 of every LoRA-touched tensor stays resident on
// the GPU (f16 or f32) and a sync does, per tensor: delta = (alpha/r)·B·A for each LoRA slot
// (matmul on the GPU; only the LoRA block is uploaded), then q_weight/q_scale = Q(W0 + delta)
// written straight into the destination buffers (WebLLM's own, on its device) by the group
// quantization kernel. Verification: the kernel's error word (non-finite or out-of-range weights),
// then, for a sample of rows of every tensor (first and last row of each slot plus rows drawn per
// version; `verifyRows: 'all'` checks every row), the written words and scales are read back and
// must equal the CPU reference quantization of the same f32 merged values bit for bit, the GPU
// delta must match the CPU's B·A within f32 rounding, and the dequantized weights must lie within
// scale/2 of the CPU's merged f32 weights. Any failure rewrites every touched tensor from the
// previous version and rejects the sync, as the q0f32 path does.
import type { AdapterSnapshot } from '../../model/adapter-layout.js';
import {
  allocTensor,
  beginScope,
  endScope,
  fillTensor,
  finish,
  flush,
  readF32,
  readI32,
  uploadTensor,
  type GpuContext,
} from '../../ops/webgpu/context.js';
import { groupQuantizeQ4 } from '../../ops/webgpu/group-quantize.js';
import { matmulNN } from '../../ops/webgpu/matmul.js';
import { viewOf, type GpuTensor } from '../../ops/webgpu/tensor.js';
import { f16ToF32, f32ToF16 as f32ToF16Bits } from '../../util/half.js';
import { Rng } from '../../util/rng.js';
import type { LoraPair } from './lora-merge.js';
import { q4Groups, q4WordsPerRow, quantizeQ4 } from './q4f16.js';

/** Where one MLC weight's quantized form lives on the GPU. */
export interface Q4Destination {
  rows: number;
  cols: number;
  /** q_weight: i32-typed view of the u32 words. */
  words: GpuTensor;
  /** q_scale: f16 view (offset even). */
  scales: GpuTensor;
}

export interface Q4SyncState {
  ctx: GpuContext;
  /** Destination of each MLC `<module>.weight` LoRA may touch. */
  destination: (name: string) => Q4Destination;
  /** Frozen W0 of a tensor on the host (f32, [rows, cols]); read once, then kept for verification. */
  baseHost: (name: string) => Float32Array;
  /** Storage of the GPU-resident W0 copies. */
  baseDtype: 'f16' | 'f32';
  base: Map<string, GpuTensor>;
  /** Rows verified per tensor besides each slot's first and last ('all': every row). */
  verifyRows: number | 'all';
  error: GpuTensor | null;
  /** Test hook: after quantizing this tensor, flip a bit of its first word on the GPU. */
  corruptNextWrite: string | null;
}

export interface Q4SyncTimes {
  quantizeMs: number;
  verifyMs: number;
  bytes: number;
  rowsVerified: number;
}

export function createQ4Sync(
  ctx: GpuContext,
  destination: Q4SyncState['destination'],
  baseHost: Q4SyncState['baseHost'],
  opts: { baseDtype?: 'f16' | 'f32'; verifyRows?: number | 'all' } = {},
): Q4SyncState {
  return {
    ctx,
    destination,
    baseHost,
    baseDtype: opts.baseDtype ?? 'f32',
    base: new Map(),
    verifyRows: opts.verifyRows ?? 8,
    error: null,
    corruptNextWrite: null,
  };
}

function gpuBase(s: Q4SyncState, name: string): GpuTensor {
  let b = s.base.get(name);
  if (!b) {
    const host = s.baseHost(name);
    const d = s.destination(name);
    if (host.length !== d.rows * d.cols)
      throw new Error(`q4 sync: base ${name} has ${host.length} values, its destination is [${d.rows}, ${d.cols}]`);
    b = uploadTensor(s.ctx, host, s.baseDtype, name, true);
    s.base.set(name, b);
  }
  return b;
}

/** The W0 a quantized copy starts from: f16-rounded when the resident copy is f16. */
function baseValues(s: Q4SyncState, name: string, rowStart: number, rows: number, cols: number): Float32Array {
  const host = s.baseHost(name).subarray(rowStart * cols, (rowStart + rows) * cols);
  return s.baseDtype === 'f16' ? Float32Array.from(host, (v) => f16ToF32(f32ToF16Bits(v))) : host;
}

/** Enqueue delta (when pairs) and quantization of one tensor; returns the delta tensor (scoped) or null. */
function quantizeTensor(
  s: Q4SyncState,
  name: string,
  pairs: LoraPair[] | undefined,
  snap: AdapterSnapshot | null,
): GpuTensor | null {
  const d = s.destination(name);
  const base = gpuBase(s, name);
  s.error ??= allocTensor(s.ctx, 1, 'i32', true, true);
  let delta: GpuTensor | null = null;
  if (pairs?.length && snap) {
    delta = allocTensor(s.ctx, d.rows * d.cols, 'f32');
    fillTensor(s.ctx, delta, 0);
    const scale = snap.settings.alpha / snap.settings.r;
    for (const p of pairs) {
      const { rows, cols, rowOffset } = p.slot;
      const bScaled = Float32Array.from(snap.params.subarray(p.bOffset, p.bOffset + rows * p.r), (v) => v * scale);
      const b = uploadTensor(s.ctx, bScaled, 'f32', `${p.module}.lora_B`);
      const a = uploadTensor(
        s.ctx,
        snap.params.subarray(p.aOffset, p.aOffset + p.r * cols),
        'f32',
        `${p.module}.lora_A`,
      );
      matmulNN(s.ctx, viewOf(delta, rowOffset * cols, rows * cols), b, a, rows, p.r, cols, false);
    }
  }
  groupQuantizeQ4(s.ctx, {
    rows: d.rows,
    cols: d.cols,
    base,
    ...(delta ? { delta } : {}),
    words: d.words,
    scales: d.scales,
    error: s.error,
  });
  return delta;
}

/** Rows of a tensor to verify this version: each slot's first and last row plus a seeded draw. */
function rowsToVerify(
  s: Q4SyncState,
  name: string,
  rows: number,
  pairs: LoraPair[] | undefined,
  version: number,
): number[] {
  if (s.verifyRows === 'all') return Array.from({ length: rows }, (_, i) => i);
  const set = new Set<number>([0, rows - 1]);
  for (const p of pairs ?? []) {
    set.add(p.slot.rowOffset);
    set.add(p.slot.rowOffset + p.slot.rows - 1);
  }
  const rng = Rng.derive(version, 'q4-verify', name.length, rows);
  for (let i = 0; i < s.verifyRows; i++) set.add(Math.floor(rng.next() * rows));
  return [...set].sort((a, b) => a - b);
}

/** CPU merged rows (f32) of a tensor under the adapter: W0 + (alpha/r)·B·A, row by row. */
function cpuMergedRow(
  s: Q4SyncState,
  name: string,
  row: number,
  cols: number,
  pairs: LoraPair[] | undefined,
  snap: AdapterSnapshot | null,
): { merged: Float32Array; delta: Float64Array; absSum: Float64Array; r: number } {
  const delta = new Float64Array(cols);
  const absSum = new Float64Array(cols);
  const pair = pairs?.find((p) => row >= p.slot.rowOffset && row < p.slot.rowOffset + p.slot.rows);
  if (pair && snap) {
    const scale = snap.settings.alpha / snap.settings.r;
    const i = row - pair.slot.rowOffset;
    for (let k = 0; k < pair.r; k++) {
      const bk = Math.fround(snap.params[pair.bOffset + i * pair.r + k]! * scale);
      const a = pair.aOffset + k * cols;
      for (let j = 0; j < cols; j++) {
        const v = bk * snap.params[a + j]!;
        delta[j] += v;
        absSum[j] += Math.abs(v);
      }
    }
  }
  const base = baseValues(s, name, row, 1, cols);
  return { merged: Float32Array.from(base, (v, j) => v + delta[j]!), delta, absSum, r: pair?.r ?? 0 };
}

/** Verify one tensor's sampled rows; returns a reason when it fails. */
async function verifyTensor(
  s: Q4SyncState,
  name: string,
  pairs: LoraPair[] | undefined,
  snap: AdapterSnapshot | null,
  delta: GpuTensor | null,
  version: number,
  t: Q4SyncTimes,
): Promise<string | null> {
  const d = s.destination(name);
  const { rows, cols } = d;
  const W = q4WordsPerRow(cols);
  const G = q4Groups(cols);
  for (const row of rowsToVerify(s, name, rows, pairs, version)) {
    const words = new Uint32Array((await readI32(s.ctx, viewOf(d.words, row * W, W))).buffer.slice(0));
    const scaleWordsAt = (d.scales.offset + row * G) >> 1;
    const scaleView: GpuTensor = {
      buffer: d.scales.buffer,
      offset: scaleWordsAt,
      length: ((d.scales.offset + (row + 1) * G + 1) >> 1) - scaleWordsAt,
      dtype: 'i32',
    };
    const sw = new Uint32Array((await readI32(s.ctx, scaleView)).buffer.slice(0));
    const skip = (d.scales.offset + row * G) & 1;
    const scales = Uint16Array.from(
      { length: G },
      (_, g) => (sw[(skip + g) >> 1]! >>> (16 * ((skip + g) & 1))) & 0xffff,
    );
    const gpuDelta = delta ? await readF32(s.ctx, viewOf(delta, row * cols, cols)) : new Float32Array(cols);
    const cpu = cpuMergedRow(s, name, row, cols, pairs, snap);
    // The GPU's delta against the CPU's (f64) sum of the same r products: f32 summation in any
    // order is within (r + 1) units of 2^-24 of the sum of their magnitudes.
    const derr = new Float64Array(cols);
    for (let j = 0; j < cols; j++) {
      derr[j] = Math.abs(gpuDelta[j]! - cpu.delta[j]!);
      if (derr[j]! > (cpu.r + 2) * 2 ** -24 * cpu.absSum[j]! + 1e-30)
        return `row ${row}, column ${j}: GPU LoRA delta ${gpuDelta[j]} differs from the CPU's ${cpu.delta[j]}`;
    }
    // Bit for bit: the CPU reference quantization of the GPU's own f32 merged values.
    const base = baseValues(s, name, row, 1, cols);
    const merged = Float32Array.from(base, (v, j) => v + gpuDelta[j]!);
    const ref = quantizeQ4(merged, { rows: 1, cols });
    for (let i = 0; i < W; i++)
      if (ref.words[i] !== words[i])
        return `row ${row}: q_weight word ${i} is 0x${words[i]!.toString(16)}, the CPU reference 0x${ref.words[i]!.toString(16)}`;
    for (let g = 0; g < G; g++)
      if (ref.scales[g] !== scales[g])
        return `row ${row}: q_scale ${g} is 0x${scales[g]!.toString(16)}, the CPU reference 0x${ref.scales[g]!.toString(16)}`;
    // Dequantized against the CPU's merged weights: within half a step (plus the delta's rounding).
    for (let j = 0; j < cols; j++) {
      const q = (words[j >>> 3]! >>> (4 * (j & 7))) & 0xf;
      const sc = f16ToF32(scales[j >>> 5]!);
      if (Math.abs((q - 7) * sc - cpu.merged[j]!) > sc / 2 + derr[j]! + 2 ** -23 * Math.abs(cpu.merged[j]!))
        return `row ${row}, column ${j}: dequantized ${(q - 7) * sc} is more than scale/2 from the merged weight ${cpu.merged[j]}`;
    }
    t.rowsVerified++;
  }
  return null;
}

/**
 * Quantize `names` under `snap` (null: the base weights) into their destinations and verify them.
 * Returns the names that failed verification, with reasons.
 */
export async function writeQ4Verified(
  s: Q4SyncState,
  names: string[],
  plan: Map<string, LoraPair[]>,
  snap: AdapterSnapshot | null,
  t: Q4SyncTimes,
): Promise<{ name: string; reason: string }[]> {
  const bad: { name: string; reason: string }[] = [];
  const version = snap?.version ?? 0;
  for (const name of names) {
    beginScope(s.ctx);
    try {
      const t0 = performance.now();
      const delta = quantizeTensor(s, name, plan.get(name), snap);
      const d = s.destination(name);
      if (s.corruptNextWrite === name) {
        s.corruptNextWrite = null;
        flush(s.ctx); // the quantize kernel is submitted first, so the corruption lands after it
        s.ctx.device.queue.writeBuffer(d.words.buffer, d.words.offset * 4, new Uint32Array([0x12345678]));
      }
      await finish(s.ctx);
      t.quantizeMs += performance.now() - t0;
      t.bytes += d.rows * q4WordsPerRow(d.cols) * 4 + d.rows * q4Groups(d.cols) * 2;
      const t1 = performance.now();
      if ((await readI32(s.ctx, s.error!))[0] !== 0) {
        fillTensor(s.ctx, s.error!, 0);
        bad.push({ name, reason: 'a merged weight is non-finite or too large for an f16 scale (max |w| > 7·65504)' });
      } else {
        const reason = await verifyTensor(s, name, plan.get(name), snap, delta, version, t);
        if (reason) bad.push({ name, reason });
      }
      t.verifyMs += performance.now() - t1;
    } finally {
      endScope(s.ctx);
    }
  }
  return bad;
}

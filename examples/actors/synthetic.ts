// Synthetic pipeline stage for the stress harness (tools/stress.ts): burns a configurable amount
// of compute, touches its payload (so a transport cannot skip delivering it) and returns a small
// result that the next stage consumes.
import { isSharedTensor, tensorView } from '../../protocols/shared-tensor.js';

interface StageMsg {
  id: number;
  /** Iterations of synthetic compute (a small integer hash loop). */
  work: number;
  payload?: unknown;
}

function burn(n: number, seed: number): number {
  let h = seed | 0;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ i, 0x01000193);
  return h;
}

function touch(p: unknown): number {
  if (p === undefined || p === null) return 0;
  if (isSharedTensor(p)) {
    const v = tensorView(p) as Float32Array;
    return v.length ? v[v.length - 1]! + v.length : 0;
  }
  if (p instanceof Float32Array) return p.length ? p[p.length - 1]! + p.length : 0;
  return 1;
}

export async function stage(msg: StageMsg): Promise<{ id: number; h: number; t: number }> {
  return { id: msg.id, h: burn(msg.work, msg.id), t: touch(msg.payload) };
}

export async function echo(msg: unknown): Promise<unknown> {
  return msg;
}

// The msgpack payloads of one lane batch travel together, in one ArrayBuffer that is transferred
// (not copied) with the batch: V8 then clones a few numbers per message instead of one string or
// one Uint8Array each, and the receiver allocates one buffer per batch, not one per message.
// In the batch, each such payload's slot holds the end offset of its bytes, and the buffer is the
// batch's last element (so a batch carrying one has a length of one more than a multiple of the
// slot count). See protocols/envelope.ts for the two batch layouts.
import {
  DELIVERY_EXTRAS,
  DELIVERY_MSGPACK,
  DELIVERY_SLOTS,
  REPLY_MSGPACK,
  REPLY_SLOTS,
} from '../../protocols/envelope.js';

/** Which entries of a flat batch carry gathered bytes: those whose code (a number) has `(code & mask) === want`. */
export interface PayloadSlots {
  /** Entries are this many slots wide. */
  stride: number;
  codeAt: number;
  mask: number;
  want: number;
  payloadAt: number;
}

function selected(batch: unknown[], k: number, s: PayloadSlots): boolean {
  return ((batch[k + s.codeAt] as number) & s.mask) === s.want;
}

/**
 * Move the msgpack payloads of a flat batch (the selected entries' Uint8Arrays at `payloadAt`) into
 * one buffer appended to the batch. Returns the buffer to transfer, or null when the batch holds no
 * msgpack bytes.
 */
export function gatherPayloads(batch: unknown[], s: PayloadSlots): ArrayBuffer | null {
  const { stride, payloadAt } = s;
  let total = 0;
  for (let k = 0; k < batch.length; k += stride) {
    const p = batch[k + payloadAt];
    if (selected(batch, k, s) && p instanceof Uint8Array) total += p.byteLength;
  }
  if (total === 0) return null;
  const out = new Uint8Array(total);
  let end = 0;
  for (let k = 0; k < batch.length; k += stride) {
    const p = batch[k + payloadAt];
    if (!selected(batch, k, s) || !(p instanceof Uint8Array)) continue;
    out.set(p, end);
    end += p.byteLength;
    batch[k + payloadAt] = end;
  }
  batch.push(out.buffer);
  return out.buffer;
}

/** The receiving side of gatherPayloads: removes the buffer and puts each payload's bytes (a view) back in its slot. */
export function scatterPayloads(batch: unknown[], s: PayloadSlots): void {
  const { stride, payloadAt } = s;
  if (batch.length % stride !== 1) return;
  const bytes = new Uint8Array(batch.pop() as ArrayBuffer);
  let start = 0;
  for (let k = 0; k < batch.length; k += stride) {
    const end = batch[k + payloadAt];
    if (!selected(batch, k, s) || typeof end !== 'number') continue;
    batch[k + payloadAt] = bytes.subarray(start, end);
    start = end;
  }
}

/** Deliveries (runtime → worker): msgpack payloads, except those wrapped with extras. */
export const DELIVERY_BYTES: PayloadSlots = {
  stride: DELIVERY_SLOTS,
  codeAt: 1,
  mask: DELIVERY_MSGPACK | DELIVERY_EXTRAS,
  want: DELIVERY_MSGPACK,
  payloadAt: 3,
};

/** Replies (worker → runtime): REPLY_MSGPACK results. */
export const REPLY_BYTES: PayloadSlots = {
  stride: REPLY_SLOTS,
  codeAt: 1,
  mask: -1,
  want: REPLY_MSGPACK,
  payloadAt: 2,
};

// The msgpack payloads of one lane batch travel together, in one ArrayBuffer that is transferred
// (not copied) with the batch: V8 then clones a few numbers per message instead of one string or
// one Uint8Array each, and the receiver allocates one buffer per batch, not one per message.
// In the batch, each such payload's slot holds the end offset of its bytes, and the buffer is the
// batch's last element (so a batch carrying one has a length of one more than a multiple of the
// slot count). Payloads are addressed by offsets on both sides (TaskEnvelope o, e), never by a
// view per message. See protocols/envelope.ts for the two batch layouts.
import {
  DELIVERY_EXTRAS,
  DELIVERY_MSGPACK,
  DELIVERY_SLOTS,
  REPLY_MSGPACK,
  REPLY_SLOTS,
  type TaskEnvelope,
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
 * Move the msgpack payloads of a flat batch into one buffer appended to the batch. A selected entry's
 * slot at `payloadAt` holds its msgpack envelope (bytes [o, e) of p) and is replaced by the end
 * offset of its bytes in the buffer. Returns the buffer to transfer, or null when the batch holds no
 * msgpack bytes.
 */
export function gatherPayloads(batch: unknown[], s: PayloadSlots): ArrayBuffer | null {
  const { stride, payloadAt } = s;
  let total = 0;
  for (let k = 0; k < batch.length; k += stride) {
    const env = batch[k + payloadAt] as TaskEnvelope;
    if (selected(batch, k, s) && env.p instanceof Uint8Array) total += end(env) - (env.o ?? 0);
  }
  if (total === 0) return null;
  const out = new Uint8Array(total);
  let at = 0;
  for (let k = 0; k < batch.length; k += stride) {
    const env = batch[k + payloadAt] as TaskEnvelope;
    if (!selected(batch, k, s) || !(env.p instanceof Uint8Array)) continue;
    at = copyBytes(env.p, env.o ?? 0, end(env), out, at);
    batch[k + payloadAt] = at;
  }
  batch.push(out.buffer);
  return out.buffer;
}

/** Below this many bytes a loop beats a native copy (whose call and checks cost more than the bytes). */
const SMALL_COPY = 64;

/** Copy src[from, to) into out at `at`, without a view of src for small payloads; returns the new end. */
function copyBytes(src: Uint8Array, from: number, to: number, out: Uint8Array, at: number): number {
  if (to - from < SMALL_COPY) {
    for (let i = from; i < to; i++) out[at++] = src[i]!;
    return at;
  }
  out.set(src.subarray(from, to), at);
  return at + (to - from);
}

function end(env: TaskEnvelope): number {
  return env.e ?? (env.p as Uint8Array).byteLength;
}

/**
 * The receiving side of gatherPayloads: removes the buffer, and puts in each selected slot a msgpack
 * envelope of its bytes in that buffer (h empty, for the receiver to fill in).
 */
export function scatterPayloads(batch: unknown[], s: PayloadSlots): void {
  const { stride, payloadAt } = s;
  if (batch.length % stride !== 1) return;
  const bytes = new Uint8Array(batch.pop() as ArrayBuffer);
  let start = 0;
  for (let k = 0; k < batch.length; k += stride) {
    const end = batch[k + payloadAt];
    if (!selected(batch, k, s) || typeof end !== 'number') continue;
    const env: TaskEnvelope = { h: '', t: 'msgpack', p: bytes, o: start, e: end };
    batch[k + payloadAt] = env;
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

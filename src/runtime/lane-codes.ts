// The codes a lane batch carries per message (protocols/envelope.ts): the delivery code and payload
// slot the runtime sends for an attempt, and the reply it rebuilds from a worker's reply code and
// value. Pure translations between an Attempt or a WorkerReply and a batch's slots, apart from
// WorkerLanes' scheduling (lanes.ts) and the gathering of payload bytes (lane-bytes.ts).
import {
  DELIVERY_ANNOUNCE,
  DELIVERY_EXCLUSIVE,
  DELIVERY_EXTRAS,
  DELIVERY_MSGPACK,
  REPLY_CLONE,
  REPLY_EMPTY,
  REPLY_FAILED,
  REPLY_MSGPACK,
  REPLY_MSGPACK_SHARED,
  type RemoteError,
  type TaskEnvelope,
  type WorkerReply,
} from '../../protocols/envelope.js';
import { ownBytes } from '../../protocols/codec.js';
import type { Attempt } from './lane-records.js';

/** A delivery's code (protocols/envelope.ts): its flags, its transport, and whether its payload has extras. */
export function deliveryCode(a: Attempt, extras: boolean): number {
  return (
    (a.announce ? DELIVERY_ANNOUNCE : 0) |
    (a.exclusive ? DELIVERY_EXCLUSIVE : 0) |
    (a.env.t === 'msgpack' ? DELIVERY_MSGPACK : 0) |
    (extras ? DELIVERY_EXTRAS : 0)
  );
}

/**
 * The payload slot with extras, [payload, s, v], which travels as it is (not gathered): msgpack bytes
 * are copied exactly, as the envelope's are a range of the encoder's larger buffer, which a clone
 * would copy whole.
 */
export function withExtras(e: TaskEnvelope): [unknown, SharedArrayBuffer[] | null, number | null] {
  return [e.t === 'msgpack' && e.p instanceof Uint8Array ? ownBytes(e) : e.p, e.s ?? null, e.v ?? null];
}

export function replyOf(code: number, value: unknown): WorkerReply {
  if (code === REPLY_EMPTY) return { ok: true, r: null };
  if (code === REPLY_MSGPACK) return { ok: true, r: value as TaskEnvelope };
  if (code === REPLY_MSGPACK_SHARED) {
    const [p, s] = value as [Uint8Array, SharedArrayBuffer[]];
    return { ok: true, r: { h: '', t: 'msgpack', p, s } };
  }
  if (code === REPLY_CLONE) return { ok: true, r: { h: '', t: 'clone', p: value } };
  if (code === REPLY_FAILED) {
    const [kind, error] = value as [Exclude<WorkerReply, { ok: true }>['kind'], RemoteError];
    return { ok: false, kind, error };
  }
  throw new Error(`actor runtime: unknown reply code ${code}`);
}

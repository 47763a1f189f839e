import type { MessagePort } from 'node:worker_threads';
// The runtime's own cross-thread messages: the task envelope every actor message travels in, the
// worker's reply, the error shape that survives structured clone, and the per-role workerData.

/** What one actor message carries: the handler name, the transport, the payload and any shared buffers. */
export interface TaskEnvelope {
  /** Handler (exported function) name in the actor module. */
  h: string;
  /** 'msgpack': p is msgpackr bytes (a Uint8Array); 'clone': p is the message itself (structured clone). */
  t: 'msgpack' | 'clone';
  p: unknown;
  /**
   * msgpack: where the message's bytes start (o) and end (e) in p, when p holds more than them (the
   * encoder's output buffer, or a lane batch's buffer): a view per message would cost an object (and
   * msgpackr a DataView for it) at every hop. Absent: all of p.
   */
  o?: number;
  e?: number;
  /** SharedArrayBuffers referenced by the payload (msgpack transport). */
  s?: SharedArrayBuffer[];
  /** Protocol version of the message kind the sender used (checked against the receiver's declaration). */
  v?: number;
}

/** An error as it comes back across the thread boundary (Error instances lose custom fields in structured clone). */
export interface RemoteError {
  name: string;
  message: string;
  stack?: string;
  /** For validation failures: dotted path of the bad field. */
  field?: string;
}

/** The worker's answer to one envelope. Handler and validation errors are values (the worker stays alive). */
export type WorkerReply =
  | { ok: true; r: TaskEnvelope | null }
  | { ok: false; kind: 'protocol' | 'handler' | 'missing-handler'; error: RemoteError };

/** The long-lived "serve" task the runtime runs on every worker of a role (a piscina task, see src/runtime/lanes.ts). */
export interface ActorWorkerData {
  /** The worker's channel: deliveries in, replies out (transferred with the task). */
  port: MessagePort;
  role: string;
  /** Absolute path of the compiled actor module. */
  module: string;
  /** The role's config (may contain SharedArrayBuffers, e.g. a WeightStore description). */
  config: unknown;
  /**
   * Int32 words shared with the runtime: [0] the sequence number of the message the worker started
   * last (tells, after a crash, which message was running and which never started), [1] a doorbell
   * the runtime rings after each post when the worker idles in Atomics.wait ('sync').
   */
  control: SharedArrayBuffer;
  /** How the worker idles: on its event loop ('async') or parked in Atomics.wait ('sync'). */
  atomics: 'async' | 'sync';
}

/**
 * A worker's channel (runtime → worker) carries batches: one postMessage per worker per event-loop
 * turn, holding every message sent to it in that turn. A batch is a flat array with
 * DELIVERY_SLOTS entries per message: sequence number (unique per worker, the reply carries it
 * back), a code (DELIVERY_* bits), the handler name and the payload. V8 clones a flat array of
 * primitives about 3× faster than an array of objects (measured here: 0.22 vs 0.77 µs per
 * message), and every slot costs: 4 slots instead of 7 (h, t, p, s, v) cut the clone by a third.
 * The payload is the message itself (structured clone) or, with DELIVERY_MSGPACK, its msgpack bytes;
 * with DELIVERY_EXTRAS it is [payload, shared buffers or null, protocol version or null]. The msgpack
 * payloads of a batch (those without extras) travel in one transferred ArrayBuffer at its end, each
 * replaced by the end offset of its bytes (src/runtime/lane-bytes.ts).
 */
export type LaneBatch = unknown[];
export const DELIVERY_SLOTS = 4;
/** Post a start signal at once when the handler begins. */
export const DELIVERY_ANNOUNCE = 1;
/** Supervised alone (deadline or abort): the replies before it go out first. */
export const DELIVERY_EXCLUSIVE = 2;
/** The payload is msgpack bytes (TaskEnvelope t 'msgpack'); otherwise the message itself ('clone'). */
export const DELIVERY_MSGPACK = 4;
/** The payload slot holds [payload, s or null, v or null] (the envelope has shared buffers or a version). */
export const DELIVERY_EXTRAS = 8;

/**
 * Worker → runtime: flat batches with REPLY_SLOTS entries per item: sequence number, code, value.
 * REPLY_STARTED (value null); REPLY_EMPTY (the handler returned nothing); REPLY_MSGPACK (the result's
 * msgpack bytes; those of a batch travel in one buffer at its end, as in deliveries);
 * REPLY_MSGPACK_SHARED ([bytes, shared buffers]); REPLY_CLONE (the result itself); REPLY_FAILED
 * ([WorkerReply kind, RemoteError]); REPLY_DIED ([exit code or null, uncaught RemoteError or null]:
 * the worker is going down under this message, sent from its exit hooks so the runtime knows before
 * the thread's teardown ends). Or one of the two lifecycle messages.
 */
export type LaneOutbound = unknown[] | { ready: 1 } | { initError: RemoteError };
export const REPLY_SLOTS = 3;
export const REPLY_STARTED = 0;
export const REPLY_EMPTY = 1;
export const REPLY_MSGPACK = 2;
export const REPLY_CLONE = 3;
export const REPLY_FAILED = 4;
export const REPLY_DIED = 5;
export const REPLY_MSGPACK_SHARED = 6;

/** workerData of a PortPipeline stage: its actor module and handler, and the ports to the neighbours.
 * Batches on the ports are arrays of the handler's messages / results (structured clone). */
export interface PortStageData {
  module: string;
  handler: string;
  config: unknown;
  input: MessagePort;
  output: MessagePort;
}

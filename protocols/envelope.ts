import type { MessagePort } from 'node:worker_threads';
// The runtime's own cross-thread messages: the task envelope every actor message travels in, the
// worker's reply, the error shape that survives structured clone, and the per-role workerData.

/** What a piscina task carries: the handler name, the transport, the payload and any shared buffers. */
export interface TaskEnvelope {
  /** Handler (exported function) name in the actor module. */
  h: string;
  /** 'msgpack': p is msgpackr bytes (as a latin1 string, or a Uint8Array); 'clone': p is the message itself (structured clone). */
  t: 'msgpack' | 'clone';
  p: unknown;
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

/** Handler name of the explicit init message the runtime sends when a role starts. */
export const INIT_HANDLER = '__init__';

/** What the runtime puts in piscina's workerData for every worker of a role. */
export interface ActorWorkerData {
  role: string;
  /** Absolute path of the compiled actor module. */
  module: string;
  /** The role's config (may contain SharedArrayBuffers, e.g. a WeightStore description). */
  config: unknown;
}

/** workerData of a PortPipeline stage: its actor module and handler, and the ports to the neighbours.
 * Batches on the ports are arrays of the handler's messages / results (structured clone). */
export interface PortStageData {
  module: string;
  handler: string;
  config: unknown;
  input: MessagePort;
  output: MessagePort;
}

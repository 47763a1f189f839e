// The ActorSystem's public types: what a role is spawned with (RoleSpec), what one call may carry
// (CallOptions), and what the system reports (ActorEvent on events$, ActorMetric on metrics$).
import type { TransferListItem } from 'node:worker_threads';
import type { Transport } from '../../protocols/codec.js';
import type { ProtocolDef } from '../../protocols/messages.js';

export interface RoleSpec {
  /**
   * Actor module: path, absolute or relative to the current directory (.ts maps to the compiled .js; see modules.ts).
   * Default: loractor's actors/<role>.ts.
   */
  module?: string;
  /** Worker threads. Stateful roles use 1 (the default). */
  threads?: number;
  /** Messages that may wait beyond the ones running (the mailbox bound). Default 64. */
  maxQueue?: number;
  /** Retries of a message whose handler threw or whose worker crashed, before dead-lettering. Default 2. */
  retries?: number;
  /**
   * Retry a message whose handler threw (false: only crashes are retried; a thrown error is the message's verdict).
   * Default true.
   */
  retryErrors?: boolean;
  /** Default per-call deadline in ms (0 = none). Default 0. */
  deadlineMs?: number;
  /** When the mailbox is full: 'wait' for room (backpressure) or 'reject' with MailboxFullError. Default 'wait'. */
  onFull?: 'wait' | 'reject';
  /** Default transport for messages to this role. Default 'msgpack'. */
  transport?: Transport;
  /**
   * Idle-worker wait: 'async' (default; the worker's event loop keeps running) or 'sync' (parked in Atomics.wait,
   * woken by a doorbell: lower latency, worker frozen while idle).
   */
  atomics?: 'async' | 'sync';
  /** Passed to the actor's init(config) in every worker (may hold SharedArrayBuffers). */
  config?: unknown;
  /** Retry a message whose deadline expired (its worker is replaced first); for idempotent handlers. Default false. */
  retryTimeouts?: boolean;
}

export interface CallOptions {
  /** Deadline for this call in ms (overrides the role default; 0 = none). */
  deadlineMs?: number;
  signal?: AbortSignal;
  transport?: Transport;
  /** Protocol the message follows: its version travels with the message and the receiver checks it. */
  protocol?: ProtocolDef;
  /**
   * Objects to transfer, not copy (MessagePorts, ArrayBuffers); the message travels by structured clone. A transferred
   * object cannot travel again, so a retry of such a message fails.
   */
  transfer?: readonly TransferListItem[];
  /**
   * When the deadline starts: 'send' (default; queueing counts) or 'start' (when a worker begins the handler, so
   * waiting for a busy or replacement worker does not count).
   */
  deadlineFrom?: 'send' | 'start';
  /** Start signal: called when a worker begins the handler, once per attempt (1, 2, … with retries). */
  onStart?: (attempt: number) => void;
}

export type ActorEvent =
  | { type: 'role-started'; role: string; threads: number; time: number }
  | { type: 'worker-created' | 'worker-destroyed'; role: string; time: number }
  | { type: 'crash'; role: string; handler: string; attempt: number; error: Error; time: number }
  | { type: 'handler-error'; role: string; handler: string; attempt: number; error: Error; time: number }
  | { type: 'retry'; role: string; handler: string; attempt: number; time: number }
  | {
      type: 'dead-letter';
      role: string;
      handler: string;
      attempts: number;
      message: unknown;
      error: Error;
      time: number;
    }
  | { type: 'timeout'; role: string; handler: string; deadlineMs: number; time: number }
  | { type: 'rejected'; role: string; handler: string; field: string; error: Error; time: number }
  | { type: 'backpressure'; role: string; handler: string; pending: number; time: number }
  | { type: 'tell-failed'; role: string; handler: string; error: Error; time: number }
  | { type: 'shutdown'; phase: 'begin' | 'drained' | 'closed'; pending: number; time: number };

export interface ActorMetric {
  role: string;
  handler: string;
  ok: boolean;
  attempts: number;
  /** Time from accept to settle (queue + run + retries), ms. */
  totalMs: number;
}

// The records of the delivery layer (lanes.ts): an Attempt, one delivery of a message as the supervisor
// hands it over, and a Lane, one worker's channel and the attempts placed on it, with the small
// lookups over a lane's in-flight list and outgoing batch. Kept apart from WorkerLanes so that lanes.ts
// holds the scheduling alone; the records are plain objects (no classes).
import type { MessagePort, TransferListItem } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { DELIVERY_SLOTS, type LaneBatch, type TaskEnvelope, type WorkerReply } from '../../protocols/envelope.js';
import type { WorkerCrashError } from './errors.js';

export type AttemptOutcome = { reply: WorkerReply } | { crash: Error };

/** One delivery attempt of a message, as the supervisor hands it to the lanes. */
export interface Attempt {
  env: TaskEnvelope;
  transfer?: readonly TransferListItem[] | undefined;
  /** Runs alone on its worker (deadline / abort): see the header of lanes.ts. */
  exclusive: boolean;
  /** Ask the worker for a start signal (calls onStart when the handler begins). */
  announce: boolean;
  onStart?: (() => void) | undefined;
  settle(o: AttemptOutcome): void;
  /** Set by the lanes while the attempt is on a worker (sequence 0: queued). */
  seq: number;
  lane: object | null;
}

export interface Lane {
  /** The single-thread pool hosting this lane's worker (piscina: thread creation, limits, termination). */
  pool: Piscina;
  /** The runtime's end of the worker's channel. */
  port: MessagePort;
  control: Int32Array;
  sync: boolean;
  /**
   * The attempts on the worker, in sending order (replies come back in that order, so the one a reply
   * is for is almost always the first). An array, not a Map keyed by sequence number: a Map's table
   * in the old generation is reallocated there as it churns, and its discarded tables still point at
   * young attempts, which then survive every scavenge until a full GC (measured: ~2 MB promoted per
   * scavenge, the ask chain ~25% slower).
   */
  inflight: Attempt[];
  /** The batch being gathered this turn (flat, DELIVERY_SLOTS per message). */
  outbox: LaneBatch;
  transfer: TransferListItem[];
  exclusive: boolean;
  ready: boolean;
  killed: boolean;
  /** The crash the worker announced before dying (REPLY_DIED). */
  died: WorkerCrashError | null;
}

export function indexOfAttempt(inflight: Attempt[], seq: number): number {
  for (let i = 0; i < inflight.length; i++) if (inflight[i]!.seq === seq) return i;
  return -1;
}

export function removeAt(inflight: Attempt[], i: number): void {
  if (i === 0) inflight.shift();
  else if (i > 0) inflight.splice(i, 1);
}

export function indexOfSeq(batch: LaneBatch, seq: number): number {
  for (let k = 0; k < batch.length; k += DELIVERY_SLOTS) if (batch[k] === seq) return k;
  return -1;
}

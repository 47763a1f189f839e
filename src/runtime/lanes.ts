// The delivery layer under ActorSystem.ask/tell: a role's worker threads, each with a persistent
// channel (its parentPort), instead of a pool task per message. Small messages are coalesced: every
// message sent to a worker in one event-loop turn travels in one postMessage, and replies come back
// batched the same way (worker-entry.ts), matched by sequence number. Ordering per worker is FIFO.
//
// Supervision stays exact. A message with a deadline or an abort signal is "exclusive": it goes to
// an idle worker and nothing joins it there until it settles, so a deadline that terminates the
// worker terminates only that message (as piscina did, where a task had its worker to itself). Other
// messages are pipelined up to PIPELINE_DEPTH per worker. When a worker dies, the runtime has
// already read every reply it sent (Node drains a worker's port before 'exit'); of the messages
// left, the one the worker had started (its sequence number is in shared memory) crashed, and the
// others never started: they go back to the head of the queue without costing an attempt.
import { Worker, type TransferListItem } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import {
  DELIVERY_ANNOUNCE, DELIVERY_EXCLUSIVE, DELIVERY_SLOTS, REPLY_CLONE, REPLY_DIED, REPLY_EMPTY, REPLY_FAILED, REPLY_MSGPACK, REPLY_SLOTS, REPLY_STARTED,
  type ActorWorkerData, type LaneBatch, type LaneOutbound, type RemoteError, type TaskEnvelope, type WorkerReply,
} from '../../protocols/envelope.js';
import { WorkerCrashError, fromRemoteError, toRemoteError } from './errors.js';

/** Messages in flight on one worker at once (non-exclusive ones). */
const PIPELINE_DEPTH = 64;
const ENTRY = fileURLToPath(new URL('./worker-entry.js', import.meta.url));

export type AttemptOutcome = { reply: WorkerReply } | { crash: Error };

/** One delivery attempt of a message, as the supervisor hands it to the lanes. */
export interface Attempt {
  env: TaskEnvelope;
  transfer?: readonly TransferListItem[] | undefined;
  /** Runs alone on its worker (deadline / abort): see the header. */
  exclusive: boolean;
  /** Ask the worker for a start signal (calls onStart when the handler begins). */
  announce: boolean;
  onStart?: (() => void) | undefined;
  settle(o: AttemptOutcome): void;
  /** Set by the lanes while the attempt is on a worker (sequence 0: queued). */
  seq: number;
  lane: object | null;
}

interface Lane {
  worker: Worker;
  control: Int32Array;
  sync: boolean;
  inflight: Map<number, Attempt>;
  /** The batch being gathered this turn (flat, DELIVERY_SLOTS per message). */
  outbox: LaneBatch;
  transfer: TransferListItem[];
  exclusive: boolean;
  ready: boolean;
  killed: boolean;
  error: Error | null;
  /** The crash the worker announced before dying (REPLY_DIED). */
  died: WorkerCrashError | null;
}

export interface LanesOptions {
  role: string;
  module: string;
  config: unknown;
  threads: number;
  atomics: 'async' | 'sync';
  onWorker(kind: 'worker-created' | 'worker-destroyed'): void;
}

export class WorkerLanes {
  private readonly lanes: Lane[] = [];
  private readonly queue: Attempt[] = [];
  private readonly dirty = new Set<Lane>();
  private flushScheduled = false;
  private seq = 0;
  private closing = false;
  private bootstrapFailed = false;
  private firstReady: { resolve(): void; reject(e: Error): void } | null = null;
  private readyCount = 0;

  constructor(private readonly o: LanesOptions) {}

  /** Start every worker; resolves once each has loaded the module and run init, rejects on the first failure. */
  start(): Promise<void> {
    const all = new Promise<void>((resolve, reject) => (this.firstReady = { resolve, reject }));
    for (let i = 0; i < this.o.threads; i++) this.spawn();
    return all;
  }

  /** Live workers and messages waiting for one. */
  stats(): { workers: number; queued: number } {
    return { workers: this.lanes.length, queued: this.queue.length };
  }

  submit(a: Attempt): void {
    if (this.closing) return a.settle({ crash: new WorkerCrashError(`actor role '${this.o.role}' shut down before the message ran`) });
    this.queue.push(a);
    this.pump();
  }

  /** Withdraw an attempt (deadline, abort): dropped from the queue, or its worker terminated when it was sent. */
  cancel(a: Attempt): void {
    const lane = a.lane as Lane | null;
    if (!lane) {
      const i = this.queue.indexOf(a);
      if (i >= 0) this.queue.splice(i, 1);
      return;
    }
    const unsent = indexOfSeq(lane.outbox, a.seq);
    if (unsent >= 0) {
      // Not posted yet (it would have gone at the end of this turn): nothing to terminate.
      lane.outbox.splice(unsent, DELIVERY_SLOTS);
      this.unplace(lane, a.seq, a);
      return;
    }
    lane.inflight.delete(a.seq);
    a.lane = null;
    lane.killed = true;
    void lane.worker.terminate();
    this.retire(lane);
    this.pump();
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.lanes.map((l) => l.worker.terminate()));
  }

  private spawn(): void {
    const control = new Int32Array(new SharedArrayBuffer(8));
    const workerData: ActorWorkerData = { role: this.o.role, module: this.o.module, config: this.o.config, control: control.buffer as SharedArrayBuffer, atomics: this.o.atomics };
    const worker = new Worker(ENTRY, { workerData });
    const lane: Lane = { worker, control, sync: this.o.atomics === 'sync', inflight: new Map(), outbox: [], transfer: [], exclusive: false, ready: false, killed: false, error: null, died: null };
    this.lanes.push(lane);
    worker.on('message', (m: LaneOutbound) => this.onMessage(lane, m));
    worker.on('error', (err) => (lane.error = err));
    worker.on('exit', (code) => this.onExit(lane, code));
    this.o.onWorker('worker-created');
  }

  private onMessage(lane: Lane, m: LaneOutbound): void {
    if (Array.isArray(m)) {
      for (let k = 0; k < m.length; k += REPLY_SLOTS) {
        const seq = m[k] as number;
        const code = m[k + 1] as number;
        const a = lane.inflight.get(seq);
        if (code === REPLY_DIED) {
          const remote = m[k + 3] as RemoteError | null;
          lane.died = remote ? new WorkerCrashError(remote.message, { cause: fromRemoteError(remote) }) : new WorkerCrashError(`worker exited with code: ${m[k + 2] as number}`);
          if (a) {
            this.unplace(lane, seq, a);
            a.settle({ crash: lane.died });
          }
          this.retire(lane);
          continue;
        }
        if (!a) continue; // settled meanwhile (deadline)
        if (code === REPLY_STARTED) {
          a.onStart?.();
          continue;
        }
        this.unplace(lane, seq, a);
        a.settle({ reply: replyOf(code, m[k + 2], m[k + 3]) });
      }
    } else if ('ready' in m) {
      this.markReady(lane);
      if (++this.readyCount === this.o.threads) this.firstReady?.resolve();
    } else {
      // A replacement whose init fails stays up and answers every message with the init error.
      this.firstReady?.reject(new Error(`actor role '${this.o.role}': init failed: ${m.initError.message}`, { cause: fromRemoteError(m.initError) }));
      this.markReady(lane);
    }
    this.pump();
  }

  /** A starting worker keeps the process alive; a ready one only while it has messages in flight. */
  private markReady(lane: Lane): void {
    lane.ready = true;
    if (lane.inflight.size === 0) lane.worker.unref();
  }

  private unplace(lane: Lane, seq: number, a: Attempt): void {
    lane.inflight.delete(seq);
    a.lane = null;
    if (a.exclusive) lane.exclusive = false;
    if (lane.inflight.size === 0 && lane.ready) lane.worker.unref();
  }

  /**
   * Take a worker out of service (it died, announced its death, or is being terminated) and start its
   * replacement at once. Messages placed on it but not yet posted go back to the head of the queue.
   */
  private retire(lane: Lane): void {
    const i = this.lanes.indexOf(lane);
    if (i < 0) return;
    this.lanes.splice(i, 1);
    this.dirty.delete(lane);
    const unsent: Attempt[] = [];
    for (let k = 0; k < lane.outbox.length; k += DELIVERY_SLOTS) {
      const seq = lane.outbox[k] as number;
      const a = lane.inflight.get(seq);
      if (!a) continue;
      lane.inflight.delete(seq);
      a.lane = null;
      unsent.push(a);
    }
    lane.outbox = [];
    this.queue.unshift(...unsent);
    this.o.onWorker('worker-destroyed');
    if (!lane.ready) this.bootstrapFailed = true;
    if (!this.closing && (!this.bootstrapFailed || lane.killed)) this.spawn();
  }

  private onExit(lane: Lane, code: number): void {
    this.retire(lane);
    if (!lane.ready) this.firstReady?.reject(new Error(`actor role '${this.o.role}': worker exited during init (code ${code})${lane.error ? `: ${lane.error.message}` : ''}`));
    const crash = lane.died ?? (lane.error ? new WorkerCrashError(lane.error.message, { cause: lane.error }) : new WorkerCrashError(`worker exited with code: ${code}`));
    // Every reply the worker sent has been read (Node drains its port before 'exit'). Of the messages
    // left, those it had started crashed with it; the others never started and go back to the queue.
    const started = Atomics.load(lane.control, 0);
    const neverStarted: Attempt[] = [];
    for (const [seq, a] of lane.inflight) {
      a.lane = null;
      if (seq <= started) a.settle({ crash });
      else neverStarted.push(a);
    }
    lane.inflight.clear();
    this.queue.unshift(...neverStarted);
    if (this.closing || this.lanes.length === 0) {
      const why = this.closing ? new WorkerCrashError(`actor role '${this.o.role}' shut down before the message ran`) : crash;
      for (const a of this.queue.splice(0)) a.settle({ crash: why });
      return;
    }
    this.pump();
  }

  /** Hand queued attempts to workers, head first (FIFO), while there is room. */
  private pump(): void {
    while (this.queue.length > 0) {
      const a = this.queue[0]!;
      const lane = this.pick(a.exclusive);
      if (!lane) return;
      this.queue.shift();
      this.place(lane, a);
    }
  }

  private pick(exclusive: boolean): Lane | null {
    let best: Lane | null = null;
    for (const l of this.lanes) {
      if (!l.ready || l.killed || l.exclusive) continue;
      if (exclusive ? l.inflight.size > 0 : l.inflight.size >= PIPELINE_DEPTH) continue;
      if (!best || l.inflight.size < best.inflight.size) best = l;
    }
    return best;
  }

  private place(lane: Lane, a: Attempt): void {
    const seq = ++this.seq;
    if (lane.inflight.size === 0) lane.worker.ref();
    lane.inflight.set(seq, a);
    a.seq = seq;
    a.lane = lane;
    if (a.exclusive) lane.exclusive = true;
    const e = a.env;
    lane.outbox.push(seq, (a.announce ? DELIVERY_ANNOUNCE : 0) | (a.exclusive ? DELIVERY_EXCLUSIVE : 0), e.h, e.t, e.p, e.s ?? null, e.v ?? null);
    if (a.transfer) lane.transfer.push(...a.transfer);
    this.dirty.add(lane);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  /** One postMessage per worker for everything placed during this turn. */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    for (const lane of this.dirty) {
      const batch = lane.outbox;
      const transfer = lane.transfer;
      lane.outbox = [];
      lane.transfer = [];
      try {
        lane.worker.postMessage(batch, transfer);
      } catch {
        // Something in the batch cannot be cloned: post one by one, and reject only what fails.
        for (let k = 0; k < batch.length; k += DELIVERY_SLOTS) this.postOne(lane, batch.slice(k, k + DELIVERY_SLOTS));
      }
      if (lane.sync) {
        Atomics.add(lane.control, 1, 1);
        Atomics.notify(lane.control, 1);
      }
    }
    this.dirty.clear();
  };

  private postOne(lane: Lane, one: LaneBatch): void {
    const seq = one[0] as number;
    const a = lane.inflight.get(seq);
    if (!a) return;
    try {
      lane.worker.postMessage(one, a.transfer ? [...a.transfer] : []);
    } catch (err) {
      this.unplace(lane, seq, a);
      a.settle({ reply: { ok: false, kind: 'protocol', error: { ...toRemoteError(err), field: '(message)' } } });
    }
  }
}

function indexOfSeq(batch: LaneBatch, seq: number): number {
  for (let k = 0; k < batch.length; k += DELIVERY_SLOTS) if (batch[k] === seq) return k;
  return -1;
}

function replyOf(code: number, a: unknown, b: unknown): WorkerReply {
  if (code === REPLY_EMPTY) return { ok: true, r: null };
  if (code === REPLY_MSGPACK) return { ok: true, r: b === null ? { h: '', t: 'msgpack', p: a } : { h: '', t: 'msgpack', p: a, s: b as SharedArrayBuffer[] } };
  if (code === REPLY_CLONE) return { ok: true, r: { h: '', t: 'clone', p: a } };
  if (code === REPLY_FAILED) return { ok: false, kind: a as Exclude<WorkerReply, { ok: true }>['kind'], error: b as RemoteError };
  throw new Error(`actor runtime: unknown reply code ${code}`);
}

// The delivery layer under ActorSystem.ask/tell: a role's worker threads, each with a persistent
// channel (a MessagePort), instead of a pool task per message. Each worker is hosted by piscina, one
// single-thread pool per worker, which owns the thread (creation, resource limits, env, termination)
// and runs one long-lived "serve" task on it (worker-entry.ts): the task receives the channel in its
// transfer list and serves deliveries until the thread ends. A crash reaches the runtime as that
// task's rejection (after the worker's own REPLY_DIED notice, when it could send one); a deadline kill
// or shutdown destroys the worker's pool, which terminates the thread. Small messages are coalesced:
// every message sent to a worker in one event-loop turn travels in one postMessage, and replies come
// back batched the same way (worker-entry.ts), matched by sequence number. Ordering per worker is FIFO.
//
// Supervision stays exact. A message with a deadline or an abort signal is "exclusive": it goes to
// an idle worker and nothing joins it there until it settles, so a deadline that terminates the
// worker terminates only that message (as a pool task per message did, having its worker to itself).
// Other messages are pipelined up to PIPELINE_DEPTH per worker. When a worker dies, the runtime
// first reads every reply it sent (the channel is drained when the serve task settles); of the messages
// left, the one the worker had started (its sequence number is in shared memory) crashed, and the
// others never started: they go back to the head of the queue without costing an attempt.
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import {
  DELIVERY_SLOTS,
  REPLY_DIED,
  REPLY_SLOTS,
  REPLY_STARTED,
  type ActorWorkerData,
  type LaneOutbound,
  type RemoteError,
} from '../../protocols/envelope.js';
import { WorkerCrashError, fromRemoteError, toRemoteError } from './errors.js';
import { DELIVERY_BYTES, REPLY_BYTES, gatherPayloads, scatterPayloads } from './lane-bytes.js';
import { deliveryCode, replyOf, withExtras } from './lane-codes.js';
import { type Attempt, type Lane, indexOfAttempt, indexOfSeq, removeAt } from './lane-records.js';

export type { Attempt, AttemptOutcome } from './lane-records.js';

/** Messages in flight on one worker at once (non-exclusive ones). */
const PIPELINE_DEPTH = 64;
const ENTRY = fileURLToPath(new URL('./worker-entry.js', import.meta.url));

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
    if (this.closing) {
      a.settle({ crash: new WorkerCrashError(`actor role '${this.o.role}' shut down before the message ran`) });
      return;
    }
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
    removeAt(lane.inflight, indexOfAttempt(lane.inflight, a.seq));
    a.lane = null;
    lane.killed = true;
    this.retire(lane); // destroys the lane's pool: the thread is terminated
    this.pump();
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.lanes.map((l) => l.pool.destroy()));
  }

  private spawn(): void {
    const control = new Int32Array(new SharedArrayBuffer(8));
    const { port1, port2 } = new MessageChannel();
    const task: ActorWorkerData = {
      port: port2,
      role: this.o.role,
      module: this.o.module,
      config: this.o.config,
      control: control.buffer as SharedArrayBuffer,
      atomics: this.o.atomics,
    };
    // minThreads 0: piscina starts the thread for the serve task and does not restart it after a
    // crash; the lane's replacement gets a pool of its own (started at once, even before the dead
    // thread's teardown). Piscina's atomics stay off: its one task never returns to piscina's loop.
    const pool = new Piscina({ filename: ENTRY, minThreads: 0, maxThreads: 1, idleTimeout: 0, atomics: 'disabled' });
    // A worker's uncaught error with no task left is emitted on the pool; the serve task's rejection
    // already tells the lane, so this listener only keeps the EventEmitter from throwing.
    pool.on('error', () => {});
    const lane: Lane = {
      pool,
      port: port1,
      control,
      sync: this.o.atomics === 'sync',
      inflight: [],
      outbox: [],
      transfer: [],
      exclusive: false,
      ready: false,
      killed: false,
      died: null,
    };
    this.lanes.push(lane);
    port1.on('message', (m: LaneOutbound) => this.onMessage(lane, m));
    pool.run(task, { transferList: [port2] }).then(
      () => this.onExit(lane, new WorkerCrashError('worker ended its serve task')),
      (err: Error) => this.onExit(lane, err),
    );
    this.o.onWorker('worker-created');
  }

  private onMessage(lane: Lane, m: LaneOutbound): void {
    if (Array.isArray(m)) {
      scatterPayloads(m, REPLY_BYTES);
      for (let k = 0; k < m.length; k += REPLY_SLOTS) {
        const seq = m[k] as number;
        const code = m[k + 1] as number;
        const a = lane.inflight[indexOfAttempt(lane.inflight, seq)];
        if (code === REPLY_DIED) {
          const [exitCode, remote] = m[k + 2] as [number | null, RemoteError | null];
          lane.died = remote
            ? new WorkerCrashError(remote.message, { cause: fromRemoteError(remote) })
            : new WorkerCrashError(`worker exited with code: ${exitCode}`);
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
        a.settle({ reply: replyOf(code, m[k + 2]) });
      }
    } else if ('ready' in m) {
      this.markReady(lane);
      if (++this.readyCount === this.o.threads) this.firstReady?.resolve();
    } else {
      // A replacement whose init fails stays up and answers every message with the init error.
      this.firstReady?.reject(
        new Error(`actor role '${this.o.role}': init failed: ${m.initError.message}`, {
          cause: fromRemoteError(m.initError),
        }),
      );
      this.markReady(lane);
    }
    this.pump();
  }

  /** A starting worker keeps the process alive; a ready one only while it has messages in flight. */
  private markReady(lane: Lane): void {
    lane.ready = true;
    if (lane.inflight.length === 0) lane.port.unref();
  }

  private unplace(lane: Lane, seq: number, a: Attempt): void {
    removeAt(lane.inflight, indexOfAttempt(lane.inflight, seq));
    a.lane = null;
    if (a.exclusive) lane.exclusive = false;
    if (lane.inflight.length === 0 && lane.ready) lane.port.unref();
  }

  /**
   * Take a worker out of service (it died, announced its death, or is being terminated) and start its
   * replacement at once. Messages placed on it but not yet posted go back to the head of the queue.
   */
  private retire(lane: Lane): void {
    const i = this.lanes.indexOf(lane);
    if (i < 0) return;
    this.lanes.splice(i, 1);
    // The thread is dead, dying (it announced its death) or being killed: piscina terminates it
    // (when closing, close() has destroyed every pool already).
    if (!this.closing) void lane.pool.destroy();
    this.dirty.delete(lane);
    const unsent: Attempt[] = [];
    for (let k = 0; k < lane.outbox.length; k += DELIVERY_SLOTS) {
      const seq = lane.outbox[k] as number;
      const i = indexOfAttempt(lane.inflight, seq);
      if (i < 0) continue;
      const a = lane.inflight[i]!;
      removeAt(lane.inflight, i);
      a.lane = null;
      unsent.push(a);
    }
    lane.outbox = [];
    this.queue.unshift(...unsent);
    this.o.onWorker('worker-destroyed');
    if (!lane.ready) this.bootstrapFailed = true;
    if (!this.closing && (!this.bootstrapFailed || lane.killed)) this.spawn();
  }

  /** The serve task settled: the worker exited, threw uncaught, or was terminated (deadline, shutdown). */
  private onExit(lane: Lane, err: Error): void {
    // Read every reply (and REPLY_DIED notice) the worker sent before it went: piscina reports the
    // exit on its own port, which may overtake the last messages on this channel.
    for (let m = receiveMessageOnPort(lane.port); m; m = receiveMessageOnPort(lane.port))
      this.onMessage(lane, m.message as LaneOutbound);
    lane.port.close();
    this.retire(lane);
    // piscina rejects with "worker exited with code: N" on an exit, with the error on an uncaught
    // exception, and with "Terminating worker thread" when the runtime destroyed the pool.
    const exited = /^worker exited with code: (-?\d+)$/.exec(err.message);
    if (!lane.ready) {
      const how = exited ? ` (code ${exited[1]})` : `: ${err.message}`;
      this.firstReady?.reject(new Error(`actor role '${this.o.role}': worker exited during init${how}`));
    }
    const crash =
      lane.died ?? (exited ? new WorkerCrashError(err.message) : new WorkerCrashError(err.message, { cause: err }));
    // Every reply the worker sent has been read (above). Of the messages left, those it had started
    // crashed with it; the others never started and go back to the queue.
    const started = Atomics.load(lane.control, 0);
    const neverStarted: Attempt[] = [];
    const left = lane.inflight;
    lane.inflight = [];
    for (const a of left) {
      a.lane = null;
      if (a.seq <= started) a.settle({ crash });
      else neverStarted.push(a);
    }
    this.queue.unshift(...neverStarted);
    if (this.closing || this.lanes.length === 0) {
      const why = this.closing
        ? new WorkerCrashError(`actor role '${this.o.role}' shut down before the message ran`)
        : crash;
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
      if (exclusive ? l.inflight.length > 0 : l.inflight.length >= PIPELINE_DEPTH) continue;
      if (!best || l.inflight.length < best.inflight.length) best = l;
    }
    return best;
  }

  private place(lane: Lane, a: Attempt): void {
    const seq = ++this.seq;
    if (lane.inflight.length === 0) lane.port.ref();
    lane.inflight.push(a);
    a.seq = seq;
    a.lane = lane;
    if (a.exclusive) lane.exclusive = true;
    const e = a.env;
    const extras = e.s !== undefined || e.v !== undefined;
    // A msgpack payload goes in as its envelope, for gatherPayloads to copy its bytes at flush.
    const payload = extras ? withExtras(e) : e.t === 'msgpack' ? e : e.p;
    lane.outbox.push(seq, deliveryCode(a, extras), e.h, payload);
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
      const bytes = gatherPayloads(batch, DELIVERY_BYTES);
      if (bytes) transfer.push(bytes);
      try {
        lane.port.postMessage(batch, transfer);
      } catch {
        // Something in the batch cannot be cloned: post one by one, and reject only what fails.
        const entries = bytes ? batch.length - 1 : batch.length;
        for (let k = 0; k < entries; k += DELIVERY_SLOTS) this.postOne(lane, batch[k] as number);
      }
      if (lane.sync) {
        Atomics.add(lane.control, 1, 1);
        Atomics.notify(lane.control, 1);
      }
    }
    this.dirty.clear();
  };

  /** Post one message alone, rebuilt from its attempt (the batch's payload slots hold offsets by now). */
  private postOne(lane: Lane, seq: number): void {
    const a = lane.inflight[indexOfAttempt(lane.inflight, seq)];
    if (!a) return;
    try {
      // With extras: the payload travels on its own (there is no batch buffer to gather it into).
      lane.port.postMessage(
        [seq, deliveryCode(a, true), a.env.h, withExtras(a.env)],
        a.transfer ? [...a.transfer] : [],
      );
    } catch (err) {
      this.unplace(lane, seq, a);
      a.settle({ reply: { ok: false, kind: 'protocol', error: { ...toRemoteError(err), field: '(message)' } } });
    }
  }
}

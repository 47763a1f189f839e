// The generic actor worker, run by piscina as one long-lived "serve" task per thread (lanes.ts): the
// task brings the worker's channel (a transferred MessagePort) and the role; the worker loads the
// actor module, runs its `init` once with the role config, then serves the messages the runtime
// posts on that channel (batches of deliveries) until the thread ends. For each one it decodes the envelope, validates the message against the protocol the
// module declares for that handler (`export const accepts = { handler: Protocols.X }`), calls the
// handler and queues the reply. Messages run one at a time, in order (an actor instance is
// single-threaded). Replies go back in batches: when the queue runs dry, when the batch is full (8
// replies, then twice as many each time while the queue stays busy), when the oldest unsent reply is
// 1 ms old, or before a message that is supervised alone. Handler and
// validation errors come back as values so the worker stays alive (and keeps its state); only a real
// crash (process.exit, uncaught exception, a hang the runtime terminates) takes the worker down,
// and the runtime's supervisor deals with that.
import { receiveMessageOnPort, threadId, type MessagePort } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { makeEnvelope, openEnvelope, ownBytes, type TaskEnvelope } from '../../protocols/codec.js';
import {
  DELIVERY_ANNOUNCE,
  DELIVERY_EXCLUSIVE,
  DELIVERY_EXTRAS,
  DELIVERY_MSGPACK,
  DELIVERY_SLOTS,
  REPLY_CLONE,
  REPLY_DIED,
  REPLY_EMPTY,
  REPLY_FAILED,
  REPLY_MSGPACK,
  REPLY_MSGPACK_SHARED,
  REPLY_SLOTS,
  REPLY_STARTED,
  type ActorWorkerData,
  type LaneBatch,
  type RemoteError,
  type WorkerReply,
} from '../../protocols/envelope.js';
import { validateMessage, type ProtocolDef } from '../../protocols/messages.js';
import { toRemoteError } from './errors.js';
import { DELIVERY_BYTES, REPLY_BYTES, gatherPayloads, scatterPayloads } from './lane-bytes.js';
import { fireFaultDrill, type FaultDrill } from './fault-drill.js';
import type { ActorContext } from './context.js';

type ActorModule = Record<string, unknown> & { accepts?: Record<string, ProtocolDef> };

// Set by the serve task (one per thread: the lane's pool has a single thread and runs it once).
let data: ActorWorkerData;
let port: MessagePort | null = null;
let control: Int32Array;
let ctx: ActorContext;
/** Replies older than this go out even while more messages wait (a slow queue must not hold them). */
const MAX_REPLY_DELAY_MS = 1;
/**
 * Replies in the first batch after the queue was empty. A worker handed a long batch of quick messages
 * sends its first replies early, so the runtime forwards them (to the next role of a chain) while this
 * worker goes on with the rest: the threads overlap instead of taking turns with one big batch. Each
 * further batch while the queue stays non-empty may be twice as long (8, 16, 32, …), which keeps the
 * overlap with fewer posts: measured on the 5-stage ask chain, 8 always gave 44,800 msg/s (median of
 * 5, 28.8 µs CPU per message), doubling 49,400 (27.5 µs), 64 always ~40,500.
 */
const FIRST_REPLY_BATCH = 8;
const MAX_REPLY_BATCH = 64;
/** Replies the current batch may hold (grows while the queue stays non-empty). */
let replyBatch = FIRST_REPLY_BATCH;

let mod: ActorModule | null = null;
let initError: RemoteError | null = null;
interface Delivery {
  seq: number;
  flags: number;
  env: TaskEnvelope;
}
const queue: Delivery[] = [];
/** Flat reply batch (REPLY_SLOTS entries per item, see protocols/envelope.ts). */
let outbox: unknown[] = [];
let oldestUnsent = 0;
let draining = false;
/** Sequence number of the message whose handler is running (0: none). */
let running = 0;

function flush(): void {
  if (outbox.length === 0 || !port) return;
  const bytes = gatherPayloads(outbox, REPLY_BYTES);
  port.postMessage(outbox, bytes ? [bytes] : []);
  outbox = [];
}
// A handler that calls process.exit, or an uncaught exception: the replies of the messages finished
// before it still go out, then a notice naming the message it dies under, so the runtime can fail
// that message and start a replacement without waiting for this thread's teardown.
process.on('exit', (code) => {
  flush();
  if (running) port?.postMessage([running, REPLY_DIED, [code, null]]);
});
process.on('uncaughtExceptionMonitor', (err) => {
  flush();
  if (running) port?.postMessage([running, REPLY_DIED, [null, toRemoteError(err)]]);
  running = 0;
});

function take(batch: LaneBatch): void {
  scatterPayloads(batch, DELIVERY_BYTES);
  for (let k = 0; k < batch.length; k += DELIVERY_SLOTS) {
    const code = batch[k + 1] as number;
    const t = code & DELIVERY_MSGPACK ? 'msgpack' : 'clone';
    let env: TaskEnvelope;
    if (code & DELIVERY_EXTRAS) {
      const [p, s, v] = batch[k + 3] as [unknown, SharedArrayBuffer[] | null, number | null];
      env = { h: batch[k + 2] as string, t, p };
      if (s !== null) env.s = s;
      if (v !== null) env.v = v;
    } else if (t === 'msgpack') {
      env = batch[k + 3] as TaskEnvelope; // made by scatterPayloads: its bytes in the batch's buffer
      env.h = batch[k + 2] as string;
    } else env = { h: batch[k + 2] as string, t, p: batch[k + 3] };
    queue.push({ seq: batch[k] as number, flags: code, env });
  }
}

function enqueue(batch: LaneBatch): void {
  take(batch);
  if (!draining) void drain();
}

type Handler = (m: unknown, c: ActorContext) => unknown;
type FailedReply = Exclude<WorkerReply, { ok: true }>;

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v instanceof Promise || (v !== null && typeof (v as { then?: unknown } | undefined)?.then === 'function');
}

/** Queue the handler's result as a reply, encoded with the message's own transport. */
function pushResult(seq: number, result: unknown, t: TaskEnvelope['t']): void {
  if (result === undefined) {
    outbox.push(seq, REPLY_EMPTY, null);
    return;
  }
  const r = makeEnvelope('', result, t);
  if (r.t === 'clone') outbox.push(seq, REPLY_CLONE, r.p);
  else if (r.s)
    outbox.push(seq, REPLY_MSGPACK_SHARED, [ownBytes(r), r.s]); // posted alone: its own bytes
  else outbox.push(seq, REPLY_MSGPACK, r); // its bytes are gathered at flush (lane-bytes.ts)
}

async function drain(): Promise<void> {
  draining = true;
  for (;;) {
    while (queue.length > 0) {
      const d = queue.shift()!;
      const exclusive = (d.flags & DELIVERY_EXCLUSIVE) !== 0;
      if (exclusive) flush();
      Atomics.store(control, 0, d.seq);
      if (d.flags & DELIVERY_ANNOUNCE) port!.postMessage([d.seq, REPLY_STARTED, null]);
      running = d.seq;
      if (outbox.length === 0) oldestUnsent = performance.now();
      const failed = prepare(d.env);
      if (failed) outbox.push(d.seq, REPLY_FAILED, [failed.kind, failed.error]);
      else {
        const fn = callFn!;
        const msg = callMsg;
        callFn = null;
        callMsg = null;
        try {
          injectFault(d.env.h);
          let result = fn(msg, ctx);
          // Awaited only when it is a promise (or thenable): one microtask hop per async handler, none for a sync one.
          if (isThenable(result)) result = await result;
          pushResult(d.seq, result, d.env.t);
        } catch (err) {
          outbox.push(d.seq, REPLY_FAILED, ['handler', toRemoteError(err)]);
        }
      }
      running = 0;
      if (
        exclusive ||
        queue.length === 0 ||
        outbox.length >= replyBatch * REPLY_SLOTS ||
        performance.now() - oldestUnsent > MAX_REPLY_DELAY_MS
      ) {
        flush();
        replyBatch = queue.length === 0 ? FIRST_REPLY_BATCH : Math.min(replyBatch * 2, MAX_REPLY_BATCH);
      }
    }
    if (data.atomics !== 'sync') break;
    parkUntilPosted();
  }
  draining = false;
}

/** 'sync' idling: block in Atomics.wait on the doorbell and take the next batch straight off the port. */
function parkUntilPosted(): void {
  for (;;) {
    const rung = Atomics.load(control, 1);
    const m = receiveMessageOnPort(port!);
    if (m) {
      take(m.message as LaneBatch);
      return;
    }
    Atomics.wait(control, 1, rung);
  }
}

/** The handler and decoded message prepare() found (module slots rather than an object per message). */
let callFn: Handler | null = null;
let callMsg: unknown = null;

/** Find the handler and decode and validate the message (into callFn / callMsg), or say why not. */
function prepare(env: TaskEnvelope): FailedReply | null {
  if (!mod)
    return {
      ok: false,
      kind: 'handler',
      error: initError ?? { name: 'Error', message: `actor '${data.role}' is not initialised` },
    };
  const handler = mod[env.h];
  if (typeof handler !== 'function' || env.h === 'init') {
    const names = Object.keys(mod).filter((k) => typeof mod![k] === 'function' && k !== 'init');
    return {
      ok: false,
      kind: 'missing-handler',
      error: {
        name: 'MissingHandlerError',
        message: `actor '${data.role}' has no handler '${env.h}' (handlers: ${names.join(', ') || 'none'})`,
      },
    };
  }
  let msg: unknown;
  try {
    msg = openEnvelope(env);
    const decl = mod.accepts?.[env.h];
    if (decl) msg = validateMessage(decl, msg, env.v);
  } catch (err) {
    return { ok: false, kind: 'protocol', error: toRemoteError(err) };
  }
  callFn = handler as Handler;
  callMsg = msg;
  return null;
}

/** Fault drills (config `faults`, see fault-drill.ts) travel in the role config as `__faults`. */
function injectFault(handler: string): void {
  fireFaultDrill((data.config as { __faults?: FaultDrill[] } | null)?.__faults, data.role, handler);
}

/**
 * The serve task. Loads the module and runs init(config) before serving, so a broken actor fails the
 * role's start; messages posted meanwhile wait in the port. Settles only when the runtime closes the
 * channel; a crash or a termination rejects it on the runtime's side (piscina).
 */
export default async function serve(task: ActorWorkerData): Promise<void> {
  data = task;
  const p = task.port;
  control = new Int32Array(task.control);
  ctx = { role: task.role, threadId, config: task.config };
  port = p;
  try {
    const m = (await import(pathToFileURL(task.module).href)) as ActorModule;
    if (typeof m.init === 'function') await (m.init as (c: unknown, x: ActorContext) => unknown)(task.config, ctx);
    mod = m;
    p.postMessage({ ready: 1 });
  } catch (err) {
    initError = toRemoteError(err);
    p.postMessage({ initError });
  }
  p.on('message', enqueue);
  await new Promise<void>((resolve) => p.once('close', resolve));
}

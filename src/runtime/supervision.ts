// Supervised delivery of one accepted message, split from actor-system.ts (which keeps the role
// registry, mailboxes and lifecycle). deliver runs a message to completion: retry crashes and handler
// errors, dead-letter after the limit, fail on rejection, timeout or abort. attemptOnWorker makes one
// try on a role's worker lanes under its deadline and abort signal; envelope encodes the message.
// Plain functions over a Role; events and metrics go out through the system's DeliveryReport.
import { makeEnvelope, openEnvelope } from '../../protocols/codec.js';
import type { TaskEnvelope } from '../../protocols/envelope.js';
import { ActorError, ActorTimeoutError, DeadLetterError, MessageRejectedError, fromRemoteError } from './errors.js';
import type { Attempt, AttemptOutcome, WorkerLanes } from './lanes.js';
import type { ActorEvent, CallOptions, RoleSpec } from './actor-types.js';

/** One spawned role: its spec with defaults filled in, its workers, and its mailbox accounting. */
export interface Role {
  name: string;
  spec: Required<Omit<RoleSpec, 'config' | 'module'>> & { module: string };
  lanes: WorkerLanes;
  pending: number;
  capacity: number;
  waiters: (() => void)[];
}

/** How delivery reports to the ActorSystem: an event on events$, a settled message on metrics$. */
export interface DeliveryReport {
  emit(e: ActorEvent): void;
  metric(role: string, handler: string, ok: boolean, attempts: number, t0: number): void;
}

/**
 * Run one accepted message to completion under supervision: retry crashes and handler errors,
 * dead-letter after the limit.
 */
export async function deliver(
  report: DeliveryReport,
  r: Role,
  handler: string,
  msg: unknown,
  opts: CallOptions,
  deadlineMs: number,
  t0: number,
  env = envelope(r, handler, msg, opts),
  /** The outcome of attempt 1 when askDirect made it. */
  first?: AttemptOutcome,
): Promise<unknown> {
  let attempt = 0;
  for (;;) {
    attempt++;
    let lastError: Error;
    const out = attempt === 1 && first ? first : await attemptOnWorker(r, env, opts, deadlineMs, attempt);
    if ('reply' in out) {
      const reply = out.reply;
      if (reply.ok) {
        report.metric(r.name, handler, true, attempt, t0);
        return reply.r ? openEnvelope(reply.r) : undefined;
      }
      const remote = fromRemoteError(reply.error);
      if (reply.kind !== 'handler') {
        report.emit({
          type: 'rejected',
          role: r.name,
          handler,
          field: reply.error.field ?? '(handler)',
          error: remote,
          time: Date.now(),
        });
        report.metric(r.name, handler, false, attempt, t0);
        throw new MessageRejectedError(
          `'${r.name}.${handler}' rejected: ${reply.error.message}`,
          r.name,
          handler,
          reply.error.field ?? '(handler)',
        );
      }
      lastError = remote;
      report.emit({ type: 'handler-error', role: r.name, handler, attempt, error: remote, time: Date.now() });
      if (!r.spec.retryErrors) return deadLetter(report, r, handler, msg, attempt, lastError, t0);
    } else if ('timeout' in out) {
      report.emit({ type: 'timeout', role: r.name, handler, deadlineMs, time: Date.now() });
      const timeoutError = new ActorTimeoutError(
        `'${r.name}.${handler}' timed out after ${deadlineMs} ms (worker replaced)`,
        r.name,
        handler,
      );
      // Idempotent roles may retry a message whose worker hung; others fail the call at once.
      if (!r.spec.retryTimeouts || attempt > r.spec.retries) {
        report.metric(r.name, handler, false, attempt, t0);
        throw timeoutError;
      }
      report.emit({ type: 'retry', role: r.name, handler, attempt: attempt + 1, time: Date.now() });
      continue;
    } else if ('aborted' in out) {
      report.metric(r.name, handler, false, attempt, t0);
      throw new ActorError(`'${r.name}.${handler}' aborted by caller`, r.name, handler, {
        cause: opts.signal?.reason,
      });
    } else {
      lastError = out.crash;
      report.emit({ type: 'crash', role: r.name, handler, attempt, error: lastError, time: Date.now() });
    }
    if (attempt > r.spec.retries) return deadLetter(report, r, handler, msg, attempt, lastError, t0);
    report.emit({ type: 'retry', role: r.name, handler, attempt: attempt + 1, time: Date.now() });
  }
}

export function envelope(r: Role, handler: string, msg: unknown, opts: CallOptions): TaskEnvelope {
  const transport = opts.transfer ? 'clone' : (opts.transport ?? r.spec.transport);
  return makeEnvelope(handler, msg, transport, opts.protocol?.version);
}

function deadLetter(
  report: DeliveryReport,
  r: Role,
  handler: string,
  msg: unknown,
  attempts: number,
  error: Error,
  t0: number,
): never {
  report.emit({ type: 'dead-letter', role: r.name, handler, attempts, message: msg, error, time: Date.now() });
  report.metric(r.name, handler, false, attempts, t0);
  throw new DeadLetterError(
    `'${r.name}.${handler}' dead-lettered after ${attempts} attempts: ${error.message}`,
    r.name,
    handler,
    attempts,
    error,
  );
}

/**
 * One attempt on a worker. A deadline or an abort withdraws the attempt: dropped if still queued,
 * its worker terminated (and replaced) if it was sent. Messages with either run alone on their
 * worker (lanes.ts), so nothing else is lost with it.
 */
function attemptOnWorker(
  r: Role,
  env: TaskEnvelope,
  opts: CallOptions,
  deadlineMs: number,
  n: number,
): Promise<AttemptOutcome | { timeout: true } | { aborted: true }> {
  const signal = opts.signal;
  if (signal?.aborted) return Promise.resolve({ aborted: true });
  const fromStart = opts.deadlineFrom === 'start';
  if (deadlineMs <= 0 && !signal && !opts.onStart) {
    // The common case, kept allocation-light: nothing can withdraw the attempt.
    return new Promise((resolve) =>
      r.lanes.submit({
        env,
        transfer: opts.transfer,
        exclusive: false,
        announce: false,
        settle: resolve,
        seq: 0,
        lane: null,
      }),
    );
  }
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (o: AttemptOutcome | { timeout: true } | { aborted: true }): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(o);
    };
    const withdraw = (o: { timeout: true } | { aborted: true }): void => {
      if (done) return;
      r.lanes.cancel(a);
      finish(o);
    };
    const arm = (): void => {
      if (deadlineMs > 0) timer = setTimeout(() => withdraw({ timeout: true }), deadlineMs);
    };
    const onAbort = (): void => withdraw({ aborted: true });
    const a: Attempt = {
      env,
      transfer: opts.transfer,
      exclusive: deadlineMs > 0 || signal !== undefined,
      announce: fromStart || opts.onStart !== undefined,
      onStart: () => {
        if (fromStart) arm();
        opts.onStart?.(n);
      },
      settle: finish,
      seq: 0,
      lane: null,
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (!fromStart) arm();
    r.lanes.submit(a);
  });
}

import type { RemoteError } from '../../protocols/envelope.js';

/** A WeightStore snapshot's bytes do not match its version's checksum (a reader may ask for a republish). */
export class WeightChecksumError extends Error {
  override name = 'WeightChecksumError';
}

/**
 * Whether `err` or an error in its `cause` chain is a `type`. An error thrown in a worker reaches the
 * caller rebuilt as a plain Error with the original name (fromRemoteError), so the name counts too.
 */
export function isOrCausedBy(err: unknown, type: abstract new (...args: never[]) => Error): boolean {
  let e: unknown = err;
  while (e instanceof Error) {
    if (e.name === type.name || e instanceof type) return true;
    e = (e as Error).cause;
  }
  return false;
}

// Errors the runtime surfaces to callers of ask/tell. Each says which role and handler it concerns.

export class ActorError extends Error {
  override name = 'ActorError';
  constructor(
    message: string,
    readonly role: string,
    readonly handler: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The per-call deadline expired; the worker running it was replaced and the actor keeps serving. */
export class ActorTimeoutError extends ActorError {
  override name = 'ActorTimeoutError';
}

/** The mailbox was full and the caller asked not to wait (onFull: 'reject'). */
export class MailboxFullError extends ActorError {
  override name = 'MailboxFullError';
}

/** The message failed validation in the receiving worker; `field` names the bad field. Never retried. */
export class MessageRejectedError extends ActorError {
  override name = 'MessageRejectedError';
  constructor(
    message: string,
    role: string,
    handler: string,
    readonly field: string,
  ) {
    super(message, role, handler);
  }
}

/** A message failed (handler threw or worker crashed) more times than the retry limit; `cause` is the original error. */
export class DeadLetterError extends ActorError {
  override name = 'DeadLetterError';
  constructor(
    message: string,
    role: string,
    handler: string,
    readonly attempts: number,
    cause: unknown,
  ) {
    super(message, role, handler, { cause });
  }
}

/** The system is shutting down (or shut down) and accepts no new messages. */
export class ShuttingDownError extends ActorError {
  override name = 'ShuttingDownError';
}

/** A worker thread died under a message (process.exit, an uncaught error, out of memory): the `cause` of a crash. */
export class WorkerCrashError extends Error {
  override name = 'WorkerCrashError';
}

export function toRemoteError(err: unknown): RemoteError {
  if (err instanceof Error) {
    const r: RemoteError = { name: err.name, message: err.message };
    if (err.stack) r.stack = err.stack;
    const field = (err as { field?: unknown }).field;
    if (typeof field === 'string') r.field = field;
    return r;
  }
  return { name: 'Error', message: String(err) };
}

/** Rebuild an Error from a RemoteError, keeping name and the remote stack. */
export function fromRemoteError(r: RemoteError): Error {
  const e = new Error(r.message);
  e.name = r.name;
  if (r.stack) e.stack = r.stack;
  return e;
}

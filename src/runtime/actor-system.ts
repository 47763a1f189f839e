// The ActorSystem: worker threads per actor role on persistent channels (lanes.ts: batched
// messages, no pool task per hop), typed ask/tell with deadlines, bounded mailboxes, supervision
// (supervision.ts: retry, then dead-letter; crashed and hung workers replaced), graceful drain on
// shutdown, and rxjs streams of lifecycle events and per-message metrics.
import { Subject, type Observable } from 'rxjs';
import { existsSync } from 'node:fs';
import { openEnvelope } from '../../protocols/codec.js';
import type { TaskEnvelope } from '../../protocols/envelope.js';
import { ActorError, MailboxFullError, ShuttingDownError } from './errors.js';
import { WorkerLanes, type AttemptOutcome } from './lanes.js';
import { resolveActorModule } from './modules.js';
import { type DeliveryReport, type Role, deliver, envelope } from './supervision.js';
import type { ActorEvent, ActorMetric, CallOptions, RoleSpec } from './actor-types.js';

export type { ActorEvent, ActorMetric, CallOptions, RoleSpec } from './actor-types.js';

const NO_OPTIONS: CallOptions = Object.freeze({});

export class ActorSystem {
  private readonly roles = new Map<string, Role>();
  private readonly eventsSubject = new Subject<ActorEvent>();
  private readonly metricsSubject = new Subject<ActorMetric>();
  private closing = false;
  private closed: Promise<void> | null = null;
  private readonly idleWaiters: (() => void)[] = [];
  private signalCleanup: (() => void) | null = null;
  /** deliver's (supervision.ts) way back to events$ and metrics$, without making emit/metric public. */
  private readonly report: DeliveryReport = {
    emit: (e) => this.emit(e),
    metric: (role, handler, ok, attempts, t0) => this.metric(role, handler, ok, attempts, t0),
  };

  /** Lifecycle and error events (crashes, retries, dead letters, timeouts, rejections, shutdown). */
  readonly events$: Observable<ActorEvent> = this.eventsSubject.asObservable();
  /** One record per settled message. */
  readonly metrics$: Observable<ActorMetric> = this.metricsSubject.asObservable();

  /**
   * Spawn every role; resolves once each role's actor module has loaded and run init in its workers.
   * The roles start side by side, so a job's start-up costs its slowest role rather than the sum of
   * them. When one fails, every role is stopped and the first failure (in the order given) is thrown.
   */
  static async start(roles: Record<string, RoleSpec>): Promise<ActorSystem> {
    const sys = new ActorSystem();
    const started = await Promise.allSettled(Object.entries(roles).map(([name, spec]) => sys.spawn(name, spec)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await sys.shutdown({ drain: false });
      throw failed.reason;
    }
    return sys;
  }

  /** Add one role. Throws a clear error when the module is missing or its init fails. */
  async spawn(name: string, spec: RoleSpec): Promise<void> {
    if (this.roles.has(name)) throw new Error(`actor role '${name}' already exists`);
    const module = resolveActorModule(name, spec.module);
    if (!existsSync(module)) throw new Error(`actor role '${name}': module not found: ${module}`);
    const full = {
      module,
      retryTimeouts: spec.retryTimeouts ?? false,
      retryErrors: spec.retryErrors ?? true,
      threads: spec.threads ?? 1,
      maxQueue: spec.maxQueue ?? 64,
      retries: spec.retries ?? 2,
      deadlineMs: spec.deadlineMs ?? 0,
      onFull: spec.onFull ?? 'wait',
      transport: spec.transport ?? 'msgpack',
      atomics: spec.atomics ?? 'async',
    } as const;
    if (!Number.isInteger(full.threads) || full.threads < 1)
      throw new Error(`actor role '${name}': threads must be an integer >= 1 (got ${full.threads})`);
    const lanes = new WorkerLanes({
      role: name,
      module,
      config: spec.config ?? {},
      threads: full.threads,
      atomics: full.atomics,
      onWorker: (type) => this.emit({ type, role: name, time: Date.now() }),
    });
    const role: Role = { name, spec: full, lanes, pending: 0, capacity: full.threads + full.maxQueue, waiters: [] };
    this.roles.set(name, role);
    // Every worker loads the module and runs init(config) now, so a broken actor fails start().
    await lanes.start();
    this.emit({ type: 'role-started', role: name, threads: full.threads, time: Date.now() });
  }

  /** Send a message and wait for the handler's result. */
  ask<R = unknown>(role: string, handler: string, msg: unknown, opts: CallOptions = NO_OPTIONS): Promise<R> {
    let r: Role;
    try {
      r = this.role(role, handler);
    } catch (err) {
      return Promise.reject(err);
    }
    const deadlineMs = opts.deadlineMs ?? r.spec.deadlineMs;
    if (r.pending < r.capacity && deadlineMs <= 0 && !opts.signal && !opts.onStart)
      return this.askDirect<R>(r, handler, msg, opts);
    return this.askSupervised<R>(r, handler, msg, opts, deadlineMs);
  }

  private async askSupervised<R>(
    r: Role,
    handler: string,
    msg: unknown,
    opts: CallOptions,
    deadlineMs: number,
  ): Promise<R> {
    const t0 = performance.now();
    if (r.pending >= r.capacity) await this.admit(r, handler, opts.signal);
    else r.pending++;
    try {
      return (await deliver(this.report, r, handler, msg, opts, deadlineMs, t0)) as R;
    } finally {
      this.release(r);
    }
  }

  /**
   * The common case (mailbox room, no deadline, abort signal or start signal), and the hot path of
   * ask chains: one promise per call, settled straight from the worker's reply. Only an attempt that
   * did not succeed goes on under the supervisor (deliver: retries, dead letters, events), which then
   * counts it as attempt 1. The supervisor's async layers cost ~1 KB of garbage per call on the main
   * thread, which an ask chain pays at every hop.
   */
  private askDirect<R>(r: Role, handler: string, msg: unknown, opts: CallOptions): Promise<R> {
    const t0 = performance.now();
    let env: TaskEnvelope;
    try {
      env = envelope(r, handler, msg, opts);
    } catch (err) {
      return Promise.reject(err);
    }
    r.pending++;
    return new Promise<R>((resolve, reject) => {
      const settle = (o: AttemptOutcome): void => {
        if ('reply' in o && o.reply.ok) {
          this.metric(r.name, handler, true, 1, t0);
          this.release(r);
          try {
            resolve((o.reply.r ? openEnvelope(o.reply.r) : undefined) as R);
          } catch (err) {
            reject(err);
          }
          return;
        }
        deliver(this.report, r, handler, msg, opts, 0, t0, env, o)
          .then(resolve as (v: unknown) => void, reject)
          .finally(() => this.release(r));
      };
      r.lanes.submit({ env, transfer: opts.transfer, exclusive: false, announce: false, settle, seq: 0, lane: null });
    });
  }

  /** Send without waiting for the result: resolves once the message is accepted into the mailbox
   * (after waiting for room when the mailbox is full). Failures surface on events$ ('tell-failed',
   * plus 'dead-letter' when retries run out); shutdown drains accepted tells. */
  async tell(role: string, handler: string, msg: unknown, opts: CallOptions = {}): Promise<void> {
    const r = this.role(role, handler);
    const deadlineMs = opts.deadlineMs ?? r.spec.deadlineMs;
    const t0 = performance.now();
    if (r.pending >= r.capacity) await this.admit(r, handler, opts.signal);
    else r.pending++;
    deliver(this.report, r, handler, msg, opts, deadlineMs, t0)
      .catch((err: Error) => this.emit({ type: 'tell-failed', role, handler, error: err, time: Date.now() }))
      .finally(() => this.release(r));
  }

  /** Messages accepted and not yet settled, per role. */
  pending(role?: string): number {
    if (role !== undefined) return this.roles.get(role)?.pending ?? 0;
    let n = 0;
    for (const r of this.roles.values()) n += r.pending;
    return n;
  }

  /**
   * Per role, now: configured threads, live workers, messages accepted and not settled (in flight),
   * and those waiting for a worker (queue depth).
   */
  roleStats(): { role: string; threads: number; workers: number; inFlight: number; queued: number }[] {
    return [...this.roles.values()].map((r) => ({
      role: r.name,
      threads: r.spec.threads,
      workers: r.lanes.stats().workers,
      inFlight: r.pending,
      queued: r.lanes.stats().queued + r.waiters.length,
    }));
  }

  roleNames(): string[] {
    return [...this.roles.keys()];
  }

  /**
   * Stop accepting messages; with drain (default) wait until every accepted message has settled,
   * then stop the workers.
   */
  shutdown(opts: { drain?: boolean; timeoutMs?: number } = {}): Promise<void> {
    this.closed ??= (async () => {
      this.closing = true;
      this.emit({ type: 'shutdown', phase: 'begin', pending: this.pending(), time: Date.now() });
      // Callers blocked on a full mailbox were never accepted: wake them so they see ShuttingDownError.
      for (const r of this.roles.values()) for (const w of r.waiters.splice(0)) w();
      if (opts.drain !== false) {
        const drained = new Promise<void>((res) => (this.pending() === 0 ? res() : this.idleWaiters.push(res)));
        if (opts.timeoutMs) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([drained, new Promise<void>((res) => (timer = setTimeout(res, opts.timeoutMs)))]);
          clearTimeout(timer);
        } else await drained;
        this.emit({ type: 'shutdown', phase: 'drained', pending: this.pending(), time: Date.now() });
      }
      await Promise.all([...this.roles.values()].map((r) => r.lanes.close()));
      this.signalCleanup?.();
      this.emit({ type: 'shutdown', phase: 'closed', pending: this.pending(), time: Date.now() });
      this.eventsSubject.complete();
      this.metricsSubject.complete();
    })();
    return this.closed;
  }

  /** On SIGINT/SIGTERM: drain in-flight work, close, then call onDone (default: exit with 130/143). */
  installSignalHandlers(onDone?: (signal: NodeJS.Signals) => void): void {
    const handler = (signal: NodeJS.Signals): void => {
      void this.shutdown().then(() => (onDone ? onDone(signal) : process.exit(signal === 'SIGINT' ? 130 : 143)));
    };
    process.once('SIGINT', handler);
    process.once('SIGTERM', handler);
    this.signalCleanup = () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    };
  }

  private role(name: string, handler: string): Role {
    if (this.closing)
      throw new ShuttingDownError(`actor system is shutting down; '${name}.${handler}' not accepted`, name, handler);
    const r = this.roles.get(name);
    if (!r)
      throw new ActorError(`no actor role '${name}' (roles: ${this.roleNames().join(', ') || 'none'})`, name, handler);
    return r;
  }

  /** Take a mailbox slot, waiting (backpressure) or rejecting when the mailbox is full. */
  private async admit(r: Role, handler: string, signal?: AbortSignal): Promise<void> {
    while (r.pending >= r.capacity) {
      if (r.spec.onFull === 'reject')
        throw new MailboxFullError(
          `mailbox of '${r.name}' is full (${r.pending} messages, capacity ${r.capacity}); '${handler}' rejected`,
          r.name,
          handler,
        );
      this.emit({ type: 'backpressure', role: r.name, handler, pending: r.pending, time: Date.now() });
      await new Promise<void>((res, rej) => {
        const onAbort = (): void => {
          const i = r.waiters.indexOf(wake);
          if (i >= 0) r.waiters.splice(i, 1);
          rej(new ActorError(`'${r.name}.${handler}' aborted while waiting for mailbox room`, r.name, handler));
        };
        const wake = (): void => {
          signal?.removeEventListener('abort', onAbort);
          res();
        };
        r.waiters.push(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      if (this.closing)
        throw new ShuttingDownError(
          `actor system is shutting down; '${r.name}.${handler}' not accepted`,
          r.name,
          handler,
        );
    }
    r.pending++;
  }

  private release(r: Role): void {
    r.pending--;
    r.waiters.shift()?.();
    if (this.idleWaiters.length && this.pending() === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private metric(role: string, handler: string, ok: boolean, attempts: number, t0: number): void {
    if (this.metricsSubject.observed)
      this.metricsSubject.next({ role, handler, ok, attempts, totalMs: performance.now() - t0 });
  }

  private emit(e: ActorEvent): void {
    if (!this.eventsSubject.closed) this.eventsSubject.next(e);
  }
}

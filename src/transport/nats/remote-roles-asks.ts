// The asks a run has in flight on remote roles (split from remote-roles.ts, which opens the run and
// dispatches each ask): an ask's items go on its role's JetStream work queue; results, read from the
// results stream, are matched to their ask by (ask, part), a late duplicate dropped; a rejected adapter
// version is republished and the item queued again, up to run.sync_retries; a refusal with no worker
// left fails the role's asks. The worker watch (remote-roles-workers.ts) and the rollout side
// (remote-roles-rollout.ts) work on the same RemoteRun state, which the entry creates.
import { DeliverPolicy, type JetStreamClient, type ConsumerMessages } from '@nats-io/jetstream';
import {
  decodeWire,
  encodeWire,
  RemoteProtocols,
  type WorkItem,
  type WorkResult,
  type WorkerHeartbeat,
} from '../../../protocols/remote.js';
import type { AdapterPublisher } from './adapters.js';
import { NAMES } from './connect.js';
import type { RemoteEvent, RemoteRolesOptions } from './remote-roles-types.js';
import type { RemoteRole } from './worker.js';

export interface PendingAsk {
  role: RemoteRole;
  /** Told when a worker begins the item (reward: scoreBatch's start signal). */
  onStarted?: () => void;
  items: WorkItem[];
  results: Map<number, WorkResult>;
  attempts: Map<number, number>;
  resolve(r: WorkResult[]): void;
  reject(e: Error): void;
}

/** What the parts of one run's remote roles share: set up once by openRemoteRoles, read and updated by each. */
export interface RemoteRun {
  readonly run: string;
  readonly o: RemoteRolesOptions;
  readonly js: JetStreamClient;
  readonly publisher: AdapterPublisher;
  readonly emit: (e: RemoteEvent) => void;
  /** The asks waiting for results, by ask number. */
  readonly pending: Map<number, PendingAsk>;
  /** Which (ask, part) each queued item is, by its work-stream sequence (the max-deliveries advisory names it). */
  readonly bySeq: Map<number, { ask: number; part: number }>;
  /** The latest heartbeat of every worker that joined the run. */
  readonly hearts: Map<string, WorkerHeartbeat>;
  /** Workers whose heartbeats stopped (reported once each, until they beat again). */
  readonly lost: Set<string>;
  /** Workers that refused the run, and why (an ask fails with these when no worker of its role is left). */
  readonly refusals: { role: string; text: string }[];
  /** The next ask's number: rollout and reward asks draw from the one count, so results never mix. */
  nextAsk: number;
}

/** The asks of one run: submit items, take their results, fail a role's asks. */
export interface RemoteAsks {
  fail(role: RemoteRole, e: Error): void;
  /** Why no worker serves `role` (every one refused the run), or null while one may. */
  refusalError(role: RemoteRole): Error | null;
  onResult(r: WorkResult): Promise<void>;
  submit(role: RemoteRole, items: WorkItem[], signal?: AbortSignal, onStarted?: () => void): Promise<WorkResult[]>;
}

export function trackAsks(state: RemoteRun): RemoteAsks {
  return {
    fail: (role, e) => failAsks(state, role, e),
    refusalError: (role) => refusalOf(state, role),
    onResult: (r) => takeResult(state, r),
    submit: (role, items, signal, onStarted) => submitAsk(state, role, items, signal, onStarted),
  };
}

/** Rejects every ask of `role` with `e`. */
function failAsks(state: RemoteRun, role: RemoteRole, e: Error): void {
  const { pending } = state;
  for (const [k, p] of pending)
    if (p.role === role) {
      pending.delete(k);
      p.reject(e);
    }
}

/** Whether a worker of `role` is alive: it sent a heartbeat and has not gone silent since. */
function anyWorker(state: RemoteRun, role: RemoteRole): boolean {
  return [...state.hearts.values()].some((h) => h.role === role && !state.lost.has(h.worker));
}

/** Why no worker serves `role` (every live one refused the run), or null while one may. */
function refusalOf(state: RemoteRun, role: RemoteRole): Error | null {
  const mine = state.refusals.filter((r) => r.role === role);
  return mine.length && !anyWorker(state, role)
    ? new Error(`no ${role} worker serves run ${state.run}: ${mine.map((r) => r.text).join('; ')}`)
    : null;
}

/** Puts the item on its role's work queue, noting which (ask, part) its stream sequence is. */
async function enqueue(state: RemoteRun, item: WorkItem): Promise<void> {
  const { run, js, bySeq } = state;
  const ack = await js.publish(
    NAMES.workSubject(item.kind === 'generate' ? 'rollout' : 'reward', run),
    encodeWire(RemoteProtocols.WorkItem, item),
  );
  bySeq.set(ack.seq, { ask: item.ask, part: item.part });
}

/** One result from the results stream: a late duplicate dropped, a rejected version retried, else its ask's part. */
async function takeResult(state: RemoteRun, r: WorkResult): Promise<void> {
  const { emit, pending, publisher } = state;
  const p = pending.get(r.ask);
  const item = p?.items[r.part];
  const label = `${r.ask}.${r.part}`;
  if (!p || !item || p.results.has(r.part)) {
    emit({ type: 'duplicate', role: p?.role ?? 'rollout', item: label, worker: r.worker, time: Date.now() });
    return;
  }
  if (r.delivery > 1)
    emit({
      type: 'redelivered',
      role: p.role,
      item: describeItem(item),
      delivery: r.delivery,
      worker: r.worker,
      host: r.host,
      time: Date.now(),
    });
  if (!r.ok && r.rejectedVersion !== undefined && item.kind === 'generate') {
    await retryRejected(state, p, item, r);
    return;
  }
  if (!r.ok) {
    pending.delete(r.ask);
    p.reject(new Error(`remote ${p.role} worker ${r.worker} on ${r.host}: ${describeItem(item)}: ${r.error}`));
    return;
  }
  const reply = r.reply as { syncError?: string; rejectedVersion?: number } | undefined;
  // Generated on its previous version because the newest failed verification: the coordinator has the
  // learner rewrite it (roles-sync.ts: republish), and the next publish puts the fresh bytes in the object store.
  if (reply?.syncError && reply.rejectedVersion !== undefined) publisher.invalidate(reply.rejectedVersion);
  p.results.set(r.part, r);
  if (p.results.size === p.items.length) {
    pending.delete(r.ask);
    p.resolve(p.items.map((_, i) => p.results.get(i)!));
  }
}

/**
 * A worker rejected the item's adapter version: republish it and queue the item again, or fail the ask
 * once it has been rejected more than run.sync_retries times.
 */
async function retryRejected(
  state: RemoteRun,
  p: PendingAsk,
  item: Extract<WorkItem, { kind: 'generate' }>,
  r: WorkResult,
): Promise<void> {
  const { o, publisher, emit, pending } = state;
  const n = (p.attempts.get(r.part) ?? 0) + 1;
  p.attempts.set(r.part, n);
  if (n > o.syncRetries) {
    pending.delete(r.ask);
    const rejected = `worker ${r.worker} on ${r.host} rejected adapter version ${r.rejectedVersion}`;
    p.reject(
      new Error(`weight sync: ${rejected} ${n} times (${r.error}); aborting (run.sync_retries ${o.syncRetries})`),
    );
    return;
  }
  try {
    const meta = await publisher.publishLatest(r.rejectedVersion!, 1000, true);
    emit({
      type: 'republished',
      role: 'rollout',
      version: meta.version,
      worker: r.worker,
      reason: r.error ?? 'rejected',
      time: Date.now(),
    });
    await enqueue(state, { ...item, adapterVersion: meta.version });
  } catch (err) {
    pending.delete(r.ask);
    p.reject(err as Error);
  }
}

/** Queues the items as one ask of `role`; settles with their results in part order, or the first failure. */
function submitAsk(
  state: RemoteRun,
  role: RemoteRole,
  items: WorkItem[],
  signal?: AbortSignal,
  onStarted?: () => void,
): Promise<WorkResult[]> {
  const { pending } = state;
  const refused = refusalOf(state, role);
  if (refused) return Promise.reject(refused);
  const ask = items[0]!.ask;
  return new Promise<WorkResult[]>((resolve, reject) => {
    const onAbort = (): void => {
      pending.delete(ask);
      reject(abortError(role, signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const done =
      <T>(f: (x: T) => void) =>
      (x: T): void => {
        signal?.removeEventListener('abort', onAbort);
        f(x);
      };
    pending.set(ask, {
      role,
      items,
      results: new Map(),
      attempts: new Map(),
      resolve: done(resolve),
      reject: done(reject),
      ...(onStarted ? { onStarted } : {}),
    });
    Promise.all(items.map((item) => enqueue(state, item))).catch((err) => {
      pending.delete(ask);
      reject(err);
    });
  });
}

function abortError(role: RemoteRole, signal: AbortSignal | undefined): Error {
  return Object.assign(
    new Error(`remote ${role} ask aborted: ${String(signal?.reason?.message ?? signal?.reason ?? '')}`),
    { name: 'AbortError' },
  );
}

/** Start reading the run's results into `onResult`; `reading` settles once `resultsIter` is closed. */
export async function readResults(
  state: RemoteRun,
  onResult: (r: WorkResult) => Promise<void>,
): Promise<{ resultsIter: ConsumerMessages; reading: Promise<void> }> {
  const { run, js, pending } = state;
  // Results of this run, in order, from the results stream.
  const resultsIter: ConsumerMessages = await (
    await js.consumers.get(NAMES.results, {
      filter_subjects: NAMES.resultSubject(run),
      deliver_policy: DeliverPolicy.All,
    })
  ).consume();
  const reading = (async () => {
    for await (const m of resultsIter) {
      try {
        await onResult(decodeWire(RemoteProtocols.WorkResult, m.data));
      } catch (err) {
        for (const [k, p] of pending) {
          pending.delete(k);
          p.reject(new Error(`remote result unreadable: ${(err as Error).message}`));
        }
      }
    }
  })();
  return { resultsIter, reading };
}

export function describeItem(item: WorkItem): string {
  if (item.kind === 'score') return `reward item ${item.ask}`;
  const ps = item.request.prompts;
  return `rollout item step ${item.request.step} prompts ${ps[0]!.promptIndex}..${ps[ps.length - 1]!.promptIndex}`;
}

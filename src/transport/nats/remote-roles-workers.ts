// Watching the workers of a run (split from remote-roles.ts, which opens the run and stops this watch on
// close): heartbeats (worker joined, its latest state, worker lost when they stop), a worker's start
// signal for an item (reward: scoreBatch's), refusals (a worker that cannot serve the run says why), and
// the server's advisory for an item no worker acknowledged within max_deliver deliveries.
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { decodeWire, RemoteProtocols } from '../../../protocols/remote.js';
import { NAMES } from './connect.js';
import { describeItem, type RemoteAsks, type RemoteRun } from './remote-roles-asks.js';
import { remoteRoleOf } from './remote-roles-types.js';
import type { RemoteRole } from './worker.js';

/** Subscribe to the run's worker subjects and start the heartbeat watchdog; close() undoes both. */
export function watchWorkers(
  nc: NatsConnection,
  state: RemoteRun,
  roles: RemoteRole[],
  asks: RemoteAsks,
): { subs: Subscription[]; watchdog: ReturnType<typeof setInterval> } {
  const { run } = state;
  // A message that does not decode (another build's) is ignored: the run goes on without it.
  const on = (subject: string, take: (data: Uint8Array) => void): Subscription =>
    nc.subscribe(subject, {
      callback: (_e, m) => {
        try {
          take(m.data);
        } catch {
          /* unreadable: ignored */
        }
      },
    });
  const subs = [
    on(NAMES.heartbeatSubject(run), (data) => takeHeartbeat(state, data)),
    on(NAMES.startedSubject(run), (data) => takeStarted(state, data)),
    on(NAMES.refusalSubject(run), (data) => takeRefusal(state, asks, data)),
    // An item no worker acknowledged within max_deliver deliveries is dropped by the server: fail its ask.
    ...roles.map((role) =>
      nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${NAMES.work}.${NAMES.consumer(run, role)}`, {
        callback: (_e, m) => takeMaxDeliveries(state, role, m.json<{ stream_seq: number; deliveries: number }>()),
      }),
    ),
  ];
  return { subs, watchdog: startWatchdog(state, asks) };
}

/**
 * A heartbeat: the worker joined (first one) or is alive again; its latest state is kept, with `time`
 * the moment it arrived by this clock (a worker's clock may be minutes off: it would read as lost).
 */
function takeHeartbeat({ emit, hearts, lost }: RemoteRun, data: Uint8Array): void {
  const h = { ...decodeWire(RemoteProtocols.WorkerHeartbeat, data), time: Date.now() };
  if (!hearts.has(h.worker))
    emit({ type: 'worker-joined', role: h.role, worker: h.worker, host: h.host, time: Date.now() });
  hearts.set(h.worker, h);
  lost.delete(h.worker);
  emit({ type: 'worker-heartbeat', role: h.role, heartbeat: h, time: Date.now() });
}

/** A worker began an item: the ask's start signal fires, once. */
function takeStarted({ pending }: RemoteRun, data: Uint8Array): void {
  const s = decodeWire(RemoteProtocols.WorkStarted, data);
  const p = pending.get(s.ask);
  p?.onStarted?.();
  if (p) delete p.onStarted;
}

/** A worker refused the run: recorded, reported, and the role's asks fail once no worker of it is left. */
function takeRefusal({ emit, refusals }: RemoteRun, asks: RemoteAsks, data: Uint8Array): void {
  const r = decodeWire(RemoteProtocols.WorkerRefusal, data);
  refusals.push({ role: r.role, text: `worker ${r.worker} on ${r.host} refused it: ${r.reason}` });
  emit({ type: 'worker-refused', role: r.role, worker: r.worker, host: r.host, reason: r.reason, time: Date.now() });
  const role = remoteRoleOf(r.role);
  const err = role && asks.refusalError(role);
  if (role && err) asks.fail(role, err);
}

/** The server's advisory for an item delivered max_deliver times without an ack: its ask fails naming it. */
function takeMaxDeliveries(
  { o, pending, bySeq }: RemoteRun,
  role: RemoteRole,
  adv: { stream_seq: number; deliveries: number },
): void {
  const at = bySeq.get(adv.stream_seq);
  const p = at && pending.get(at.ask);
  if (!at || !p) return;
  pending.delete(at.ask);
  p.reject(
    new Error(
      `remote ${role}: ${describeItem(p.items[at.part]!)} was delivered ${adv.deliveries} times and never acknowledged (every worker that took it died or hung; roles.${role}.max_deliver ${o.roles[role]!.maxDeliver})`,
    ),
  );
}

/**
 * Every heartbeat period: a worker silent for three periods (and a second) is reported lost, once. If
 * the workers left of its role have all refused the run, its asks fail now rather than wait for none.
 */
function startWatchdog(state: RemoteRun, asks: RemoteAsks): ReturnType<typeof setInterval> {
  const { o, emit, hearts, lost } = state;
  const beatMs = o.heartbeatMs ?? 2000;
  return setInterval(() => {
    for (const h of hearts.values()) {
      if (Date.now() - h.time > 3 * beatMs + 1000 && !lost.has(h.worker)) {
        lost.add(h.worker);
        emit({ type: 'worker-lost', role: h.role, worker: h.worker, host: h.host, time: Date.now() });
        const err = asks.refusalError(h.role);
        if (err) asks.fail(h.role, err);
      }
    }
  }, beatMs);
}

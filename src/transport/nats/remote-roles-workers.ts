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
  const { run, o, emit, pending, bySeq, hearts, lost, refusals } = state;
  const { fail, refusalError } = asks;
  const subs: Subscription[] = [];
  subs.push(
    nc.subscribe(NAMES.heartbeatSubject(run), {
      callback: (_e, m) => {
        try {
          const h = decodeWire(RemoteProtocols.WorkerHeartbeat, m.data);
          if (!hearts.has(h.worker))
            emit({ type: 'worker-joined', role: h.role, worker: h.worker, host: h.host, time: Date.now() });
          hearts.set(h.worker, h);
          lost.delete(h.worker);
          emit({ type: 'worker-heartbeat', role: h.role, heartbeat: h, time: Date.now() });
        } catch {
          /* a heartbeat from another build: ignored */
        }
      },
    }),
  );
  subs.push(
    nc.subscribe(NAMES.startedSubject(run), {
      callback: (_e, m) => {
        try {
          const s = decodeWire(RemoteProtocols.WorkStarted, m.data);
          const p = pending.get(s.ask);
          p?.onStarted?.();
          if (p) delete p.onStarted;
        } catch {
          /* unreadable: ignored */
        }
      },
    }),
  );
  subs.push(
    nc.subscribe(NAMES.refusalSubject(run), {
      callback: (_e, m) => {
        try {
          const r = decodeWire(RemoteProtocols.WorkerRefusal, m.data);
          refusals.push({ role: r.role, text: `worker ${r.worker} on ${r.host} refused it: ${r.reason}` });
          emit({
            type: 'worker-refused',
            role: r.role,
            worker: r.worker,
            host: r.host,
            reason: r.reason,
            time: Date.now(),
          });
          const role = remoteRoleOf(r.role);
          const err = role && refusalError(role);
          if (role && err) fail(role, err);
        } catch {
          /* unreadable: ignored */
        }
      },
    }),
  );
  // An item no worker acknowledged within max_deliver deliveries is dropped by the server: fail its ask.
  for (const role of roles) {
    subs.push(
      nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${NAMES.work}.${NAMES.consumer(run, role)}`, {
        callback: (_e, m) => {
          const adv = m.json<{ stream_seq: number; deliveries: number }>();
          const at = bySeq.get(adv.stream_seq);
          const p = at && pending.get(at.ask);
          if (!at || !p) return;
          pending.delete(at.ask);
          p.reject(
            new Error(
              `remote ${role}: ${describeItem(p.items[at.part]!)} was delivered ${adv.deliveries} times and never acknowledged (every worker that took it died or hung; roles.${role}.max_deliver ${o.roles[role]!.maxDeliver})`,
            ),
          );
        },
      }),
    );
  }
  const beatMs = o.heartbeatMs ?? 2000;
  const watchdog = setInterval(() => {
    for (const h of hearts.values()) {
      if (Date.now() - h.time > 3 * beatMs + 1000 && !lost.has(h.worker)) {
        lost.add(h.worker);
        emit({ type: 'worker-lost', role: h.role, worker: h.worker, host: h.host, time: Date.now() });
      }
    }
  }, beatMs);
  return { subs, watchdog };
}

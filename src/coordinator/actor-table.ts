// The dashboard's actor table for a training run: the ActorSystem roles (rollout-N, reward, advantage,
// learner, evaluator), each with its workers, queue depth, in-flight messages, restarts
// (workers created after tracking starts, i.e. after the roles started: crashed and hung workers replaced), its last events, the
// policy version it last applied (weight-store readers; the learner's is the published version) and,
// for rollout actors, the latency of the sync that applied it.
import type { ActorSystem } from '../runtime/actor-system.js';
import type { WeightStore } from '../runtime/weight-store.js';
import type { ActorRow, CompletionRow } from '../report/dashboard.js';

const LAST_EVENTS = 4;

export interface ActorTable {
  rows(): ActorRow[];
  /** Note each rollout actor's latest sync latency from a step's trajectories. */
  noteCompletions(records: readonly CompletionRow[]): void;
  stop(): void;
}

export function trackActors(system: ActorSystem, store: WeightStore, remoteRows?: () => ActorRow[]): ActorTable {
  const created = new Map<string, number>();
  const events = new Map<string, string[]>();
  const syncMs = new Map<string, number>();
  const note = (role: string, what: string): void => {
    const list = events.get(role) ?? [];
    list.push(`${new Date().toISOString().slice(11, 19)} ${what}`);
    events.set(role, list.slice(-LAST_EVENTS));
  };
  const sub = system.events$.subscribe((e) => {
    if (!('role' in e)) return;
    if (e.type === 'worker-created') created.set(e.role, (created.get(e.role) ?? 0) + 1);
    const handler = 'handler' in e ? ` ${e.handler}` : '';
    if (e.type !== 'worker-created' && e.type !== 'worker-destroyed') note(e.role, `${e.type}${handler}`);
  });
  return {
    rows() {
      const versions = new Map(store.lateReaders(2 ** 31 - 1).map((r) => [r.name, r.acked]));
      const rows: ActorRow[] = system.roleStats().map((s) => ({
        ...s,
        restarts: created.get(s.role) ?? 0,
        ...(s.role === 'learner'
          ? { policyVersion: store.version }
          : versions.has(s.role)
            ? { policyVersion: versions.get(s.role)! }
            : {}),
        ...(syncMs.has(s.role) ? { syncLatencyMs: syncMs.get(s.role)! } : {}),
        lastEvents: events.get(s.role) ?? [],
      }));
      // Remote workers (roles over NATS), one row each from its heartbeat.
      return [...rows, ...(remoteRows?.() ?? [])];
    },
    noteCompletions(records) {
      for (const r of records)
        if (typeof r.actor === 'string' && typeof r.sync_latency_ms === 'number')
          syncMs.set(r.actor, r.sync_latency_ms);
    },
    stop() {
      sub.unsubscribe();
    },
  };
}

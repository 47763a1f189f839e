// The public face of remote roles (split from remote-roles.ts, which opens them and re-exports these):
// the settings a run gives each remote role, the events it reports, the RemoteRoles object the
// coordinator asks through, and which role names (rollout-N, reward) can run on workers. Kept apart so
// that the parts (remote-roles-asks.ts, -workers.ts, -rollout.ts) share them without importing the entry.
import type { Observable } from 'rxjs';
import type { WeightStore } from '../../runtime/weight-store.js';
import type { RunAnnouncement, WorkerHeartbeat } from '../../../protocols/remote.js';
import type { NatsOptions } from './connect.js';
import type { RemoteRole } from './worker.js';

export interface RemoteRoleSettings {
  /** Ack deadline of an item: a worker that neither acknowledges nor extends it for this long loses it. */
  ackWaitMs: number;
  /** Deliveries of one item before it is given up (the ask then fails naming it). */
  maxDeliver: number;
  /** Rollout: prompts per work item (0 = a rollout actor's whole share in one item). */
  promptsPerItem?: number;
}

export interface RemoteRolesOptions {
  nats: NatsOptions;
  /** A name for the run (its folder's); a random suffix makes it unique on the server. */
  runName: string;
  roles: Partial<Record<RemoteRole, RemoteRoleSettings>>;
  /** What workers need (the announcement, less the fields filled in here). */
  rollout?: RunAnnouncement['rollout'];
  reward?: RunAnnouncement['reward'];
  packageVersion: string;
  /** The coordinator's adapter store (the learner publishes into it). */
  store: WeightStore;
  /** Republish-and-requeue rounds after a worker rejects a version (run.sync_retries). */
  syncRetries: number;
  heartbeatMs?: number;
}

export type RemoteEvent =
  | { type: 'worker-joined' | 'worker-lost'; role: RemoteRole; worker: string; host: string; time: number }
  | { type: 'worker-heartbeat'; role: RemoteRole; heartbeat: WorkerHeartbeat; time: number }
  | { type: 'worker-refused'; role: string; worker: string; host: string; reason: string; time: number }
  | {
      type: 'redelivered';
      role: RemoteRole;
      item: string;
      delivery: number;
      worker: string;
      host: string;
      time: number;
    }
  | { type: 'duplicate'; role: RemoteRole; item: string; worker: string; time: number }
  | { type: 'republished'; role: RemoteRole; version: number; worker: string; reason: string; time: number };

export interface RemoteRoles {
  readonly run: string;
  /** Whether `role` (rollout-N, reward) runs on workers. */
  isRemote(role: string): boolean;
  ask<R = unknown>(
    role: string,
    handler: string,
    msg: unknown,
    opts?: { signal?: AbortSignal; onStart?: () => void },
  ): Promise<R>;
  readonly events$: Observable<RemoteEvent>;
  /** The latest heartbeat of every worker that joined the run. */
  workers(): WorkerHeartbeat[];
  /** End the run on the server: workers leave it; its queue, results and adapter objects are removed. */
  close(): Promise<void>;
}

export const remoteRoleOf = (role: string): RemoteRole | null =>
  role === 'reward' ? 'reward' : /^rollout(-\d+)?$/.test(role) ? 'rollout' : null;

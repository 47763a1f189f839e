// The shapes the worker's parts share (worker.ts is the entry; see its header): the role and options a
// worker is started with, one joined run, and the worker state that the parts (worker-runs.ts,
// worker-host.ts, worker-serve.ts) take instead of the closure they were once part of.
import type { JetStreamClient, Consumer } from '@nats-io/jetstream';
import type { ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ActorSystem } from '../../runtime/actor-system.js';
import type { Model } from '../../model/weights.js';
import type { protocolTable, RunAnnouncement } from '../../../protocols/remote.js';
import type { adapterFetcher } from './adapters.js';
import type { NatsOptions } from './connect.js';

export type RemoteRole = 'rollout' | 'reward';

export interface WorkerOptions {
  nats: NatsOptions;
  role: RemoteRole;
  /** Rollout: the engine to run (default: the run's model.engine). */
  engine?: 'builtin' | 'webgpu' | 'webllm';
  /** Threads of the role's pool in this process (rollout: engines; reward: scoring threads). Default 1. */
  threads?: number;
  /** Rollout: this host's copy of the base model (default: the folder the run names). */
  modelDir?: string;
  heartbeatMs?: number;
  /** Reward: import the custom reward modules a run names (code from any client that can publish on the server). Default false. */
  allowRewardModules?: boolean;
  log(line: string): void;
}

export interface JoinedRun {
  ann: RunAnnouncement;
  system: ActorSystem;
  consumer: Consumer;
  ackWaitMs: number;
  fetcher?: ReturnType<typeof adapterFetcher>;
  versionApplied: number;
  inFlight: number;
  served: number;
  engine?: string;
  leaving: boolean;
  loop: Promise<void>;
  /** Reward: the warm-up of a replaced thread, awaited before the next item starts. */
  rewarm?: Promise<void>;
}

/** What the parts of one worker share: set up once by startWorker, read and updated by each. */
export interface WorkerState {
  readonly o: WorkerOptions;
  readonly id: string;
  readonly host: string;
  readonly threads: number;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  /** The adapter bucket rollout workers fetch versions from. */
  readonly os: ObjectStore;
  /** The runs joined, by run name. */
  readonly runs: Map<string, JoinedRun>;
  /** Base models loaded, by folder (runs on the same model share one). */
  readonly models: Map<string, Model<Float32Array>>;
  /** This worker's protocol versions, compared with each run's. */
  readonly mine: ReturnType<typeof protocolTable>;
  stopping: boolean;
}

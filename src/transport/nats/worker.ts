// `loractor worker`: one process serving one role (rollout or reward) for every run announced on a
// NATS server. It discovers runs on the LORACTOR_RUNS stream, joins those that need its role and speak
// its protocols (refusing the others, with the reason published to the coordinator), hosts the role's
// actor module from actors/ unchanged in its own ActorSystem, and pulls the run's work items from the
// JetStream work queue: each item is extended (in-progress ack) while it runs, its result stored on the
// results stream, and only then acknowledged, so a worker that dies (kill -9) or hangs leaves its items
// to be redelivered after the ack deadline. Every few seconds it publishes a heartbeat per run.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { DeliverPolicy, jetstream, type ConsumerMessages } from '@nats-io/jetstream';
import { decodeWire, protocolTable, RemoteProtocols, type RunAnnouncement } from '../../../protocols/remote.js';
import { openAdapterBucket } from './adapters.js';
import { connectNats, ensureStreams, NAMES } from './connect.js';
import { joinRun, leaveRun, refuse } from './worker-runs.js';
import { heartbeat } from './worker-serve.js';
import type { WorkerOptions, WorkerState } from './worker-types.js';

// The worker's parts live next to this entry: worker-types (options, one joined run, the worker state),
// worker-runs (join, leave, refuse), worker-host (the role's ActorSystem), worker-serve (work items,
// heartbeats). Their exported names are re-exported here, where importers have always found them.
export type { RemoteRole, WorkerOptions } from './worker-types.js';

export interface RunningWorker {
  id: string;
  /** Stop taking items, finish those in flight, leave every run and close the connection. */
  stop(): Promise<void>;
  /** Resolves when the worker has stopped. */
  done: Promise<void>;
}

export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  const w = await connectWorker(o);
  const beat = startHeartbeats(w);
  // Run discovery: the last announcement of every run, then each new one.
  const announcements = await (
    await w.js.consumers.get(NAMES.runs, {
      filter_subjects: 'loractor.runs.*',
      deliver_policy: DeliverPolicy.LastPerSubject,
    })
  ).consume();
  const watching = watchAnnouncements(w, announcements);
  o.log(`worker ${w.id} serving ${o.role} on ${w.nc.getServer()}`);

  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= stopWorker(w, beat, announcements, watching);
    return stopped;
  };
  const done = new Promise<void>((res) => {
    void w.nc.closed().then(() => res());
  });
  return { id: w.id, stop, done };
}

/** Connect, make sure the streams exist, open the adapter bucket: the state every part shares. */
async function connectWorker(o: WorkerOptions): Promise<WorkerState> {
  const host = hostname();
  const id = `${o.role}-${host}-${process.pid}-${randomBytes(2).toString('hex')}`;
  const threads = o.threads ?? 1;
  const nc = await connectNats({ ...o.nats, name: `loractor worker ${id}` });
  await ensureStreams(nc);
  const js = jetstream(nc);
  const os = await openAdapterBucket(nc);
  return {
    o,
    id,
    host,
    threads,
    nc,
    js,
    os,
    runs: new Map(),
    models: new Map(),
    mine: protocolTable(),
    stopping: false,
  };
}

/** A heartbeat for every joined run not leaving, every heartbeatMs. */
function startHeartbeats(w: WorkerState): ReturnType<typeof setInterval> {
  return setInterval(() => {
    for (const r of w.runs.values()) if (!r.leaving) heartbeat(w, r);
  }, w.o.heartbeatMs ?? 2000);
}

/** Join each announced run that needs this worker's role; leave those announced ended. */
async function watchAnnouncements(w: WorkerState, announcements: ConsumerMessages): Promise<void> {
  for await (const m of announcements) {
    let ann: RunAnnouncement;
    try {
      ann = decodeWire(RemoteProtocols.RunAnnouncement, m.data);
    } catch (err) {
      const run = m.subject.split('.').pop() ?? '?';
      refuse(w, run, `cannot read the run's announcement: ${(err as Error).message}`);
      continue;
    }
    if (ann.ended) void leaveRun(w, ann.run, 'the run ended');
    else if (ann.roles.includes(w.o.role) && !w.runs.has(ann.run) && !w.stopping) await joinRun(w, ann);
  }
}

async function stopWorker(
  w: WorkerState,
  beat: ReturnType<typeof setInterval>,
  announcements: ConsumerMessages,
  watching: Promise<void>,
): Promise<void> {
  w.stopping = true;
  clearInterval(beat);
  await announcements.close();
  await watching.catch(() => {});
  await Promise.all([...w.runs.keys()].map((run) => leaveRun(w, run, 'the worker is stopping')));
  await w.nc.drain().catch(() => {});
}

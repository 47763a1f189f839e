// The coordinator's side of remote roles: rollout and reward served by `loractor worker` processes on
// other hosts, asked through the same `ask(role, handler, msg)` the ActorSystem offers for local roles
// (see router.ts), so the GRPO loop does not know where a role runs.
//  - generate: the request's prompts become work items on the run's JetStream work queue (one item
//    per rollout actor's share by default: the same engine batches as a local actor, so the same bits;
//    or items of prompts_per_item prompts, spread over the workers). Items carry the adapter version
//    published when they were queued; a worker that stops acknowledging (killed, hung) loses them
//    after the ack deadline and another worker takes them. Results are keyed (run, ask, part) and each
//    completion (step, prompt, sample): a late duplicate is dropped, none is counted twice.
//  - sync: the version is put in the object store once, with its checksum; workers fetch it once and
//    verify it before applying. A worker that rejects the bytes gets them republished and the item queued again.
//  - scoreItem: one item per completion, scored on a reward worker under the run's per-item deadline.
// This module opens and closes a run's remote roles and dispatches each ask; the parts live next to it:
// the public types in remote-roles-types.ts, the asks in flight and their results in remote-roles-asks.ts,
// the worker watch (heartbeats, refusals, undelivered items) in remote-roles-workers.ts, and the rollout
// side (generate's work items, merging their replies) in remote-roles-rollout.ts.
import { randomBytes } from 'node:crypto';
import { Subject } from 'rxjs';
import { jetstream, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { GenerateRequest, SyncReply } from '../../../protocols/training.js';
import { encodeWire, protocolTable, RemoteProtocols, type RunAnnouncement } from '../../../protocols/remote.js';
import { adapterPublisher, openAdapterBucket, type AdapterPublisher } from './adapters.js';
import { connectNats, ensureStreams, ensureWorkConsumer, NAMES } from './connect.js';
import type { RemoteRole } from './worker.js';
import { readResults, trackAsks, type RemoteAsks, type RemoteRun } from './remote-roles-asks.js';
import { remoteGenerate } from './remote-roles-rollout.js';
import { remoteRoleOf, type RemoteEvent, type RemoteRoles, type RemoteRolesOptions } from './remote-roles-types.js';
import { watchWorkers } from './remote-roles-workers.js';

export type { RemoteEvent, RemoteRoles, RemoteRoleSettings, RemoteRolesOptions } from './remote-roles-types.js';
export { mergeGenerateReplies } from './remote-roles-rollout.js';

export async function openRemoteRoles(o: RemoteRolesOptions): Promise<RemoteRoles> {
  const run = `${o.runName.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 32) || 'run'}-${randomBytes(4).toString('hex')}`;
  const nc = await connectNats({ ...o.nats, name: `loractor coordinator ${run}` });
  const jsm = await ensureStreams(nc);
  const js = jetstream(nc);
  const roles = Object.keys(o.roles) as RemoteRole[];
  for (const role of roles)
    await ensureWorkConsumer(jsm, run, role, o.roles[role]!.ackWaitMs, o.roles[role]!.maxDeliver);
  const publisher = adapterPublisher(await openAdapterBucket(nc), run, o.store);
  const events = new Subject<RemoteEvent>();
  const emit = (e: RemoteEvent): void => {
    if (!events.closed) events.next(e);
  };
  // One state for the parts: the asks in flight, the workers seen, the ask count (remote-roles-asks.ts).
  const state: RemoteRun = {
    run,
    o,
    js,
    publisher,
    emit,
    pending: new Map(),
    bySeq: new Map(),
    hearts: new Map(),
    lost: new Set(),
    refusals: [],
    nextAsk: 0,
  };
  const asks = trackAsks(state);
  const { resultsIter, reading } = await readResults(state, asks.onResult);
  const { subs, watchdog } = watchWorkers(nc, state, roles, asks);
  const ann = announcement(run, o, roles);
  await js.publish(NAMES.runSubject(run), encodeWire(RemoteProtocols.RunAnnouncement, ann));
  return {
    run,
    isRemote: (role) => {
      const r = remoteRoleOf(role);
      return r !== null && roles.includes(r);
    },
    ask: askRemote(state, roles, asks),
    events$: events.asObservable(),
    workers: () => [...state.hearts.values()],
    async close() {
      clearInterval(watchdog);
      asks.fail('rollout', new Error('remote roles closed'));
      asks.fail('reward', new Error('remote roles closed'));
      await js
        .publish(NAMES.runSubject(run), encodeWire(RemoteProtocols.RunAnnouncement, { ...ann, ended: true }))
        .catch(() => {});
      for (const s of subs) s.unsubscribe();
      await resultsIter.close();
      await reading.catch(() => {});
      await cleanUp(jsm, js, publisher, run, roles);
      events.complete();
      await nc.drain().catch(() => {});
    },
  };
}

/** What workers read to join the run: its roles, protocols, package and the roles' settings. */
function announcement(run: string, o: RemoteRolesOptions, roles: RemoteRole[]): RunAnnouncement {
  return {
    run,
    protocols: protocolTable(),
    package: o.packageVersion,
    roles,
    adapterBucket: NAMES.adapters,
    ...(o.rollout && roles.includes('rollout') ? { rollout: o.rollout } : {}),
    ...(o.reward && roles.includes('reward') ? { reward: o.reward } : {}),
  };
}

/** The ask of RemoteRoles: each (role, handler) a local actor serves, answered over NATS. */
function askRemote(state: RemoteRun, roles: RemoteRole[], asks: RemoteAsks): RemoteRoles['ask'] {
  const generate = remoteGenerate(state, asks.submit);
  return async <R>(
    role: string,
    handler: string,
    msg: unknown,
    opts: { signal?: AbortSignal; onStart?: () => void } = {},
  ): Promise<R> => {
    const r = remoteRoleOf(role);
    if (!r || !roles.includes(r)) throw new Error(`role '${role}' is not remote in this run`);
    if (r === 'rollout' && handler === 'generate') return (await generate(msg as GenerateRequest)) as R;
    if (r === 'rollout' && handler === 'sync') {
      const t0 = performance.now();
      const m = msg as { minVersion: number; timeoutMs?: number };
      const meta = await state.publisher.publishLatest(m.minVersion, m.timeoutMs ?? 30_000);
      return { version: meta.version, latencyMs: performance.now() - t0, verified: true } satisfies SyncReply as R;
    }
    if (r === 'reward' && handler === 'warmup') return { names: [], threadId: 0 } as R;
    if (r === 'reward' && handler === 'scoreItem') {
      // scoreBatch's start signal: called when a worker begins the item (its WorkStarted message).
      const request = msg as Record<string, unknown>;
      const item = { kind: 'score' as const, run: state.run, ask: state.nextAsk++, part: 0 as const, request };
      const [res] = await asks.submit('reward', [item], opts.signal, opts.onStart);
      return res!.reply as R;
    }
    throw new Error(`remote ${r}: no handler '${handler}' over NATS`);
  };
}

async function cleanUp(
  jsm: JetStreamManager,
  _js: JetStreamClient,
  publisher: AdapterPublisher,
  run: string,
  roles: RemoteRole[],
): Promise<void> {
  for (const role of roles) {
    await jsm.consumers.delete(NAMES.work, NAMES.consumer(run, role)).catch(() => {});
    await jsm.streams.purge(NAMES.work, { filter: NAMES.workSubject(role, run) }).catch(() => {});
  }
  await jsm.streams.purge(NAMES.results, { filter: NAMES.resultSubject(run) }).catch(() => {});
  await publisher.removeAll();
}

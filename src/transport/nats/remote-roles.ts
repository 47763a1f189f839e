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
import { randomBytes } from 'node:crypto';
import { Subject, type Observable } from 'rxjs';
import type { Subscription } from '@nats-io/transport-node';
import {
  DeliverPolicy,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  type ConsumerMessages,
} from '@nats-io/jetstream';
import type { WeightStore } from '../../runtime/weight-store.js';
import { isSharedTensor, tensorView, type SharedTensor } from '../../../protocols/shared-tensor.js';
import type { GenerateRequest, SyncReply } from '../../../protocols/training.js';
import {
  decodeWire,
  encodeWire,
  protocolTable,
  RemoteProtocols,
  type RunAnnouncement,
  type WorkItem,
  type WorkResult,
  type WorkerHeartbeat,
} from '../../../protocols/remote.js';
import { adapterPublisher, openAdapterBucket, type AdapterPublisher } from './adapters.js';
import { connectNats, ensureStreams, ensureWorkConsumer, NAMES, type NatsOptions } from './connect.js';
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

interface PendingAsk {
  role: RemoteRole;
  /** Told when a worker begins the item (reward: scoreBatch's start signal). */
  onStarted?: () => void;
  items: WorkItem[];
  results: Map<number, WorkResult>;
  attempts: Map<number, number>;
  resolve(r: WorkResult[]): void;
  reject(e: Error): void;
}

const remoteRoleOf = (role: string): RemoteRole | null =>
  role === 'reward' ? 'reward' : /^rollout(-\d+)?$/.test(role) ? 'rollout' : null;
const ids = (x: unknown): number[] =>
  isSharedTensor(x) ? Array.from(tensorView(x as SharedTensor & { dtype: 'i32' })) : Array.from(x as ArrayLike<number>);

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
  const pending = new Map<number, PendingAsk>();
  const bySeq = new Map<number, { ask: number; part: number }>();
  const hearts = new Map<string, WorkerHeartbeat>();
  const lost = new Set<string>();
  const refusals: { role: string; text: string }[] = [];
  let asks = 0;

  const fail = (role: RemoteRole, e: Error): void => {
    for (const [k, p] of pending)
      if (p.role === role) {
        pending.delete(k);
        p.reject(e);
      }
  };
  const anyWorker = (role: RemoteRole): boolean => [...hearts.values()].some((h) => h.role === role);
  const refusalError = (role: RemoteRole): Error | null => {
    const mine = refusals.filter((r) => r.role === role);
    return mine.length && !anyWorker(role)
      ? new Error(`no ${role} worker serves run ${run}: ${mine.map((r) => r.text).join('; ')}`)
      : null;
  };

  const enqueue = async (item: WorkItem): Promise<void> => {
    const ack = await js.publish(
      NAMES.workSubject(item.kind === 'generate' ? 'rollout' : 'reward', run),
      encodeWire(RemoteProtocols.WorkItem, item),
    );
    bySeq.set(ack.seq, { ask: item.ask, part: item.part });
  };

  const onResult = async (r: WorkResult): Promise<void> => {
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
      const n = (p.attempts.get(r.part) ?? 0) + 1;
      p.attempts.set(r.part, n);
      if (n > o.syncRetries) {
        pending.delete(r.ask);
        p.reject(
          new Error(
            `weight sync: worker ${r.worker} on ${r.host} rejected adapter version ${r.rejectedVersion} ${n} times (${r.error}); aborting (run.sync_retries ${o.syncRetries})`,
          ),
        );
        return;
      }
      try {
        const meta = await publisher.publishLatest(r.rejectedVersion, 1000, true);
        emit({
          type: 'republished',
          role: 'rollout',
          version: meta.version,
          worker: r.worker,
          reason: r.error ?? 'rejected',
          time: Date.now(),
        });
        await enqueue({ ...item, adapterVersion: meta.version });
      } catch (err) {
        pending.delete(r.ask);
        p.reject(err as Error);
      }
      return;
    }
    if (!r.ok) {
      pending.delete(r.ask);
      p.reject(new Error(`remote ${p.role} worker ${r.worker} on ${r.host}: ${describeItem(item)}: ${r.error}`));
      return;
    }
    const reply = r.reply as { syncError?: string; rejectedVersion?: number } | undefined;
    // Generated on its previous version because the newest failed verification: the coordinator has the
    // learner rewrite it (roles.ts), and the next publish puts the fresh bytes in the object store.
    if (reply?.syncError && reply.rejectedVersion !== undefined) publisher.invalidate(reply.rejectedVersion);
    p.results.set(r.part, r);
    if (p.results.size === p.items.length) {
      pending.delete(r.ask);
      p.resolve(p.items.map((_, i) => p.results.get(i)!));
    }
  };

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

  const ann: RunAnnouncement = {
    run,
    protocols: protocolTable(),
    package: o.packageVersion,
    roles,
    adapterBucket: NAMES.adapters,
    ...(o.rollout && roles.includes('rollout') ? { rollout: o.rollout } : {}),
    ...(o.reward && roles.includes('reward') ? { reward: o.reward } : {}),
  };
  await js.publish(NAMES.runSubject(run), encodeWire(RemoteProtocols.RunAnnouncement, ann));

  const submit = (
    role: RemoteRole,
    items: WorkItem[],
    signal?: AbortSignal,
    onStarted?: () => void,
  ): Promise<WorkResult[]> => {
    const refused = refusalError(role);
    if (refused) return Promise.reject(refused);
    const ask = items[0]!.ask;
    return new Promise<WorkResult[]>((resolve, reject) => {
      const onAbort = (): void => {
        pending.delete(ask);
        reject(
          Object.assign(
            new Error(`remote ${role} ask aborted: ${String(signal?.reason?.message ?? signal?.reason ?? '')}`),
            { name: 'AbortError' },
          ),
        );
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
      Promise.all(items.map(enqueue)).catch((err) => {
        pending.delete(ask);
        reject(err);
      });
    });
  };

  const generate = async (msg: GenerateRequest): Promise<Record<string, unknown>> => {
    const adapter = await publisher.publishLatest(msg.minPolicyVersion, 30_000);
    const per = o.roles.rollout?.promptsPerItem || msg.prompts.length;
    const ask = asks++;
    const prompts = msg.prompts.map((p) => ({
      ids: ids(p.ids),
      promptIndex: p.promptIndex,
      ...(p.text !== undefined ? { text: p.text } : {}),
    }));
    const items: WorkItem[] = [];
    for (let i = 0; i < prompts.length; i += per) {
      items.push({
        kind: 'generate',
        run,
        ask,
        part: items.length,
        adapterVersion: adapter.version,
        request: {
          step: msg.step,
          prompts: prompts.slice(i, i + per),
          n: msg.n,
          sampling: msg.sampling,
          minPolicyVersion: msg.minPolicyVersion,
        },
      });
    }
    return mergeGenerateReplies(
      msg,
      (await submit('rollout', items)).map((r) => r.reply as GenerateReply),
    );
  };

  return {
    run,
    isRemote: (role) => {
      const r = remoteRoleOf(role);
      return r !== null && roles.includes(r);
    },
    async ask<R>(
      role: string,
      handler: string,
      msg: unknown,
      opts: { signal?: AbortSignal; onStart?: () => void } = {},
    ): Promise<R> {
      const r = remoteRoleOf(role);
      if (!r || !roles.includes(r)) throw new Error(`role '${role}' is not remote in this run`);
      if (r === 'rollout' && handler === 'generate') return (await generate(msg as GenerateRequest)) as R;
      if (r === 'rollout' && handler === 'sync') {
        const t0 = performance.now();
        const m = msg as { minVersion: number; timeoutMs?: number };
        const meta = await publisher.publishLatest(m.minVersion, m.timeoutMs ?? 30_000);
        return { version: meta.version, latencyMs: performance.now() - t0, verified: true } satisfies SyncReply as R;
      }
      if (r === 'reward' && handler === 'warmup') return { names: [], threadId: 0 } as R;
      if (r === 'reward' && handler === 'scoreItem') {
        // scoreBatch's start signal: called when a worker begins the item (its WorkStarted message).
        const request = msg as Record<string, unknown>;
        const [res] = await submit(
          'reward',
          [{ kind: 'score', run, ask: asks++, part: 0, request }],
          opts.signal,
          opts.onStart,
        );
        return res!.reply as R;
      }
      throw new Error(`remote ${r}: no handler '${handler}' over NATS`);
    },
    events$: events.asObservable(),
    workers: () => [...hearts.values()],
    async close() {
      clearInterval(watchdog);
      fail('rollout', new Error('remote roles closed'));
      fail('reward', new Error('remote roles closed'));
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

type GenerateReply = {
  completions: { promptIndex: number; sampleIndex: number }[];
  engine: string;
  policyVersion: number;
  seconds: number;
  syncLatencyMs: number;
  tokensPerSecond: number;
  timeToFirstTokenS: number;
  syncError?: string;
  rejectedVersion?: number;
  step: number;
};

/** One reply, as a local rollout actor gives it, from the parts' replies; each completion (prompt, sample) once. */
export function mergeGenerateReplies(msg: GenerateRequest, parts: GenerateReply[]): Record<string, unknown> {
  const seen = new Set<string>();
  const completions = parts
    .flatMap((p) => p.completions)
    .filter((c) => {
      const key = `${c.promptIndex}/${c.sampleIndex}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => a.promptIndex - b.promptIndex || a.sampleIndex - b.sampleIndex);
  const expected = msg.prompts.length * msg.n;
  if (completions.length !== expected)
    throw new Error(
      `remote rollout: step ${msg.step}: ${completions.length} distinct completions came back, ${expected} were asked for`,
    );
  const rejected = parts.find((p) => p.syncError);
  return {
    step: msg.step,
    engine: parts[0]!.engine,
    policyVersion: Math.min(...parts.map((p) => p.policyVersion)),
    syncLatencyMs: Math.max(...parts.map((p) => p.syncLatencyMs)),
    ...(rejected ? { syncError: rejected.syncError, rejectedVersion: rejected.rejectedVersion } : {}),
    tokensPerSecond: parts.reduce((a, p) => a + p.tokensPerSecond, 0),
    timeToFirstTokenS: parts.reduce((a, p) => a + p.timeToFirstTokenS, 0) / parts.length,
    seconds: Math.max(...parts.map((p) => p.seconds)),
    completions,
  };
}

function describeItem(item: WorkItem): string {
  if (item.kind === 'score') return `reward item ${item.ask}`;
  const ps = item.request.prompts;
  return `rollout item step ${item.request.step} prompts ${ps[0]!.promptIndex}..${ps[ps.length - 1]!.promptIndex}`;
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

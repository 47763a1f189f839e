// `loractor worker`: one process serving one role (rollout or reward) for every run announced on a
// NATS server. It discovers runs on the LORACTOR_RUNS stream, joins those that need its role and speak
// its protocols (refusing the others, with the reason published to the coordinator), hosts the role's
// actor module from actors/ unchanged in its own ActorSystem, and pulls the run's work items from the
// JetStream work queue: each item is extended (in-progress ack) while it runs, its result stored on the
// results stream, and only then acknowledged, so a worker that dies (kill -9) or hangs leaves its items
// to be redelivered after the ack deadline. Every few seconds it publishes a heartbeat per run.
import { hostname } from 'node:os';
import { randomBytes, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeliverPolicy, jetstream, type Consumer, type JsMsg } from '@nats-io/jetstream';
import { ActorSystem } from '../../runtime/actor-system.js';
import { ActorTimeoutError, WeightChecksumError, isOrCausedBy } from '../../runtime/errors.js';
import { packageActor } from '../../runtime/modules.js';
import { WeightStore } from '../../runtime/weight-store.js';
import { loadModel } from '../../model/load.js';
import { describeModel, type Model } from '../../model/weights.js';
import { createLoraLayout } from '../../model/lora.js';
import { TrainingProtocols, type GenerateReply } from '../../../protocols/training.js';
import { float32View, int32View } from '../../../protocols/shared-tensor.js';
import {
  decodeWire,
  encodeWire,
  protocolDifferences,
  protocolTable,
  RemoteProtocols,
  type RunAnnouncement,
  type WorkItem,
  type WorkResult,
} from '../../../protocols/remote.js';
import { adapterFetcher, openAdapterBucket } from './adapters.js';
import { connectNats, ensureStreams, NAMES, type NatsOptions } from './connect.js';

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

interface JoinedRun {
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

/**
 * Run the reward actor's warmup on every thread (one call each, concurrently: each thread takes one),
 * so no item's deadline is charged for a thread loading the verifier and the run's functions.
 */
async function warmRewardThreads(
  system: ActorSystem,
  threads: number,
  rw: NonNullable<RunAnnouncement['reward']>,
): Promise<void> {
  await Promise.all(
    Array.from({ length: threads }, () =>
      system.ask('reward', 'warmup', { funcs: rw.funcs, ...(rw.kwargs ? { kwargs: rw.kwargs } : {}) }),
    ),
  );
}

export interface RunningWorker {
  id: string;
  /** Stop taking items, finish those in flight, leave every run and close the connection. */
  stop(): Promise<void>;
  /** Resolves when the worker has stopped. */
  done: Promise<void>;
}

const sha256File = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  const host = hostname();
  const id = `${o.role}-${host}-${process.pid}-${randomBytes(2).toString('hex')}`;
  const threads = o.threads ?? 1;
  const nc = await connectNats({ ...o.nats, name: `loractor worker ${id}` });
  await ensureStreams(nc);
  const js = jetstream(nc);
  const os = await openAdapterBucket(nc);
  const runs = new Map<string, JoinedRun>();
  const models = new Map<string, Model<Float32Array>>();
  const mine = protocolTable();
  let stopping = false;

  const refuse = (run: string, reason: string): void => {
    o.log(`refusing run ${run}: ${reason}`);
    nc.publish(
      NAMES.refusalSubject(run),
      encodeWire(RemoteProtocols.WorkerRefusal, { run, worker: id, host, role: o.role, reason }),
    );
  };

  const join_ = async (ann: RunAnnouncement): Promise<void> => {
    const diff = protocolDifferences(mine, ann.protocols);
    if (diff.length) return refuse(ann.run, `protocol versions differ: ${diff.join('; ')}`);
    try {
      const system = await hostRole(ann);
      const consumer = await js.consumers.get(NAMES.work, NAMES.consumer(ann.run, o.role));
      const ackWaitMs = ((await consumer.info(true)).config.ack_wait ?? 30e9) / 1e6;
      const r: JoinedRun = {
        ann,
        system: system.system,
        consumer,
        ackWaitMs,
        ...(system.fetcher ? { fetcher: system.fetcher } : {}),
        versionApplied: -1,
        inFlight: 0,
        served: 0,
        ...(system.engine ? { engine: system.engine } : {}),
        leaving: false,
        loop: Promise.resolve(),
      };
      runs.set(ann.run, r);
      r.loop = serve(r).catch((err) => {
        // The coordinator deletes the run's consumer when the run ends.
        if (/consumer (deleted|not found)/i.test((err as Error).message)) void leave(ann.run, 'the run ended');
        else o.log(`run ${ann.run}: serving stopped: ${(err as Error).message}`);
      });
      o.log(
        `joined run ${ann.run} as ${o.role} (${threads} thread${threads > 1 ? 's' : ''}${r.engine ? `, engine ${r.engine}` : ''}, ack deadline ${ackWaitMs / 1000} s)`,
      );
      heartbeat(r);
    } catch (err) {
      refuse(ann.run, (err as Error).message);
    }
  };

  /** The role's actor module in its own ActorSystem, configured from the run announcement. */
  const hostRole = async (
    ann: RunAnnouncement,
  ): Promise<{ system: ActorSystem; fetcher?: ReturnType<typeof adapterFetcher>; engine?: string }> => {
    if (o.role === 'reward') {
      const rw = ann.reward;
      if (!rw) throw new Error('the run announces no reward settings');
      // A custom module is code: run it only when the worker's operator said so.
      const custom = rw.funcs.filter((f) => typeof f !== 'string');
      if (custom.length && !o.allowRewardModules)
        throw new Error(
          `the run names custom reward modules (${custom.map((f) => JSON.stringify(f)).join(', ')}); this worker runs only built-in reward functions unless started with --allow-reward-modules`,
        );
      const system = await ActorSystem.start({
        reward: {
          module: packageActor('reward'),
          threads,
          retries: 0,
          deadlineMs: rw.timeoutMs,
          config: { funcs: rw.funcs, ...(rw.kwargs ? { kwargs: rw.kwargs } : {}) },
        },
      });
      await warmRewardThreads(system, threads, rw);
      return { system };
    }
    const ro = ann.rollout;
    if (!ro) throw new Error('the run announces no rollout settings');
    const modelDir = o.modelDir ?? ro.modelDir;
    let sha: string;
    try {
      sha = sha256File(join(modelDir, 'config.json'));
    } catch (err) {
      throw new Error(`model ${modelDir}: ${(err as Error).message} (give this host's copy with --model DIR)`);
    }
    if (sha !== ro.modelConfigSha256)
      throw new Error(
        `model ${modelDir}: config.json differs from the run's model (sha256 ${sha.slice(0, 12)}… vs ${ro.modelConfigSha256.slice(0, 12)}…)`,
      );
    let model = models.get(modelDir);
    if (!model) models.set(modelDir, (model = loadModel(modelDir)));
    const layout = createLoraLayout(model.config, ro.lora);
    if (layout.size !== ro.adapterSize)
      throw new Error(`adapter layout: ${layout.size} values here, ${ro.adapterSize} in the run`);
    const store = WeightStore.create(layout.size);
    const engine = o.engine ?? ro.engine;
    const config = {
      model: describeModel(model),
      tokenizerDir: modelDir,
      store: store.describe(),
      lora: ro.lora,
      readerName: id,
      maxBatch: ro.maxBatch,
      ...(engine === 'webllm'
        ? { engine, webllm: ro.webllm }
        : engine === 'webgpu'
          ? { engine, webgpu: ro.webgpu ?? {} }
          : { engine: 'builtin' }),
    };
    const system = await ActorSystem.start({
      rollout: { module: packageActor('rollout'), threads, retries: 1, config },
    });
    return { system, fetcher: adapterFetcher(os, ann.run, store), engine };
  };

  const leave = async (run: string, why: string): Promise<void> => {
    const r = runs.get(run);
    if (!r || r.leaving) return;
    r.leaving = true;
    await r.loop;
    runs.delete(run);
    await r.system.shutdown({ drain: true, timeoutMs: 10_000 });
    o.log(`left run ${run} (${why}; served ${r.served} items)`);
  };

  /** Pull items while joined; at most `threads` in flight, each handled as it arrives. */
  const serve = async (r: JoinedRun): Promise<void> => {
    const running = new Set<Promise<void>>();
    while (!r.leaving && !stopping) {
      while (running.size >= threads) await Promise.race(running);
      try {
        const batch = await r.consumer.fetch({ max_messages: threads - running.size, expires: 1000 });
        for await (const m of batch) {
          const p = handle(r, m).finally(() => running.delete(p));
          running.add(p);
        }
      } catch (err) {
        if (r.leaving || stopping) break;
        if (/consumer (deleted|not found)/i.test((err as Error).message)) throw err;
        o.log(`run ${r.ann.run}: fetch failed (${(err as Error).message}); retrying`);
        await new Promise((res) => setTimeout(res, 1000));
      }
    }
    await Promise.all(running);
  };

  const handle = async (r: JoinedRun, m: JsMsg): Promise<void> => {
    r.inFlight++;
    // Tell the server the item is still being worked on, well inside the ack deadline.
    const keepAlive = setInterval(() => m.working(), Math.max(200, r.ackWaitMs / 3));
    let item: WorkItem | null = null;
    try {
      item = decodeWire(RemoteProtocols.WorkItem, m.data);
      if (item.kind === 'generate') {
        const ps = item.request.prompts;
        o.log(
          `run ${r.ann.run}: took rollout item ${item.ask}.${item.part} (step ${item.request.step}, prompts ${ps[0]!.promptIndex}..${ps[ps.length - 1]!.promptIndex}, delivery ${m.info.deliveryCount})`,
        );
      }
      const result = await perform(r, item);
      await js.publish(
        NAMES.resultSubject(r.ann.run),
        encodeWire(RemoteProtocols.WorkResult, {
          ...result,
          run: r.ann.run,
          ask: item.ask,
          part: item.part,
          worker: id,
          host,
          delivery: m.info.deliveryCount,
        }),
      );
      m.ack();
      r.served++;
    } catch (err) {
      // A malformed item, or no way to store the result: let it be redelivered (or dropped at max_deliver).
      o.log(`run ${r.ann.run}: item ${item ? `${item.ask}.${item.part}` : '(undecodable)'}: ${(err as Error).message}`);
      if (item) m.nak(1000);
      else m.term('undecodable work item');
    } finally {
      clearInterval(keepAlive);
      r.inFlight--;
    }
  };

  type Outcome = Pick<WorkResult, 'ok' | 'reply' | 'error' | 'rejectedVersion'>;
  const perform = async (r: JoinedRun, item: WorkItem): Promise<Outcome> => {
    if (item.kind === 'score') {
      // A thread replaced after a timeout loads its functions before it takes the next item.
      await r.rewarm;
      // The coordinator's deadline for this item starts now (its own start signal, as a local pool thread gives).
      nc.publish(
        NAMES.startedSubject(r.ann.run),
        encodeWire(RemoteProtocols.WorkStarted, { run: r.ann.run, ask: item.ask, part: item.part, worker: id }),
      );
      try {
        return { ok: true, reply: await r.system.ask('reward', 'scoreItem', item.request) };
      } catch (err) {
        if (err instanceof ActorTimeoutError)
          r.rewarm = warmRewardThreads(r.system, threads, r.ann.reward!).catch(() => {});
        return { ok: false, error: (err as Error).message };
      }
    }
    try {
      await r.fetcher!.ensure(item.adapterVersion);
    } catch (err) {
      return {
        ok: false,
        error: `adapter version ${item.adapterVersion}: ${(err as Error).message}`,
        rejectedVersion: item.adapterVersion,
      };
    }
    try {
      const reply = (await r.system.ask('rollout', 'generate', item.request, {
        protocol: TrainingProtocols.GenerateRequest,
      })) as GenerateReply;
      r.versionApplied = Math.max(r.versionApplied, reply.policyVersion);
      if (reply.syncError && reply.rejectedVersion !== undefined) r.fetcher!.forget(reply.rejectedVersion);
      return { ok: true, reply: offHost(reply) };
    } catch (err) {
      const msg = (err as Error).message;
      // The fetched bytes failed the actor's verification: fetch them again once the coordinator republished.
      if (isOrCausedBy(err, WeightChecksumError)) {
        r.fetcher!.forget(item.adapterVersion);
        return { ok: false, error: msg, rejectedVersion: item.adapterVersion };
      }
      return { ok: false, error: msg };
    }
  };

  const heartbeat = (r: JoinedRun): void => {
    void r.consumer
      .info(false)
      .then((info) => {
        nc.publish(
          NAMES.heartbeatSubject(r.ann.run),
          encodeWire(RemoteProtocols.WorkerHeartbeat, {
            run: r.ann.run,
            worker: id,
            host,
            pid: process.pid,
            role: o.role,
            versionApplied: r.versionApplied,
            queueDepth: info.num_pending,
            ackPending: info.num_ack_pending,
            inFlight: r.inFlight,
            served: r.served,
            threads,
            ...(r.engine ? { engine: r.engine } : {}),
            time: Date.now(),
          }),
        );
      })
      .catch(() => {});
  };
  const beat = setInterval(() => {
    for (const r of runs.values()) if (!r.leaving) heartbeat(r);
  }, o.heartbeatMs ?? 2000);

  // Run discovery: the last announcement of every run, then each new one.
  const announcements = await (
    await js.consumers.get(NAMES.runs, {
      filter_subjects: 'loractor.runs.*',
      deliver_policy: DeliverPolicy.LastPerSubject,
    })
  ).consume();
  const watching = (async () => {
    for await (const m of announcements) {
      let ann: RunAnnouncement;
      try {
        ann = decodeWire(RemoteProtocols.RunAnnouncement, m.data);
      } catch (err) {
        const run = m.subject.split('.').pop() ?? '?';
        refuse(run, `cannot read the run's announcement: ${(err as Error).message}`);
        continue;
      }
      if (ann.ended) void leave(ann.run, 'the run ended');
      else if (ann.roles.includes(o.role) && !runs.has(ann.run) && !stopping) await join_(ann);
    }
  })();
  o.log(`worker ${id} serving ${o.role} on ${nc.getServer()}`);

  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      clearInterval(beat);
      await announcements.close();
      await watching.catch(() => {});
      await Promise.all([...runs.keys()].map((run) => leave(run, 'the worker is stopping')));
      await nc.drain().catch(() => {});
    })();
    return stopped;
  };
  const done = new Promise<void>((res) => {
    void nc.closed().then(() => res());
  });
  return { id, stop, done };
}

/**
 * A rollout reply made fit to leave the host: its token ids and log-probs are views of this process's
 * shared memory (SharedTensor descriptors), which cannot cross a network, so they travel as plain arrays.
 */
function offHost(reply: GenerateReply): GenerateReply {
  return {
    ...reply,
    completions: reply.completions.map((c) => ({
      ...c,
      tokenIds: Array.from(int32View(c.tokenIds)),
      logprobs: Array.from(float32View(c.logprobs)),
      ...(c.modelLogprobs !== undefined ? { modelLogprobs: Array.from(float32View(c.modelLogprobs)) } : {}),
    })),
  };
}

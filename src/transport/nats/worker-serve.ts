// Serving a joined run's work items (worker.ts is the entry; see its header): pull items from the run's
// JetStream consumer, at most `threads` in flight; each is extended while it runs, performed on the
// hosted role (reward: scored; rollout: the adapter version applied, then generated), its result stored
// on the results stream and only then acknowledged. Also the heartbeat each joined run gets.
import type { JsMsg } from '@nats-io/jetstream';
import { ActorTimeoutError, WeightChecksumError, isOrCausedBy } from '../../runtime/errors.js';
import { TrainingProtocols, type GenerateReply } from '../../../protocols/training.js';
import { float32View, int32View } from '../../../protocols/shared-tensor.js';
import { decodeWire, encodeWire, RemoteProtocols, type WorkItem, type WorkResult } from '../../../protocols/remote.js';
import { NAMES } from './connect.js';
import { warmRewardThreads } from './worker-host.js';
import type { JoinedRun, WorkerState } from './worker-types.js';

type Outcome = Pick<WorkResult, 'ok' | 'reply' | 'error' | 'rejectedVersion'>;

/** Pull items while joined; at most `threads` in flight, each handled as it arrives. */
export async function serve(w: WorkerState, r: JoinedRun): Promise<void> {
  const running = new Set<Promise<void>>();
  while (!r.leaving && !w.stopping) {
    while (running.size >= w.threads) await Promise.race(running);
    try {
      const batch = await r.consumer.fetch({ max_messages: w.threads - running.size, expires: 1000 });
      for await (const m of batch) {
        const p = serveItem(w, r, m).finally(() => running.delete(p));
        running.add(p);
      }
    } catch (err) {
      if (r.leaving || w.stopping) break;
      if (/consumer (deleted|not found)/i.test((err as Error).message)) throw err;
      w.o.log(`run ${r.ann.run}: fetch failed (${(err as Error).message}); retrying`);
      await new Promise((res) => setTimeout(res, 1000));
    }
  }
  await Promise.all(running);
}

async function serveItem(w: WorkerState, r: JoinedRun, m: JsMsg): Promise<void> {
  r.inFlight++;
  // Tell the server the item is still being worked on, well inside the ack deadline.
  const keepAlive = setInterval(() => m.working(), Math.max(200, r.ackWaitMs / 3));
  let item: WorkItem | null = null;
  try {
    item = decodeWire(RemoteProtocols.WorkItem, m.data);
    if (item.kind === 'generate') logRolloutItem(w, r, item, m);
    const result = await performItem(w, r, item);
    await w.js.publish(
      NAMES.resultSubject(r.ann.run),
      encodeWire(RemoteProtocols.WorkResult, {
        ...result,
        run: r.ann.run,
        ask: item.ask,
        part: item.part,
        worker: w.id,
        host: w.host,
        delivery: m.info.deliveryCount,
      }),
    );
    m.ack();
    r.served++;
  } catch (err) {
    // A malformed item, or no way to store the result: let it be redelivered (or dropped at max_deliver).
    w.o.log(`run ${r.ann.run}: item ${item ? `${item.ask}.${item.part}` : '(undecodable)'}: ${(err as Error).message}`);
    if (item) m.nak(1000);
    else m.term('undecodable work item');
  } finally {
    clearInterval(keepAlive);
    r.inFlight--;
  }
}

function logRolloutItem(w: WorkerState, r: JoinedRun, item: Extract<WorkItem, { kind: 'generate' }>, m: JsMsg): void {
  const ps = item.request.prompts;
  w.o.log(
    `run ${r.ann.run}: took rollout item ${item.ask}.${item.part} (step ${item.request.step}, prompts ${ps[0]!.promptIndex}..${ps[ps.length - 1]!.promptIndex}, delivery ${m.info.deliveryCount})`,
  );
}

function performItem(w: WorkerState, r: JoinedRun, item: WorkItem): Promise<Outcome> {
  return item.kind === 'score' ? scoreItem(w, r, item) : generateItem(r, item);
}

async function scoreItem(w: WorkerState, r: JoinedRun, item: Extract<WorkItem, { kind: 'score' }>): Promise<Outcome> {
  // A thread replaced after a timeout loads its functions before it takes the next item.
  await r.rewarm;
  // The coordinator's deadline for this item starts now (its own start signal, as a local pool thread gives).
  w.nc.publish(
    NAMES.startedSubject(r.ann.run),
    encodeWire(RemoteProtocols.WorkStarted, { run: r.ann.run, ask: item.ask, part: item.part, worker: w.id }),
  );
  try {
    return { ok: true, reply: await r.system.ask('reward', 'scoreItem', item.request) };
  } catch (err) {
    if (err instanceof ActorTimeoutError)
      r.rewarm = warmRewardThreads(r.system, w.threads, r.ann.reward!).catch(() => {});
    return { ok: false, error: (err as Error).message };
  }
}

async function generateItem(r: JoinedRun, item: Extract<WorkItem, { kind: 'generate' }>): Promise<Outcome> {
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
}

/** Publish one heartbeat for a joined run: what this worker applied, holds and served, and the queue. */
export function heartbeat(w: WorkerState, r: JoinedRun): void {
  void r.consumer
    .info(false)
    .then((info) => {
      w.nc.publish(
        NAMES.heartbeatSubject(r.ann.run),
        encodeWire(RemoteProtocols.WorkerHeartbeat, {
          run: r.ann.run,
          worker: w.id,
          host: w.host,
          pid: process.pid,
          role: w.o.role,
          versionApplied: r.versionApplied,
          queueDepth: info.num_pending,
          ackPending: info.num_ack_pending,
          inFlight: r.inFlight,
          served: r.served,
          threads: w.threads,
          ...(r.engine ? { engine: r.engine } : {}),
          time: Date.now(),
        }),
      );
    })
    .catch(() => {});
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

// Joining and leaving runs (worker.ts is the entry; see its header): a run whose protocols differ from
// the worker's, or whose role cannot be hosted here, is refused with the reason published to the
// coordinator; a joined run gets the role hosted (worker-host.ts), its work consumer served
// (worker-serve.ts) and a first heartbeat; leaving finishes the items in flight and shuts the role down.
import { encodeWire, protocolDifferences, RemoteProtocols, type RunAnnouncement } from '../../../protocols/remote.js';
import { NAMES } from './connect.js';
import { hostRole, type HostedRole } from './worker-host.js';
import { heartbeat, serve } from './worker-serve.js';
import type { JoinedRun, WorkerState } from './worker-types.js';

export function refuse(w: WorkerState, run: string, reason: string): void {
  w.o.log(`refusing run ${run}: ${reason}`);
  w.nc.publish(
    NAMES.refusalSubject(run),
    encodeWire(RemoteProtocols.WorkerRefusal, { run, worker: w.id, host: w.host, role: w.o.role, reason }),
  );
}

export async function joinRun(w: WorkerState, ann: RunAnnouncement): Promise<void> {
  const diff = protocolDifferences(w.mine, ann.protocols);
  if (diff.length) return refuse(w, ann.run, `protocol versions differ: ${diff.join('; ')}`);
  try {
    const system = await hostRole(w, ann);
    const consumer = await w.js.consumers.get(NAMES.work, NAMES.consumer(ann.run, w.o.role));
    const ackWaitMs = ((await consumer.info(true)).config.ack_wait ?? 30e9) / 1e6;
    const r = joinedRun(ann, system, consumer, ackWaitMs);
    w.runs.set(ann.run, r);
    r.loop = serve(w, r).catch((err) => {
      // The coordinator deletes the run's consumer when the run ends.
      if (/consumer (deleted|not found)/i.test((err as Error).message)) void leaveRun(w, ann.run, 'the run ended');
      else w.o.log(`run ${ann.run}: serving stopped: ${(err as Error).message}`);
    });
    const { threads } = w;
    w.o.log(
      `joined run ${ann.run} as ${w.o.role} (${threads} thread${threads > 1 ? 's' : ''}${r.engine ? `, engine ${r.engine}` : ''}, ack deadline ${ackWaitMs / 1000} s)`,
    );
    heartbeat(w, r);
  } catch (err) {
    refuse(w, ann.run, (err as Error).message);
  }
}

/** A run just joined: nothing applied, in flight or served yet; its serving loop is set by joinRun. */
function joinedRun(
  ann: RunAnnouncement,
  system: HostedRole,
  consumer: JoinedRun['consumer'],
  ackWaitMs: number,
): JoinedRun {
  return {
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
}

export async function leaveRun(w: WorkerState, run: string, why: string): Promise<void> {
  const r = w.runs.get(run);
  if (!r || r.leaving) return;
  r.leaving = true;
  await r.loop;
  w.runs.delete(run);
  await r.system.shutdown({ drain: true, timeoutMs: 10_000 });
  w.o.log(`left run ${run} (${why}; served ${r.served} items)`);
}

// The generic piscina worker: loads the actor module named in workerData, runs its `init` once with
// the role config, then for each task decodes the envelope, validates the message against the
// protocol the module declares for that handler (`export const accepts = { handler: Protocols.X }`),
// calls the handler and returns the result. Handler and validation errors come back as values so
// the worker stays alive (and keeps its state); only a real crash (process.exit, uncaught
// exception) takes the worker down, and the runtime's supervisor deals with that.
import { workerData } from 'piscina';
import { threadId } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { makeEnvelope, openEnvelope, type TaskEnvelope } from '../../protocols/codec.js';
import { INIT_HANDLER, type ActorWorkerData, type WorkerReply } from '../../protocols/envelope.js';
import { validateMessage, type ProtocolDef } from '../../protocols/messages.js';
import { toRemoteError } from './errors.js';
import { fireFaultDrill, type FaultDrill } from './fault-drill.js';
import type { ActorContext } from './context.js';

type ActorModule = Record<string, unknown> & { accepts?: Record<string, ProtocolDef> };

const data = workerData as ActorWorkerData;
const ctx: ActorContext = { role: data.role, threadId, config: data.config };
let loaded: Promise<ActorModule> | null = null;

function load(): Promise<ActorModule> {
  loaded ??= (async () => {
    const mod = (await import(pathToFileURL(data.module).href)) as ActorModule;
    if (typeof mod.init === 'function') await (mod.init as (c: unknown, x: ActorContext) => unknown)(data.config, ctx);
    return mod;
  })();
  return loaded;
}

export default async function dispatch(env: TaskEnvelope): Promise<WorkerReply> {
  const mod = await load(); // a failing init rejects every task: the runtime reports it at start
  if (env.h === INIT_HANDLER) return { ok: true, r: null };
  const handler = mod[env.h];
  if (typeof handler !== 'function' || env.h === 'init') {
    const names = Object.keys(mod).filter((k) => typeof mod[k] === 'function' && k !== 'init');
    return { ok: false, kind: 'missing-handler', error: { name: 'MissingHandlerError', message: `actor '${data.role}' has no handler '${env.h}' (handlers: ${names.join(', ') || 'none'})` } };
  }
  let msg: unknown;
  try {
    msg = openEnvelope(env);
    const decl = mod.accepts?.[env.h];
    if (decl) msg = validateMessage(decl, msg, env.v);
  } catch (err) {
    return { ok: false, kind: 'protocol', error: toRemoteError(err) };
  }
  try {
    injectFault(env.h);
    const result = await (handler as (m: unknown, c: ActorContext) => unknown)(msg, ctx);
    return { ok: true, r: result === undefined ? null : makeEnvelope('', result, env.t) };
  } catch (err) {
    return { ok: false, kind: 'handler', error: toRemoteError(err) };
  }
}

/** Fault drills (config `faults`, see fault-drill.ts) travel in the role config as `__faults`. */
function injectFault(handler: string): void {
  fireFaultDrill((data.config as { __faults?: FaultDrill[] } | null)?.__faults, data.role, handler);
}

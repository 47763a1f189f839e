// Typed ask over a handler contract (protocols/handlers.ts): the request type is what the contract
// accepts, the reply type what it returns, the request's protocol version travels with it (the
// worker checks it and validates the request), and the reply is validated against `returns` when it
// arrives, so a reply that drifted from its declaration fails here, naming the field, instead of
// being cast and misread further on. Built on ActorSystem.ask's public signature only.
import { validateMessage, ProtocolError } from '../../protocols/messages.js';
import type { HandlerDef, ReplyOf, RequestOf } from '../../protocols/handlers.js';
import type { CallOptions } from './actor-system.js';

/** What askRole needs of an ActorSystem. */
export interface Asker {
  ask<R = unknown>(role: string, handler: string, msg: unknown, opts?: CallOptions): Promise<R>;
}

/** Thrown when a reply does not match its handler's `returns` declaration. */
export class ReplyProtocolError extends ProtocolError {
  override name = 'ReplyProtocolError';
}

/** Ask `role` through the handler contract `h`; resolves with the reply, validated against `h.returns`. */
export async function askRole<H extends { handler: string; accepts: unknown; returns: unknown }>(
  system: Asker,
  role: string,
  h: H,
  msg: RequestOf<H>,
  opts: Omit<CallOptions, 'protocol'> = {},
): Promise<ReplyOf<H>> {
  const def = h as unknown as HandlerDef;
  const reply = await system.ask(role, def.handler, msg, { ...opts, protocol: def.accepts });
  try {
    return validateMessage(def.returns, reply) as ReplyOf<H>;
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    throw new ReplyProtocolError(`${role}.${def.handler} replied with a malformed ${err.message}`, err.field);
  }
}

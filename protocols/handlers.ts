// Handler contracts: for every handler of loractor's actor roles, the message it accepts and the
// reply it returns, each a declared protocol (messages.ts, training.ts, advantage.ts). The actor
// module exports `accepts` built from its role's contracts (the worker validates requests against
// it, and the compiler checks that each handler takes and returns what its contract says); a caller
// asks through `askRole` (src/runtime/ask-role.ts), whose types come from the contract and which
// validates the reply against `returns` when it arrives. One declaration per message.
import { CheckpointProtocols, TrainingProtocols } from './training.js';
import { AdvantageProtocols } from './advantage.js';
import { EvalProtocols, type ProtocolDef } from './messages.js';

/** One handler's contract. `Req` is what the handler receives (validated, defaults filled), `ReqIn` what a caller sends. */
export interface HandlerDef<Req = unknown, Rep = unknown, ReqIn = Req> {
  /** The handler's name: the exported function of the actor module. */
  handler: string;
  accepts: ProtocolDef<Req, ReqIn>;
  returns: ProtocolDef<Rep>;
}

export function defineHandler<Req, Rep, ReqIn>(
  handler: string,
  accepts: ProtocolDef<Req, ReqIn>,
  returns: ProtocolDef<Rep>,
): HandlerDef<Req, Rep, ReqIn> {
  return { handler, accepts, returns };
}

/** What a handler receives (after validation). */
export type MessageOf<H> = H extends HandlerDef<infer Req, infer _Rep, infer _ReqIn> ? Req : never;
/** What a caller sends. */
export type RequestOf<H> = H extends HandlerDef<infer _Req, infer _Rep, infer ReqIn> ? ReqIn : never;
/** What the handler returns and the caller receives. */
export type ReplyOf<H> = H extends HandlerDef<infer _Req, infer Rep, infer _ReqIn> ? Rep : never;

/** A role's contracts, by handler name. */
export type RoleProtocol<P> = { [K in keyof P]: { handler: string; accepts: unknown; returns: unknown } };

/** Handler functions that fit a role's contracts (extra arguments, e.g. the ActorContext, allowed). */
export type HandlersOf<P> = { [K in keyof P]: (msg: MessageOf<P[K]>, ...rest: never[]) => Promise<ReplyOf<P[K]>> };

/**
 * The `accepts` map an actor module exports, from its role's contracts. Passing the module's handler
 * functions makes the compiler check each against its contract (argument and reply types).
 */
export function acceptsOf<P extends RoleProtocol<P>>(
  protocol: P,
  _handlers: HandlersOf<P>,
): { [K in keyof P]: P[K]['accepts'] } {
  return Object.fromEntries(
    Object.entries(protocol as Record<string, { accepts: unknown }>).map(([k, h]) => [k, h.accepts]),
  ) as { [K in keyof P]: P[K]['accepts'] };
}

/** actors/learner.ts */
export const LearnerProtocol = {
  trainStep: defineHandler('trainStep', TrainingProtocols.LearnerStepRequest, TrainingProtocols.LearnerStepReply),
  oldLogprobs: defineHandler('oldLogprobs', TrainingProtocols.OldLogprobsRequest, TrainingProtocols.OldLogprobsReply),
  saveAdapter: defineHandler('saveAdapter', TrainingProtocols.SaveAdapterRequest, TrainingProtocols.SaveAdapterReply),
  saveCheckpoint: defineHandler(
    'saveCheckpoint',
    CheckpointProtocols.CheckpointRequest,
    CheckpointProtocols.CheckpointReply,
  ),
  restoreCheckpoint: defineHandler(
    'restoreCheckpoint',
    CheckpointProtocols.RestoreRequest,
    CheckpointProtocols.RestoreReply,
  ),
  republish: defineHandler('republish', CheckpointProtocols.RepublishRequest, CheckpointProtocols.RepublishReply),
} as const;

/** actors/rollout.ts (roles rollout-0, rollout-1, …) */
export const RolloutProtocol = {
  generate: defineHandler('generate', TrainingProtocols.GenerateRequest, TrainingProtocols.GenerateReply),
  sync: defineHandler('sync', TrainingProtocols.SyncRequest, TrainingProtocols.SyncReply),
} as const;

/** actors/advantage.ts */
export const AdvantageProtocol = {
  computeAdvantages: defineHandler(
    'computeAdvantages',
    AdvantageProtocols.ComputeAdvantagesRequest,
    AdvantageProtocols.ComputeAdvantagesResponse,
  ),
  admitGroups: defineHandler(
    'admitGroups',
    AdvantageProtocols.AdmitGroupsRequest,
    AdvantageProtocols.AdmitGroupsResponse,
  ),
  computeRewardTotals: defineHandler(
    'computeRewardTotals',
    AdvantageProtocols.RewardTotalsRequest,
    AdvantageProtocols.RewardTotalsReply,
  ),
} as const;

/** actors/evaluator.ts */
export const EvaluatorProtocol = {
  evaluate: defineHandler('evaluate', EvalProtocols.EvalRequest, EvalProtocols.EvalReport),
} as const;

/** Every declared message kind, by name (each declared once, in its role's file). */
export const Protocols = {
  ...TrainingProtocols,
  ...CheckpointProtocols,
  ...AdvantageProtocols,
  ...EvalProtocols,
} as const;
export type ProtocolName = keyof typeof Protocols;

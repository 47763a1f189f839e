// Messages of the reward actor (actors/reward.ts): score ONE completion with every configured
// function, so a per-item deadline can stop exactly the worker stuck on that item. Declared as types:
// the reward role's transport (its start signal is a transferred MessagePort) is being moved onto the
// ActorSystem, which will give these messages their schemas and handler contract (handlers.ts).
import type { MessagePort } from 'node:worker_threads';
import type { RewardFuncSpec } from '../src/rewards/registry.js';
import type { RewardKwargs } from '../src/rewards/types.js';

/** Score one completion. */
export interface ScoreItemMessage {
  completion: string;
  solution: string;
  prompt?: string;
  /** Other dataset columns of this row, passed to functions as ctx[column] = [value]. */
  columns?: Record<string, unknown>;
  /** Custom specs must carry absolute paths (see absolutizeSpec). */
  funcs: RewardFuncSpec[];
  kwargs?: Partial<RewardKwargs>;
  /**
   * Optional port (transferred) on which the worker announces that it has started this item, so the
   * caller's deadline measures scoring, not queueing or a replacement worker's start-up.
   */
  started?: MessagePort;
}

export interface ScoreItemResult {
  /** Per function name; group-scoped functions are absent (see `group`). */
  scores: Record<string, number | null>;
  /** Inputs of group-scoped functions: length needs characters and correctness per item. */
  group?: { chars: number; lengthCorrect: boolean };
  elapsedMs: number;
}

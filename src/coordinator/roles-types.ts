// The bindings the roles are made from (roles.ts is the entry; see its header): where each role is
// asked, the run's settings the asks carry, and the sink for faults the roles recover from. Shared by
// roles.ts and its parts (roles-generate.ts, roles-sync.ts), which take it in place of the closure
// they were once part of.
import type { ActorSystem } from '../runtime/actor-system.js';
import type { WeightStore } from '../runtime/weight-store.js';
import type { ResolvedGrpoConfig } from '../rl/config.js';
import type { RewardsConfig } from '../rewards/config.js';
import type { RewardTaskRunner } from '../rewards/score-batch.js';
import type { EvalConfig } from '../eval/config.js';
import type { GrpoRoles } from './grpo-loop.js';

export interface RoleBindings {
  /** Where each role is asked: the ActorSystem, or a router that sends remote roles over NATS (src/transport/nats/). */
  system: Pick<ActorSystem, 'ask'>;
  /** Rollout actor roles; prompts are split evenly across them. */
  rolloutRoles: string[];
  /** How reward items are scored: default the ActorSystem's reward role; remote workers over NATS otherwise. */
  rewardRunner?: RewardTaskRunner;
  /** Reward items in flight at once (default rewards.reward_num_workers; remote workers take more). */
  rewardConcurrency?: number;
  rewardsCfg: RewardsConfig;
  grpo: ResolvedGrpoConfig;
  evalCfg: EvalConfig;
  outDir: string;
  /** Checkpointing needs the run's own state (sampler, evals, config hash): runTraining supplies it. */
  checkpoint: GrpoRoles['checkpoint'];
  /** The adapter store: names the rollout actors that have not acknowledged a version. */
  store: WeightStore;
  /** How long a rollout actor may take to apply and acknowledge a version (run.sync_timeout_s). */
  syncTimeoutMs: number;
  /** Republish-and-retry rounds after a sync fails verification (run.sync_retries). */
  syncRetries: number;
  /** Faults the roles recover from themselves (rejected syncs, late readers), for the run's log. */
  report(line: string): void;
}

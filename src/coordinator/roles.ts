// Binds the GRPO loop's five roles to actors: rollout, advantage, learner and evaluator through the
// ActorSystem, reward scoring through the reward pool (one task per completion, each under its own
// deadline). Message shapes are declared in protocols/.
import type { Piscina } from 'piscina';
import { join } from 'node:path';
import type { ActorSystem } from '../runtime/actor-system.js';
import { Protocols, type EvalReport } from '../../protocols/messages.js';
import { TrainingProtocols } from '../../protocols/training.js';
import type { ResolvedGrpoConfig } from '../rl/config.js';
import type { RewardsConfig } from '../rewards/config.js';
import { scoreBatch } from '../rewards/score-batch.js';
import type { EvalConfig } from '../eval/config.js';
import type { ComputeAdvantagesResponse } from '../../actors/advantage.js';
import { Rng } from '../util/rng.js';
import type { GrpoRoles, RolloutPhase } from './grpo-loop.js';

/** How long a rollout actor may take to apply a new adapter version before the sync fails. */
const SYNC_DEADLINE_MS = 120_000;

export interface RoleBindings {
  system: ActorSystem;
  /** Rollout actor roles; prompts are split evenly across them. */
  rolloutRoles: string[];
  rewardPool: Piscina;
  rewardsCfg: RewardsConfig;
  grpo: ResolvedGrpoConfig;
  evalCfg: EvalConfig;
  outDir: string;
  /** Checkpointing needs the run's own state (sampler, evals, config hash): runTraining supplies it. */
  checkpoint: GrpoRoles['checkpoint'];
}

export function bindRoles(b: RoleBindings): GrpoRoles {
  const g = b.grpo.config;
  const G = g.num_generations;
  return {
    async generate(prompts, step, minPolicyVersion) {
      const sampling = { temperature: g.temperature, top_p: g.top_p, top_k: g.top_k ?? 0, max_tokens: g.max_completion_length, seed: Rng.derive(g.seed, 'rollout', step).nextU32() };
      const indexed = prompts.map((p, i) => ({ ids: p.ids, promptIndex: i }));
      // Contiguous, even split across the rollout actors (promptIndex stays global).
      const k = b.rolloutRoles.length;
      const parts = b.rolloutRoles.map((role, a) => ({ role, prompts: indexed.slice(Math.floor((a * indexed.length) / k), Math.floor(((a + 1) * indexed.length) / k)) })).filter((p) => p.prompts.length > 0);
      type Part = { completions: RolloutPhase['completions']; engine: string; policyVersion: number; tokensPerSecond: number; seconds: number };
      const results = await Promise.all(parts.map((p) => b.system.ask<Part>(p.role, 'generate', { step, prompts: p.prompts, n: G, sampling, minPolicyVersion }, { protocol: TrainingProtocols.GenerateRequest })));
      const completions = results.flatMap((r) => r.completions).sort((x, y) => x.promptIndex - y.promptIndex || x.sampleIndex - y.sampleIndex);
      const tokens = completions.reduce((a, c) => a + c.tokenIds.length, 0);
      return {
        completions, engine: results[0]!.engine,
        policyVersion: Math.min(...results.map((r) => r.policyVersion)),
        tokensPerSecond: tokens / Math.max(...results.map((r) => r.seconds)),
      };
    },

    async score(prompts, rollout) {
      const items = rollout.completions.map((c) => ({ completion: c.text, solution: prompts[c.promptIndex]!.solution, prompt: prompts[c.promptIndex]!.text, group: c.promptIndex }));
      const s = await scoreBatch(b.rewardPool, items, b.rewardsCfg, { concurrency: b.rewardsCfg.reward_num_workers, baseDir: b.outDir });
      return { perFunc: s.rewards, total: s.total, failures: s.failures.length };
    },

    async advantages(rewards) {
      const r = await b.system.ask<ComputeAdvantagesResponse>('advantage', 'computeAdvantages', {
        rewards: rewards.total, groupSize: G, estimator: g.advantage_estimator, scale_rewards: b.grpo.scaleRewards, dynamic_sampling: g.dynamic_sampling,
      });
      return { advantages: r.advantages, degenerateGroups: r.zeroVarianceGroups.length, rewardStd: r.metrics.reward_std };
    },

    async train(prompts, rollout, adv, step) {
      const r = await b.system.ask<Record<string, number | string>>('learner', 'trainStep', {
        step,
        trajectories: rollout.completions.map((c) => ({ promptIds: prompts[c.promptIndex]!.ids, completionIds: c.tokenIds, behaviourLogprobs: c.logprobs, policyVersion: c.policyVersion })),
        advantages: adv.advantages,
      }, { protocol: TrainingProtocols.LearnerStepRequest });
      return {
        loss: r.loss as number, kl: r.kl as number, grad_norm: r.grad_norm as number, learning_rate: r.learning_rate as number,
        tokens_per_s: r.tokens_per_s as number, version: r.version as number, ...(r.skipped ? { skipped: r.skipped as string } : {}),
      };
    },

    async sync(version) {
      const t0 = performance.now();
      // A rollout actor that never applies the version is an error within SYNC_DEADLINE_MS, not a hang.
      await Promise.all(b.rolloutRoles.map((role) => b.system.ask(role, 'sync', { minVersion: version }, { protocol: TrainingProtocols.SyncRequest, deadlineMs: SYNC_DEADLINE_MS })));
      return (performance.now() - t0) / 1000;
    },

    async evaluate(version, step) {
      const r = await b.system.ask<EvalReport>('evaluator', 'evaluate', {
        version, benchmarks: b.evalCfg.benchmarks, ...(b.evalCfg.limit ? { limit: b.evalCfg.limit } : {}), samplesPerProblem: b.evalCfg.num_samples,
        sampling: { temperature: b.evalCfg.temperature, top_p: b.evalCfg.top_p, top_k: b.evalCfg.top_k, max_tokens: b.evalCfg.max_new_tokens, seed: b.evalCfg.seed },
      }, { protocol: Protocols.EvalRequest });
      const pass: Record<string, number> = {};
      for (const res of r.results) pass[res.benchmark] = res.pass_at_1;
      const vals = Object.values(pass);
      return { step, policy_version: r.version, pass_at_1: pass, average: vals.reduce((a, x) => a + x, 0) / Math.max(1, vals.length) };
    },

    checkpoint: b.checkpoint,
  };
}

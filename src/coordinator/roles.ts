// Binds the GRPO loop's five roles to actors on the ActorSystem: rollout, reward (one message per
// completion, each under its own deadline), advantage, learner and evaluator. Message shapes are
// declared in protocols/.
import type { ActorSystem } from '../runtime/actor-system.js';
import { Protocols, type EvalReport } from '../../protocols/messages.js';
import { CheckpointProtocols, TrainingProtocols, type SyncReply } from '../../protocols/training.js';
import type { WeightStore } from '../runtime/weight-store.js';
import { ActorTimeoutError, WeightChecksumError, isOrCausedBy } from '../runtime/errors.js';
import type { ResolvedGrpoConfig } from '../rl/config.js';
import type { RewardsConfig } from '../rewards/config.js';
import { rewardRunnerOnActorSystem, scoreBatch, type RewardTaskRunner } from '../rewards/score-batch.js';
import type { EvalConfig } from '../eval/config.js';
import type { AdmitGroupsResponse } from '../../actors/advantage.js';
import { advantageSettings, rolloutSampling } from '../rl/consumers.js';
import type { GrpoRoles, RolloutPhase } from './grpo-loop.js';
import type { GenerationBatch } from './generation.js';

/** Completion `i` of a generation batch as the learner takes it (old log-probs when the plan keeps them). */
function trajectoryOf(batch: GenerationBatch, i: number) {
  const c = batch.completions[i]!;
  return { promptIds: batch.prompts[c.promptIndex]!.ids, completionIds: c.tokenIds, behaviourLogprobs: c.logprobs, policyVersion: c.policyVersion, ...(batch.old ? { oldLogprobs: batch.old[i]! } : {}) };
}

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

export function bindRoles(b: RoleBindings): GrpoRoles {
  const g = b.grpo.config;
  const G = g.num_generations;
  // One rollout actor's sync. One that does not apply and acknowledge the version within the deadline
  // is named (with the version it last acknowledged) and its worker replaced; the ask retries once.
  const syncOne = async (role: string, version: number): Promise<SyncReply> => {
    try {
      return await b.system.ask<SyncReply>(role, 'sync', { minVersion: version, timeoutMs: b.syncTimeoutMs }, { protocol: TrainingProtocols.SyncRequest, deadlineMs: b.syncTimeoutMs });
    } catch (err) {
      if (err instanceof ActorTimeoutError) throw new Error(`weight sync: ${lateName(role, version)} did not acknowledge version ${version} within ${b.syncTimeoutMs} ms, and its retries ran out (${err.message})`);
      throw err;
    }
  };
  // A reader found `version`'s bytes corrupted: the learner, which still holds the adapter, writes it
  // again under the same number (a no-op when a newer version has replaced it meanwhile).
  const republish = async (version: number, why: string): Promise<void> => {
    await b.system.ask('learner', 'republish', { version }, { protocol: CheckpointProtocols.RepublishRequest });
    b.report(`weight sync: version ${version} republished by the learner (${why})`);
  };
  const lateName = (role: string, version: number): string => {
    const r = b.store.lateReaders(version).find((x) => x.name === role);
    return r ? `${role} (last acknowledged v${r.acked})` : role;
  };
  return {
    async generate(prompts, step, policyVersion) {
      const sampling = rolloutSampling(b.grpo, step);
      const indexed = prompts.map((p, i) => ({ ids: p.ids, promptIndex: i, ...(p.promptText !== undefined ? { text: p.promptText } : {}) }));
      // Contiguous, even split across the rollout actors (promptIndex stays global).
      const k = b.rolloutRoles.length;
      const parts = b.rolloutRoles.map((role, a) => ({ role, prompts: indexed.slice(Math.floor((a * indexed.length) / k), Math.floor(((a + 1) * indexed.length) / k)) })).filter((p) => p.prompts.length > 0);
      type Part = { completions: RolloutPhase['completions']; engine: string; policyVersion: number; seconds: number; syncLatencyMs: number; timeToFirstTokenS: number; syncError?: string; rejectedVersion?: number; retry?: boolean };
      // Every actor generates from exactly `policyVersion` (the loop's choice: the run does not depend
      // on how the actors are timed). One whose copy of it fails verification generates nothing: the
      // learner writes the version again and that actor is asked again (run.sync_retries rounds).
      const ask = (p: (typeof parts)[number]) => b.system.ask<Part>(p.role, 'generate', { step, prompts: p.prompts, n: G, sampling, minPolicyVersion: policyVersion, policyVersion }, { protocol: TrainingProtocols.GenerateRequest });
      const results = await Promise.all(parts.map(ask));
      for (let round = 0; results.some((r) => r.retry); round++) {
        const bad = results.map((r, i) => ({ r, i })).filter((x) => x.r.retry);
        for (const x of bad) b.report(`weight sync: ${parts[x.i]!.role} rejected version ${policyVersion} (${x.r.syncError}); asked again for step ${step} after a republish`);
        if (round >= b.syncRetries) throw new Error(`weight sync: version ${policyVersion} failed verification ${round + 1} times on ${bad.map((x) => parts[x.i]!.role).join(', ')} generating step ${step}; aborting (run.sync_retries ${b.syncRetries})`);
        await republish(policyVersion, `needed to generate step ${step}, retry ${round + 1} of ${b.syncRetries}`);
        await Promise.all(bad.map(async (x) => { results[x.i] = await ask(parts[x.i]!); }));
      }
      // An actor that generated on its previous version because the newest failed verification (allowed
      // within the staleness bound): have the learner write the version again for its next request.
      const rejected = results.map((r, i) => ({ role: parts[i]!.role, r })).filter((x) => x.r.syncError);
      for (const x of rejected) b.report(`weight sync: ${x.role} rejected version ${x.r.rejectedVersion} (${x.r.syncError}); it generated step ${step} on version ${x.r.policyVersion}`);
      if (rejected.length) await republish(Math.max(...rejected.map((x) => x.r.rejectedVersion ?? 0)), 'rejected by a rollout actor that generated on its previous version');
      // Provenance on every completion: which actor and engine made it, after how long a sync.
      const completions = results.flatMap((r, i) => r.completions.map((c) => ({ ...c, actor: parts[i]!.role, engine: r.engine, syncLatencyMs: r.syncLatencyMs })))
        .sort((x, y) => x.promptIndex - y.promptIndex || x.sampleIndex - y.sampleIndex);
      const tokens = completions.reduce((a, c) => a + c.tokenIds.length, 0);
      return {
        completions, engine: results[0]!.engine,
        policyVersion: Math.min(...results.map((r) => r.policyVersion)),
        tokensPerSecond: tokens / Math.max(...results.map((r) => r.seconds)),
        timeToFirstTokenS: results.reduce((a, r) => a + r.timeToFirstTokenS, 0) / results.length,
        ...(rejected.length ? { syncRejected: rejected.length } : {}),
      };
    },

    async score(prompts, rollout) {
      const items = rollout.completions.map((c) => {
        const p = prompts[c.promptIndex]!;
        return { completion: c.text, solution: p.solution, prompt: p.text, group: c.promptIndex, ...(p.columns ? { columns: p.columns } : {}) };
      });
      const s = await scoreBatch(b.rewardRunner ?? rewardRunnerOnActorSystem(b.system), items, b.rewardsCfg, { concurrency: b.rewardConcurrency ?? b.rewardsCfg.reward_num_workers, baseDir: b.outDir });
      // The actor events (crash, retry, timeout) are on the run's log from events$; here what became
      // of the items (a few per step; every failed item is in the quarantine file).
      for (const f of s.failures.slice(0, 3)) b.report(`reward: completion ${f.index} failed (${f.reason}: ${f.message}); scored ${b.rewardsCfg.reward_failure_value ?? 'null'} and quarantined`);
      if (s.failures.length > 3) b.report(`reward: ${s.failures.length - 3} more failed completions this step (see ${b.rewardsCfg.reward_quarantine_path})`);
      return { perFunc: s.rewards, total: s.total, failures: s.failures.length };
    },

    async admit(rewards, pool, targetGroups) {
      return b.system.ask<AdmitGroupsResponse>('advantage', 'admitGroups', { ...(pool ? { pool } : {}), rewards: rewards.total, targetGroups, ...advantageSettings(b.grpo) });
    },

    async oldLogprobs(batch, microBatchSizes) {
      const r = await b.system.ask<{ logprobs: ArrayLike<number>[] }>('learner', 'oldLogprobs', {
        trajectories: batch.order.map((i) => trajectoryOf(batch, i)), microBatchSizes,
      }, { protocol: TrainingProtocols.OldLogprobsRequest });
      return r.logprobs.map((x) => Array.from(x));
    },

    async train(input, step) {
      const trajectories = input.micro.flatMap((mb) => mb.indices.map((i) => trajectoryOf(mb.batch, i)));
      const advantages = input.micro.flatMap((mb) => mb.indices.map((i) => mb.batch.advantages[i]!));
      const r = await b.system.ask<Record<string, number | string | boolean>>('learner', 'trainStep', {
        step, trajectories, advantages, microBatchSizes: input.micro.map((mb) => mb.indices.length),
      }, { protocol: TrainingProtocols.LearnerStepRequest });
      const { step: _s, version, loss, kl, grad_norm, learning_rate, tokens_per_s, skipped, empty, ...rest } = r;
      const metrics = Object.fromEntries(Object.entries(rest).filter((e): e is [string, number] => typeof e[1] === 'number' && !e[0].startsWith('time/')));
      return {
        loss: loss as number, kl: kl as number, grad_norm: grad_norm as number, learning_rate: learning_rate as number,
        tokens_per_s: tokens_per_s as number, version: version as number, ...(skipped ? { skipped: skipped as string } : {}), ...(empty ? { empty: true } : {}), metrics,
      };
    },

    async sync(version) {
      const t0 = performance.now();
      let rejected = 0;
      for (let round = 0; ; round++) {
        const replies = await Promise.all(b.rolloutRoles.map((role) => syncOne(role, version)));
        const behind = replies.findIndex((r) => r.verified && r.version < version);
        if (behind >= 0) throw new Error(`weight sync: ${b.rolloutRoles[behind]} reports version ${replies[behind]!.version}, below the ${version} it was asked for`);
        const failed = replies.map((r, i) => ({ role: b.rolloutRoles[i]!, r })).filter((x) => !x.r.verified);
        if (failed.length === 0) return { seconds: (performance.now() - t0) / 1000, rejected };
        rejected += failed.length;
        for (const f of failed) b.report(`weight sync: ${f.role} rejected version ${version} (${f.r.error ?? 'verification failed'}); it keeps serving version ${f.r.version}`);
        if (round >= b.syncRetries) throw new Error(`weight sync: version ${version} failed verification ${round + 1} times on ${failed.map((f) => f.role).join(', ')}; aborting (run.sync_retries ${b.syncRetries})`);
        // The learner still holds the adapter: write it again, then let the readers re-read it.
        await republish(version, `retry ${round + 1} of ${b.syncRetries}`);
      }
    },

    async evaluate(version, step) {
      // In async mode no sync precedes an evaluation: a version whose bytes fail the evaluator's
      // checksum is republished by the learner and the evaluation asked again.
      const ask = async (round: number): Promise<EvalReport> => {
        try {
          return await evalAsk();
        } catch (err) {
          if (!isOrCausedBy(err, WeightChecksumError) || round >= b.syncRetries) throw err;
          b.report(`weight sync: the evaluator rejected version ${b.store.version} (${(err as Error).message})`);
          await republish(b.store.version, `evaluation retry ${round + 1} of ${b.syncRetries}`);
          return ask(round + 1);
        }
      };
      const evalAsk = () => b.system.ask<EvalReport>('evaluator', 'evaluate', {
        version, benchmarks: b.evalCfg.benchmarks, ...(b.evalCfg.limit ? { limit: b.evalCfg.limit } : {}), samplesPerProblem: b.evalCfg.num_samples,
        sampling: { temperature: b.evalCfg.temperature, top_p: b.evalCfg.top_p, top_k: b.evalCfg.top_k, max_tokens: b.evalCfg.max_new_tokens, seed: b.evalCfg.seed },
      }, { protocol: Protocols.EvalRequest });
      const r = await ask(0);
      const pass: Record<string, number> = {};
      for (const res of r.results) pass[res.benchmark] = res.pass_at_1;
      const vals = Object.values(pass);
      return { step, policy_version: r.version, pass_at_1: pass, average: vals.reduce((a, x) => a + x, 0) / Math.max(1, vals.length) };
    },

    checkpoint: b.checkpoint,
  };
}

// Binds the GRPO loop's five roles to actors on the ActorSystem: rollout, reward (one message per
// completion, each under its own deadline), advantage, learner and evaluator. Every ask goes through
// its handler contract (protocols/handlers.ts): typed request and reply, the reply validated when it
// arrives. Bulk data travels as SharedTensor descriptors.
import { askRole } from '../runtime/ask-role.js';
import type { EvalReport } from '../../protocols/messages.js';
import type { Trajectory } from '../../protocols/training.js';
import { AdvantageProtocol, EvaluatorProtocol, LearnerProtocol } from '../../protocols/handlers.js';
import { describeShared, float32View, packSharedRows, type SharedTensor } from '../../protocols/shared-tensor.js';
import { WeightChecksumError, isOrCausedBy } from '../runtime/errors.js';
import { rewardRunnerOnActorSystem, scoreBatch } from '../rewards/score-batch.js';
import { advantageSettings } from '../rl/consumers.js';
import type { GrpoRoles, PromptItem, RewardPhase, RolloutPhase } from './grpo-loop.js';
import type { GenerationBatch } from './generation.js';
import { generateAcrossRollouts } from './roles-generate.js';
import { republish, syncRollouts } from './roles-sync.js';
import type { RoleBindings } from './roles-types.js';

// The parts live next to this entry: roles-types (the bindings), roles-generate (generation across the
// rollout actors), roles-sync (weight sync and the republish the retries share).
export type { RoleBindings } from './roles-types.js';

/**
 * Completions of generation batches as the learner takes them: each distinct prompt's ids once (in
 * one shared buffer), and per completion a trajectory that refers to its prompt and passes the
 * descriptors of the rollout's (and the old-log-prob pass's) shared memory, never a copy.
 */
function learnerBatch(parts: readonly { batch: GenerationBatch; indices: readonly number[] }[]): {
  prompts: SharedTensor[];
  trajectories: Trajectory[];
} {
  const promptAt = new Map<PromptItem, number>();
  const rows: number[][] = [];
  const trajectories = parts.flatMap(({ batch, indices }) =>
    indices.map((i): Trajectory => {
      const c = batch.completions[i]!;
      const p = batch.prompts[c.promptIndex]!;
      let k = promptAt.get(p);
      if (k === undefined) {
        k = rows.push(p.ids) - 1;
        promptAt.set(p, k);
      }
      return {
        promptIndex: k,
        completionIds: describeShared(c.tokenIds),
        behaviourLogprobs: describeShared(c.logprobs),
        policyVersion: c.policyVersion,
        ...(batch.old ? { oldLogprobs: describeShared(batch.old[i]!) } : {}),
      };
    }),
  );
  return { prompts: packSharedRows('i32', rows), trajectories };
}

export function bindRoles(b: RoleBindings): GrpoRoles {
  return {
    generate: (prompts, step, policyVersion) => generateAcrossRollouts(b, prompts, step, policyVersion),
    score: (prompts, rollout) => scoreRollout(b, prompts, rollout),
    async admit(rewards, pool, targetGroups) {
      return askRole(b.system, 'advantage', AdvantageProtocol.admitGroups, {
        ...(pool ? { pool } : {}),
        rewards: rewards.total,
        targetGroups,
        ...advantageSettings(b.grpo),
      });
    },
    async oldLogprobs(batch, microBatchSizes) {
      const r = await askRole(b.system, 'learner', LearnerProtocol.oldLogprobs, {
        ...learnerBatch([{ batch, indices: batch.order }]),
        microBatchSizes,
      });
      return r.logprobs.map(float32View);
    },
    train: (input, step) => trainStep(b, input, step),
    sync: (version) => syncRollouts(b, version),
    evaluate: (version, step) => evaluateVersion(b, version, step),
    checkpoint: b.checkpoint,
  };
}

async function scoreRollout(b: RoleBindings, prompts: PromptItem[], rollout: RolloutPhase): Promise<RewardPhase> {
  const items = rollout.completions.map((c) => {
    const p = prompts[c.promptIndex]!;
    return {
      completion: c.text,
      solution: p.solution,
      prompt: p.text,
      group: c.promptIndex,
      ...(p.columns ? { columns: p.columns } : {}),
    };
  });
  const s = await scoreBatch(b.rewardRunner ?? rewardRunnerOnActorSystem(b.system), items, b.rewardsCfg, {
    concurrency: b.rewardConcurrency ?? b.rewardsCfg.reward_num_workers,
    baseDir: b.outDir,
  });
  // The actor events (crash, retry, timeout) are on the run's log from events$; here what became
  // of the items (a few per step; every failed item is in the quarantine file).
  for (const f of s.failures.slice(0, 3))
    b.report(
      `reward: completion ${f.index} failed (${f.reason}: ${f.message}); scored ${b.rewardsCfg.reward_failure_value ?? 'null'} and quarantined`,
    );
  if (s.failures.length > 3)
    b.report(
      `reward: ${s.failures.length - 3} more failed completions this step (see ${b.rewardsCfg.reward_quarantine_path})`,
    );
  return { perFunc: s.rewards, total: s.total, failures: s.failures.length };
}

async function trainStep(
  b: RoleBindings,
  input: Parameters<GrpoRoles['train']>[0],
  step: number,
): ReturnType<GrpoRoles['train']> {
  const advantages = input.micro.flatMap((mb) => mb.indices.map((i) => mb.batch.advantages[i]!));
  const r = await askRole(b.system, 'learner', LearnerProtocol.trainStep, {
    step,
    ...learnerBatch(input.micro),
    advantages: packSharedRows('f64', [advantages])[0]!,
    microBatchSizes: input.micro.map((mb) => mb.indices.length),
  });
  return {
    loss: r.loss,
    kl: r.kl,
    grad_norm: r.grad_norm,
    learning_rate: r.learning_rate,
    tokens_per_s: r.tokens_per_s,
    version: r.version,
    ...(r.skipped ? { skipped: r.skipped } : {}),
    ...(r.empty ? { empty: true } : {}),
    metrics: r.metrics,
  };
}

async function evaluateVersion(b: RoleBindings, version: number, step: number): ReturnType<GrpoRoles['evaluate']> {
  const r = await evaluateWithRetries(b, version, 0);
  const pass: Record<string, number> = {};
  for (const res of r.results) pass[res.benchmark] = res.pass_at_1;
  const vals = Object.values(pass);
  return {
    step,
    policy_version: r.version,
    pass_at_1: pass,
    average: vals.reduce((a, x) => a + x, 0) / Math.max(1, vals.length),
  };
}

// In async mode no sync precedes an evaluation: a version whose bytes fail the evaluator's
// checksum is republished by the learner and the evaluation asked again.
async function evaluateWithRetries(b: RoleBindings, version: number, round: number): Promise<EvalReport> {
  try {
    return await askEvaluator(b, version);
  } catch (err) {
    if (!isOrCausedBy(err, WeightChecksumError) || round >= b.syncRetries) throw err;
    b.report(`weight sync: the evaluator rejected version ${b.store.version} (${(err as Error).message})`);
    await republish(b, b.store.version, `evaluation retry ${round + 1} of ${b.syncRetries}`);
    return evaluateWithRetries(b, version, round + 1);
  }
}

function askEvaluator(b: RoleBindings, version: number): Promise<EvalReport> {
  return askRole(b.system, 'evaluator', EvaluatorProtocol.evaluate, {
    version,
    benchmarks: b.evalCfg.benchmarks,
    ...(b.evalCfg.limit ? { limit: b.evalCfg.limit } : {}),
    samplesPerProblem: b.evalCfg.num_samples,
    sampling: {
      temperature: b.evalCfg.temperature,
      top_p: b.evalCfg.top_p,
      top_k: b.evalCfg.top_k,
      max_tokens: b.evalCfg.max_new_tokens,
      seed: b.evalCfg.seed,
    },
  });
}

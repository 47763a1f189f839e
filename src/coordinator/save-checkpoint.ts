// The run's checkpoint saver: the learner writes the PEFT adapter (and its optimizer state) into a temp
// folder, then sealCheckpoint (checkpoint.ts) adds the manifest, the run state and the model card and
// renames it into place. A failed save (a full disk, a non-finite adapter) removes its temp folder and
// names the file, so a half-written checkpoint is never left for --resume to find.
import { rmSync } from 'node:fs';
import type { ActorSystem } from '../runtime/actor-system.js';
import { askRole } from '../runtime/ask-role.js';
import { LearnerProtocol } from '../../protocols/handlers.js';
import type { EvalSummary, StepMetrics } from '../report/index.js';
import { checkpointTempDir, sealCheckpoint, CHECKPOINT_FORMAT } from './checkpoint.js';
import { renderModelCard } from './model-card.js';
import type { PendingRollout } from './grpo-loop.js';
import type { PromptSource } from './prompts.js';
import type { RunPlan } from './setup.js';

/** What a checkpoint records besides the adapter: the run's plan, prompt sampler and records so far. */
export interface CheckpointContext {
  outDir: string;
  system: ActorSystem;
  plan: RunPlan;
  /** PEFT's base_model_name_or_path. */
  baseModelName: string;
  prompts: PromptSource;
  /** The run's evaluations and step metrics so far (read at each save, so they grow with the run). */
  evals: EvalSummary[];
  metrics: StepMetrics[];
}

/** Saves checkpoint-<step> (with the async loop's pending rollout, if any) and returns its folder name. */
export type CheckpointSaver = (step: number, pending?: PendingRollout) => Promise<string>;

export function checkpointSaver(ctx: CheckpointContext): CheckpointSaver {
  const { outDir, system, plan, baseModelName, prompts, evals, metrics } = ctx;
  const { seed, lora, lastStep, configSha } = plan;
  return async (step, pending) => {
    const tmp = checkpointTempDir(outDir, step);
    try {
      const saved = await askRole(system, 'learner', LearnerProtocol.saveCheckpoint, { dir: tmp, step });
      sealCheckpoint(
        outDir,
        tmp,
        {
          format: CHECKPOINT_FORMAT,
          step,
          policy_version: step,
          seed,
          config_sha256: configSha,
          prompt_sampler: prompts.state(),
          learner_dropout_rng: saved.dropoutRng,
          evals,
          ...(pending ? { pending_rollout: pending } : {}),
          time: new Date().toISOString(),
        },
        renderModelCard({
          baseModel: baseModelName,
          step,
          lastStep,
          lora,
          evals,
          metrics: metrics.find((m) => m.step === step),
          training: trainingFacts(plan),
        }),
      );
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw new Error(`checkpoint-${step} not saved (its partial folder was removed): ${(err as Error).message}`, {
        cause: err,
      });
    }
    return `checkpoint-${step}`;
  };
}

/** The model card's training section: the algorithm's knobs as the run resolved them. */
function trainingFacts(plan: RunPlan): Record<string, string | number | undefined> {
  const { grpo, rewardsCfg, seed } = plan;
  const g = grpo.config;
  return {
    algorithm: 'GRPO',
    loss_type: g.loss_type,
    beta: g.beta,
    epsilon: g.epsilon,
    num_generations: g.num_generations,
    prompts_per_step: grpo.promptsPerStep,
    learning_rate: g.learning_rate,
    lr_scheduler_type: g.lr_scheduler_type,
    max_completion_length: g.max_completion_length,
    temperature: g.temperature,
    max_staleness: g.max_staleness,
    reward_funcs: rewardsCfg.reward_funcs.map((f) => (typeof f === 'string' ? f : JSON.stringify(f))).join(', '),
    reward_weights: rewardsCfg.reward_weights?.join(', '),
    seed,
  };
}

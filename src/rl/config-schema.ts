// The GRPO / training knobs as a zod schema, with TRL GRPOConfig (and HF TrainingArguments) names,
// meanings and defaults where one exists. Defaults follow TRL unless a knob exists only in loractor; the
// text of each knob says where Tina differs. Also the lr_scheduler_kwargs schema, the input / output
// types and ConfigIssue. Cross-field checks live in config-checks.ts; resolveGrpoConfig in config.ts.
import { z } from 'zod';
import { ADVANTAGE_ESTIMATORS, DYNAMIC_SAMPLING, type AdvantageEstimator, type DynamicSampling } from './advantages.js';
import { IMPORTANCE_SAMPLING_LEVELS, LOSS_TYPES, type ImportanceSamplingLevel, type LossType } from './loss.js';
import { IMPORTANCE_SAMPLING_MODES, type ImportanceSamplingMode } from './behaviour-correction.js';
import { LR_SCHEDULER_TYPES, type LrSchedulerType } from './schedule.js';

const positiveInt = () => z.number().int().positive();

export const lrSchedulerKwargsSchema = z
  .object({
    min_lr_rate: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe(
        'cosine_with_min_lr: floor of the learning rate as a fraction of learning_rate (Tina: 0.1). No default; transformers requires this or min_lr for cosine_with_min_lr.',
      ),
    min_lr: z
      .number()
      .min(0)
      .optional()
      .describe('cosine_with_min_lr: absolute floor of the learning rate (alternative to min_lr_rate). No default.'),
    num_cycles: z
      .number()
      .positive()
      .optional()
      .describe(
        'cosine / cosine_with_min_lr: number of cosine waves over the decay (default 0.5: a single decay from peak to floor).',
      ),
  })
  .strict();

export const grpoConfigSchema = z
  .object({
    // Optimizer and schedule (HF TrainingArguments names).
    learning_rate: z
      .number()
      .positive()
      .default(1e-6)
      .describe('Peak learning rate of AdamW (default 1e-6, TRL GRPOConfig; Tina 1e-6).'),
    lr_scheduler_type: z
      .enum(LR_SCHEDULER_TYPES as [LrSchedulerType, ...LrSchedulerType[]])
      .default('linear')
      .describe(
        "Learning-rate schedule: linear | cosine | cosine_with_min_lr | constant | constant_with_warmup (default 'linear', HF; Tina 'cosine_with_min_lr').",
      ),
    lr_scheduler_kwargs: lrSchedulerKwargsSchema
      .default({})
      .describe('Extra schedule arguments: min_lr_rate, min_lr, num_cycles (default {}; Tina {min_lr_rate: 0.1}).'),
    warmup_ratio: z
      .number()
      .min(0)
      .max(1)
      .default(0)
      .describe(
        'Fraction of max_steps used for linear warmup; warmup steps = ceil(warmup_ratio × max_steps) (default 0; Tina 0.1).',
      ),
    warmup_steps: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Explicit warmup steps; overrides warmup_ratio when > 0 (default 0).'),
    max_steps: z
      .number()
      .int()
      .default(-1)
      .describe(
        'Schedule horizon in optimizer steps. -1 derives it from the dataset: ceil(num_train_epochs × prompts / prompts_per_step) (default -1, HF). Tina sets 1500 but stops earlier: see stop_at_step.',
      ),
    num_train_epochs: z
      .number()
      .positive()
      .default(1)
      .describe('Epochs over the prompt set; used only when max_steps is -1 (default 1).'),
    stop_at_step: z
      .number()
      .int()
      .positive()
      .nullable()
      .default(null)
      .describe(
        'loractor: stop training after this many optimizer steps while the schedule still spans max_steps (Tina: max_steps 1500, stopped near 850). null = max_steps (default null).',
      ),
    weight_decay: z
      .number()
      .min(0)
      .default(0)
      .describe('Decoupled AdamW weight decay (param *= 1 − lr·weight_decay) (default 0, HF).'),
    adam_beta1: z.number().min(0).lt(1).default(0.9).describe('AdamW β1 (default 0.9).'),
    adam_beta2: z.number().min(0).lt(1).default(0.999).describe('AdamW β2 (default 0.999).'),
    adam_epsilon: z
      .number()
      .positive()
      .default(1e-8)
      .describe('AdamW ε added to the bias-corrected sqrt(v) (default 1e-8).'),
    max_grad_norm: z
      .number()
      .min(0)
      .default(1)
      .describe(
        'Global gradient-norm clip; 0 disables clipping (default 1.0). The pre-clip norm is logged as grad_norm.',
      ),
    gradient_accumulation_steps: positiveInt()
      .default(1)
      .describe('Micro-batches per optimizer step (default 1; Tina 4).'),
    // Batch shape.
    per_device_train_batch_size: positiveInt()
      .default(8)
      .describe(
        'Completions per micro-batch (default 8, HF). Completions per optimizer step = per_device_train_batch_size × gradient_accumulation_steps and must be a multiple of num_generations.',
      ),
    prompts_per_step: positiveInt()
      .nullable()
      .default(null)
      .describe(
        'loractor: prompts per optimizer step; when set it must equal per_device_train_batch_size × gradient_accumulation_steps / num_generations (a consistency check for recipes written in prompts). Default null (derived).',
      ),
    num_generations: z
      .number()
      .int()
      .min(2)
      .default(8)
      .describe(
        'G: completions sampled per prompt; advantages are computed within each group of G (default 8, TRL; Tina 4, 6 or 8).',
      ),
    steps_per_generation: positiveInt()
      .nullable()
      .default(null)
      .describe(
        'TRL: micro-batches per generation batch. One generation batch (per_device_train_batch_size × steps_per_generation completions) is generated, scored and then trained on in that many micro-batches, so a value above gradient_accumulation_steps spreads one generation over several optimizer steps (its prompts shuffled across them, old log-probs kept for the ratio). null = gradient_accumulation_steps: one generation per optimizer step (default null). Mutually exclusive with generation_batch_size.',
      ),
    generation_batch_size: positiveInt()
      .nullable()
      .default(null)
      .describe(
        'TRL: completions per generation batch; a multiple of per_device_train_batch_size (steps_per_generation = generation_batch_size / per_device_train_batch_size) and of num_generations. null = derived from steps_per_generation (default null).',
      ),
    // Objective.
    beta: z
      .number()
      .min(0)
      .default(0.04)
      .describe(
        'KL coefficient against the reference policy (adapter off), k3 estimator; 0 skips the reference pass (default 0.04, TRL ≤ 0.18 and Tina; later TRL 0.0).',
      ),
    epsilon: z
      .number()
      .min(0)
      .default(0.2)
      .describe(
        'Lower clip range ε: ratios below 1 − ε stop pushing negative-advantage tokens (default 0.2). Inactive when num_iterations = 1 and rollouts are on-policy (ratio ≡ 1).',
      ),
    epsilon_high: z
      .number()
      .min(0)
      .nullable()
      .default(null)
      .describe(
        "Upper clip range (DAPO clip-higher, e.g. 0.28); for loss_type 'cispo' the cap of the ratio itself (ScaleRL ε_max, e.g. 5.0), as TRL. null = epsilon (default null).",
      ),
    delta: z
      .number()
      .positive()
      .nullable()
      .default(null)
      .describe(
        'Two-sided clipping (INTELLECT-2, TRL delta): the unclipped ratio is capped at delta, so a negative-advantage token with a huge ratio stops pushing; recommended > 1 + epsilon_high. Clip-family loss types only. null = off (default null).',
      ),
    num_iterations: positiveInt()
      .default(1)
      .describe(
        'μ: optimisation passes over each generation batch (TRL semantics: each pass is steps_per_generation micro-batches, so μ = 2 trains every batch twice in consecutive optimizer steps); > 1 makes the ratio and clipping active, against log-probs taken when the batch was first trained on (default 1).',
      ),
    importance_sampling_level: z
      .enum(IMPORTANCE_SAMPLING_LEVELS as [ImportanceSamplingLevel, ...ImportanceSamplingLevel[]])
      .default('token')
      .describe(
        "Ratio per token | per sequence. 'sequence' is GSPO: one length-normalised ratio exp(mean_t log(π/π_old)) per completion, clipped as a whole (use with loss_type grpo to reproduce the paper) (default 'token').",
      ),
    loss_type: z
      .enum(LOSS_TYPES as [LossType, ...LossType[]])
      .default('grpo')
      .describe(
        "Objective and normaliser: grpo (per-sequence token mean, then batch mean; Tina / TRL 0.15) | bnpo (token mean per micro-batch) | dr_grpo (Σ/(B·max_completion_length)) | dapo (token mean over the optimizer batch) | cispo (MiniMax-M1: clipped, detached IS weight min(ρ, epsilon_high) times A·logp, dapo normaliser) | sapo (soft sigmoid gate instead of clipping, grpo normaliser) (default 'grpo' to reproduce Tina; TRL's later default is 'dapo').",
      ),
    sapo_temperature_pos: z
      .number()
      .positive()
      .default(1)
      .describe("SAPO gate temperature for tokens with positive advantage (loss_type 'sapo' only; default 1.0, TRL)."),
    sapo_temperature_neg: z
      .number()
      .positive()
      .default(1.05)
      .describe(
        "SAPO gate temperature for tokens with non-positive advantage (loss_type 'sapo' only; default 1.05, TRL).",
      ),
    mask_truncated_completions: z
      .boolean()
      .default(false)
      .describe(
        'Exclude completions that hit max_completion_length without an EOS from the loss (DAPO overlong filtering, TRL) (default false).',
      ),
    scale_rewards: z
      .union([z.enum(['group', 'batch', 'none']), z.boolean()])
      .default('group')
      .describe(
        "Divide centred rewards by the std of the group | batch | none; true ≡ 'group', false ≡ 'none' (default 'group', Tina). Applies to advantage_estimator 'grpo' only.",
      ),
    advantage_estimator: z
      .enum(ADVANTAGE_ESTIMATORS as [AdvantageEstimator, ...AdvantageEstimator[]])
      .default('grpo')
      .describe(
        "grpo (group-normalised, Tina) | dr_grpo (group-centred, no std) | rloo (leave-one-out baseline) | reinforce_pp_baseline (group-centred then batch-whitened, REINFORCE++) (default 'grpo').",
      ),
    dynamic_sampling: z
      .enum(DYNAMIC_SAMPLING as [DynamicSampling, ...DynamicSampling[]])
      .default('off')
      .describe(
        "DAPO dynamic sampling for groups whose rewards are all equal (zero std, no signal): off (train on them, advantage 0) | drop (remove them: the generation batch shrinks) | refill (remove them and generate for more prompts, a generation batch's worth at a time, until the batch is full of groups with signal or max_num_gen_batches is reached) (default 'off').",
      ),
    max_num_gen_batches: z
      .number()
      .int()
      .min(0)
      .default(10)
      .describe(
        "verl filter_groups.max_num_gen_batches: most generation rounds one batch may take under dynamic_sampling 'refill' (the first included); at the limit the batch is trained on with the groups found and the shortfall is reported. 0 = no limit (default 10).",
      ),
    // Generation.
    max_prompt_length: positiveInt()
      .nullable()
      .default(512)
      .describe(
        'Prompt tokens kept (left-truncated) for the log-prob pass; null = no limit (default 512, TRL; Tina 512).',
      ),
    max_completion_length: positiveInt()
      .default(256)
      .describe('Maximum generated tokens per completion; also the dr_grpo normaliser (default 256, TRL; Tina 3584).'),
    temperature: z
      .number()
      .positive()
      .default(1)
      .describe(
        'Sampling temperature of the rollouts; the learner takes log-probs of logits / temperature (default 1.0, TRL; Tina 0.7).',
      ),
    top_p: z
      .number()
      .gt(0)
      .max(1)
      .default(1)
      .describe(
        'Nucleus sampling mass. The engine reports, and the learner computes, log-probs of the truncated, renormalised distribution that was sampled, so the importance ratios stay exact (default 1.0 = off).',
      ),
    top_k: z
      .number()
      .int()
      .min(0)
      .nullable()
      .default(null)
      .describe(
        'Top-k sampling (applied before top_p), with log-probs of the truncated distribution as for top_p; null or 0 = off (default null).',
      ),
    // Behaviour-policy correction (rollout engine ≠ learner, stale async rollouts).
    importance_sampling_correction: z
      .boolean()
      .default(true)
      .describe(
        'Weight the policy term by the importance ratio exp(old_logp − behaviour_logp) between the learner and the rollout engine, bounded as importance_sampling_mode says (TRL vllm_importance_sampling_correction; default true).',
      ),
    importance_sampling_mode: z
      .enum(IMPORTANCE_SAMPLING_MODES as [ImportanceSamplingMode, ...ImportanceSamplingMode[]])
      .default('token_truncate')
      .describe(
        "token_truncate (TIS: per-token ratio clamped to [clip_min, clip_max]) | token_mask (MIS: tokens whose ratio leaves the bounds get weight 0) | sequence_truncate (one ratio Π_t per completion, clamped) | sequence_mask (completions whose ratio leaves the bounds are dropped) (TRL vllm_importance_sampling_mode; default 'token_truncate' as TRL 0.23–0.25; TRL ≥ 0.26 defaults to 'sequence_mask' with clip_max 3).",
      ),
    importance_sampling_clip_max: z
      .number()
      .positive()
      .nullable()
      .default(2)
      .describe(
        'Upper bound C_max of the importance ratio: truncate modes clamp to it, mask modes drop above it; null = none (TRL vllm_importance_sampling_clip_max, formerly _cap; default 2.0).',
      ),
    importance_sampling_clip_min: z
      .number()
      .min(0)
      .nullable()
      .default(null)
      .describe(
        'Lower bound C_min of the importance ratio (truncate modes clamp up to it, mask modes drop below it); null = none (TRL vllm_importance_sampling_clip_min; default null).',
      ),
    max_staleness: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe(
        'loractor: how many policy versions a rollout may lag the learner in async mode; 0 = synchronous (default 0).',
      ),
    seed: z
      .number()
      .int()
      .min(0)
      .max(0xffffffff)
      .nullable()
      .default(null)
      .describe(
        'TRL seed. The run has one seed, run.seed (or --seed): null = run.seed; a value must equal run.seed (a different one is refused, not silently overridden) (default null; Tina 42).',
      ),
  })
  .strict();

export type GrpoConfigInput = z.input<typeof grpoConfigSchema>;
export type GrpoConfig = z.output<typeof grpoConfigSchema>;

/** A cross-field problem, named by the field a user should change. */
export interface ConfigIssue {
  field: string;
  message: string;
}

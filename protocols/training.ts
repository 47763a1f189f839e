// Messages of the training pipeline's stateful roles, requests and replies: the rollout actor's
// generate and sync, the learner's step, old log-probs, adapter save/load and republish.
// Bulk data on the training path (prompt and completion token ids, log-probs, advantages) travels as
// SharedTensor descriptors: the producer writes it once into shared memory and every later hop (the
// rollout's reply, the coordinator, the learner's request) passes the descriptor, not the values.
// The schemas also take plain arrays and typed arrays, so a small or hand-written message still works.
import { z } from 'zod';
import { defineProtocol, floatsSchema, idsSchema, realSchema, samplingSchema } from './messages.js';
import { elementCount, isSharedTensor } from './shared-tensor.js';

/** Elements in an ids/floats field (a SharedTensor's element count, or the array's length). */
function lengthOf(x: z.infer<typeof idsSchema> | z.infer<typeof floatsSchema>): number {
  return isSharedTensor(x) ? elementCount(x.shape) : (x as ArrayLike<number>).length;
}

const dropoutRngSchema = z.object({ s: z.tuple([z.number(), z.number(), z.number(), z.number()]) }).strict();

// ---- learner ------------------------------------------------------------------------------------

/**
 * One trajectory as the learner consumes it: a completion of one of the request's prompts, with
 * provenance. The prompt's ids are in the request's `prompts`, once per prompt (a group's G
 * trajectories share them).
 */
export const trajectorySchema = z
  .object({
    /** Index into the request's `prompts`. */
    promptIndex: z.number().int().nonnegative(),
    completionIds: idsSchema,
    /** Log-probs the rollout engine reported (behaviour policy), one per completion token. */
    behaviourLogprobs: floatsSchema,
    /** Adapter version that generated the completion. */
    policyVersion: z.number().int().nonnegative(),
    /**
     * The learner's own log-probs when the generation batch was first trained on (the ratio's
     * denominator); present when the batch is trained on across optimizer updates (num_iterations > 1,
     * steps_per_generation > gradient_accumulation_steps), absent otherwise (ratio ≡ 1).
     */
    oldLogprobs: floatsSchema.optional(),
  })
  .strict();

/** Prompt ids, one entry per distinct prompt of the request (trajectories refer to them by index). */
const promptsSchema = z.array(idsSchema);

/** Every trajectory's promptIndex names one of the request's prompts. */
function promptIndexesInRange(
  m: { prompts: unknown[]; trajectories: { promptIndex: number }[] },
  ctx: z.RefinementCtx,
): void {
  m.trajectories.forEach((t, i) => {
    if (t.promptIndex >= m.prompts.length)
      ctx.addIssue({
        code: 'custom',
        message: `promptIndex ${t.promptIndex}: the request has ${m.prompts.length} prompts`,
        path: ['trajectories', i, 'promptIndex'],
      });
  });
}

export const learnerStepRequestSchema = z
  .object({
    step: z.number().int().positive(),
    prompts: promptsSchema,
    /** May be empty (dynamic sampling kept no group): the step then publishes the unchanged adapter. */
    trajectories: z.array(trajectorySchema),
    /** One advantage per trajectory (f64: they are computed in double precision). */
    advantages: floatsSchema,
    /** Trajectories per micro-batch (one generation chunk each); absent = gradient_accumulation_steps even parts. */
    microBatchSizes: z.array(z.number().int().nonnegative()).optional(),
  })
  .strict()
  .refine((m) => lengthOf(m.advantages) === m.trajectories.length, {
    message: 'advantages must have one entry per trajectory',
    path: ['advantages'],
  })
  .superRefine(promptIndexesInRange);

/**
 * The learner's answer to one step. `metrics` are the loss's other metrics under their TRL names
 * (clip_ratio/*, entropy, sampling/*, …) and go into the step's metrics record as they are;
 * `timings` are the learner's own phases, seconds.
 */
export const learnerStepReplySchema = z
  .object({
    step: z.number().int().positive(),
    /** The adapter version published after this step (= step). */
    version: z.number().int().nonnegative(),
    loss: realSchema,
    kl: realSchema,
    grad_norm: realSchema,
    /** After the scheduler's step (the next update's), as the HF Trainer logs it. */
    learning_rate: realSchema,
    tokens_per_s: realSchema,
    metrics: z.record(z.string(), realSchema),
    timings: z.record(z.string(), realSchema),
    /** Why the update was skipped (non-finite loss or gradients), '' when it was not. */
    skipped: z.string(),
    /** The step had no trajectories: the adapter is unchanged. */
    empty: z.literal(true).optional(),
  })
  .strict();

/** Learner: old-policy log-probs of a generation batch (no state change). */
export const oldLogprobsRequestSchema = z
  .object({
    prompts: promptsSchema,
    trajectories: z.array(trajectorySchema).min(1),
    /** Trajectories per forward pass (bounds memory); absent = all at once. */
    microBatchSizes: z.array(z.number().int().nonnegative()).optional(),
  })
  .strict()
  .superRefine(promptIndexesInRange);

/** One f32 row of log-probs per trajectory of the request, in its order (views of one shared buffer). */
export const oldLogprobsReplySchema = z.object({ logprobs: z.array(floatsSchema) }).strict();

export const saveAdapterRequestSchema = z
  .object({ dir: z.string().min(1), step: z.number().int().nonnegative() })
  .strict();
export const saveAdapterReplySchema = z.object({ dir: z.string(), step: z.number().int().nonnegative() }).strict();

/** Learner: write adapter (PEFT) + optimizer state into `dir` (a checkpoint's temp folder). */
export const checkpointRequestSchema = z.object({ dir: z.string().min(1), step: z.number().int().positive() }).strict();
/** The learner's step and its LoRA-dropout RNG state, which the checkpoint's resume state records. */
export const checkpointReplySchema = z
  .object({ step: z.number().int().positive(), dropoutRng: dropoutRngSchema })
  .strict();
/** Learner: load adapter + optimizer from a sealed checkpoint and publish it as version `step`. */
export const restoreRequestSchema = z
  .object({
    dir: z.string().min(1),
    step: z.number().int().positive(),
    dropoutRng: dropoutRngSchema,
  })
  .strict();
export const restoreReplySchema = z
  .object({ step: z.number().int().positive(), version: z.number().int().nonnegative() })
  .strict();
/** Learner: write the current adapter again under its version (a reader found that version's bytes corrupted). */
export const republishRequestSchema = z.object({ version: z.number().int().nonnegative() }).strict();
/** The version now published (newer than asked when the learner has moved on). */
export const republishReplySchema = z.object({ version: z.number().int().nonnegative() }).strict();

// ---- rollout ------------------------------------------------------------------------------------

export const syncRequestSchema = z
  .object({
    /** Apply at least this adapter version (waits for it up to timeoutMs). */
    minVersion: z.number().int().nonnegative(),
    timeoutMs: z.number().int().positive().default(30000),
  })
  .strict();

/**
 * `verified: false` = the newest version failed verification and was NOT applied; `version` is the
 * one still serving and `error` says why (the coordinator republishes and retries).
 */
export const syncReplySchema = z
  .object({
    version: z.number().int().nonnegative(),
    latencyMs: z.number(),
    verified: z.boolean(),
    error: z.string().optional(),
  })
  .strict();

export const generateRequestSchema = z
  .object({
    step: z.number().int().nonnegative(),
    prompts: z
      .array(
        z
          .object({
            ids: idsSchema,
            promptIndex: z.number().int().nonnegative(),
            /**
             * The prompt text whose tokenization is `ids` (chat template applied), for engines that take
             * text (WebLLM). Optional: without it the engine detokenizes `ids`. Must be well-formed Unicode
             * (a lone surrogate has no UTF-8 encoding; msgpack would silently replace it with U+FFFD).
             */
            text: z
              .string()
              .refine((s) => !/[\uD800-\uDFFF]/u.test(s), {
                message: 'prompt text contains a lone UTF-16 surrogate: not valid Unicode, cannot be encoded as UTF-8',
              })
              .optional(),
          })
          .strict(),
      )
      .min(1),
    /** Completions per prompt (GRPO's G, TRL num_generations). */
    n: z.number().int().positive(),
    sampling: samplingSchema,
    /** The engine must apply at least this adapter version before generating (bounded staleness). */
    minPolicyVersion: z.number().int().nonnegative(),
    /**
     * Generate from exactly this adapter version (the coordinator's choice, so a run is reproducible
     * whatever the timing; the WeightStore keeps it resident). Absent: the newest ≥ minPolicyVersion.
     */
    policyVersion: z.number().int().nonnegative().optional(),
  })
  .strict();

/** One completion. Token ids and log-probs are views of the reply's shared buffers (one i32, one f32). */
export const completionSchema = z
  .object({
    /** The request's promptIndex of the prompt it completes. */
    promptIndex: z.number().int().nonnegative(),
    sampleIndex: z.number().int().nonnegative(),
    tokenIds: idsSchema,
    /** Behaviour log-probs (the distribution sampled from; engines/types.ts), one per token. */
    logprobs: floatsSchema,
    /** Raw model log-probs (temperature 1, whole vocabulary), where the engine reports them. */
    modelLogprobs: floatsSchema.optional(),
    text: z.string(),
    finishReason: z.enum(['eos', 'stop', 'length']),
    policyVersion: z.number().int().nonnegative(),
  })
  .strict();

export const generateReplySchema = z
  .object({
    step: z.number().int().nonnegative(),
    engine: z.string(),
    /** The adapter version the engine served (every completion carries its own too). */
    policyVersion: z.number().int().nonnegative(),
    /** The sync that applied the serving version (by this request or an earlier sync), ms. */
    syncLatencyMs: z.number(),
    /** Set when the newest version failed verification and the engine generated on the previous one (within the staleness bound). */
    syncError: z.string().optional(),
    /** The version that failed verification (with syncError). */
    rejectedVersion: z.number().int().nonnegative().optional(),
    /** The exact version asked for failed verification and nothing was generated: republish it and ask again. */
    retry: z.boolean().optional(),
    tokensPerSecond: realSchema,
    timeToFirstTokenS: realSchema,
    seconds: z.number(),
    /** G consecutive per prompt, in the request's prompt order. */
    completions: z.array(completionSchema),
  })
  .strict();

export type Trajectory = z.infer<typeof trajectorySchema>;
export type LearnerStepRequest = z.infer<typeof learnerStepRequestSchema>;
export type LearnerStepReply = z.infer<typeof learnerStepReplySchema>;
export type OldLogprobsRequest = z.infer<typeof oldLogprobsRequestSchema>;
export type OldLogprobsReply = z.infer<typeof oldLogprobsReplySchema>;
export type SaveAdapterRequest = z.infer<typeof saveAdapterRequestSchema>;
export type SaveAdapterReply = z.infer<typeof saveAdapterReplySchema>;
export type CheckpointRequest = z.infer<typeof checkpointRequestSchema>;
export type CheckpointReply = z.infer<typeof checkpointReplySchema>;
export type RestoreRequest = z.infer<typeof restoreRequestSchema>;
export type RestoreReply = z.infer<typeof restoreReplySchema>;
export type RepublishRequest = z.infer<typeof republishRequestSchema>;
export type RepublishReply = z.infer<typeof republishReplySchema>;
/** What a sender may send (timeoutMs has a default); the handler receives z.output (SyncRequestFull). */
export type SyncRequest = z.input<typeof syncRequestSchema>;
export type SyncRequestFull = z.output<typeof syncRequestSchema>;
export type SyncReply = z.infer<typeof syncReplySchema>;
export type GenerateRequest = z.infer<typeof generateRequestSchema>;
export type CompletionMsg = z.infer<typeof completionSchema>;
export type GenerateReply = z.infer<typeof generateReplySchema>;

export const TrainingProtocols = {
  LearnerStepRequest: defineProtocol('LearnerStepRequest', 3, learnerStepRequestSchema),
  LearnerStepReply: defineProtocol('LearnerStepReply', 1, learnerStepReplySchema),
  OldLogprobsRequest: defineProtocol('OldLogprobsRequest', 2, oldLogprobsRequestSchema),
  OldLogprobsReply: defineProtocol('OldLogprobsReply', 1, oldLogprobsReplySchema),
  SaveAdapterRequest: defineProtocol('SaveAdapterRequest', 1, saveAdapterRequestSchema),
  SaveAdapterReply: defineProtocol('SaveAdapterReply', 1, saveAdapterReplySchema),
  SyncRequest: defineProtocol('SyncRequest', 1, syncRequestSchema as z.ZodType<z.output<typeof syncRequestSchema>>),
  SyncReply: defineProtocol('SyncReply', 1, syncReplySchema),
  GenerateRequest: defineProtocol('GenerateRequest', 2, generateRequestSchema),
  GenerateReply: defineProtocol('GenerateReply', 1, generateReplySchema),
} as const;

export const CheckpointProtocols = {
  CheckpointRequest: defineProtocol('CheckpointRequest', 1, checkpointRequestSchema),
  CheckpointReply: defineProtocol('CheckpointReply', 1, checkpointReplySchema),
  RestoreRequest: defineProtocol('RestoreRequest', 1, restoreRequestSchema),
  RestoreReply: defineProtocol('RestoreReply', 1, restoreReplySchema),
  RepublishRequest: defineProtocol('RepublishRequest', 1, republishRequestSchema),
  RepublishReply: defineProtocol('RepublishReply', 1, republishReplySchema),
} as const;

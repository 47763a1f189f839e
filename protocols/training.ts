// Messages of the training pipeline's stateful roles (learner, rollout sync, advantage) that are
// not in messages.ts: the learner's step request, adapter save/load, and the sync handshake.
import { z } from 'zod';
import { defineProtocol, floatsSchema, idsSchema, samplingSchema } from './messages.js';

/** One trajectory as the learner consumes it: prompt + completion tokens with provenance. */
export const trajectorySchema = z.object({
  promptIds: idsSchema,
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
}).strict();

export const learnerStepRequestSchema = z.object({
  step: z.number().int().positive(),
  /** May be empty (dynamic sampling kept no group): the step then publishes the unchanged adapter. */
  trajectories: z.array(trajectorySchema),
  /** One advantage per trajectory. */
  advantages: z.array(z.number()),
  /** Trajectories per micro-batch (one generation chunk each); absent = gradient_accumulation_steps even parts. */
  microBatchSizes: z.array(z.number().int().nonnegative()).optional(),
}).strict().refine((m) => m.advantages.length === m.trajectories.length, { message: 'advantages must have one entry per trajectory', path: ['advantages'] });

/** Learner: old-policy log-probs of a generation batch (no state change). */
export const oldLogprobsRequestSchema = z.object({
  trajectories: z.array(trajectorySchema).min(1),
  /** Trajectories per forward pass (bounds memory); absent = all at once. */
  microBatchSizes: z.array(z.number().int().nonnegative()).optional(),
}).strict();

export const saveAdapterRequestSchema = z.object({ dir: z.string().min(1), step: z.number().int().nonnegative() }).strict();

export const syncRequestSchema = z.object({
  /** Apply at least this adapter version (waits for it up to timeoutMs). */
  minVersion: z.number().int().nonnegative(),
  timeoutMs: z.number().int().positive().default(30000),
}).strict();

/**
 * `verified: false` = the newest version failed verification and was NOT applied; `version` is the
 * one still serving and `error` says why (the coordinator republishes and retries).
 */
export const syncReplySchema = z.object({ version: z.number().int().nonnegative(), latencyMs: z.number(), verified: z.boolean(), error: z.string().optional() }).strict();

export const generateRequestSchema = z.object({
  step: z.number().int().nonnegative(),
  prompts: z.array(z.object({
    ids: idsSchema,
    /**
     * The prompt text whose tokenization is `ids` (chat template applied), for engines that take
     * text (WebLLM). Optional: without it the engine detokenizes `ids`. Must be well-formed Unicode
     * (a lone surrogate has no UTF-8 encoding; msgpack would silently replace it with U+FFFD).
     */
    text: z.string().refine((s) => !/[\uD800-\uDFFF]/u.test(s), { message: 'prompt text contains a lone UTF-16 surrogate: not valid Unicode, cannot be encoded as UTF-8' }).optional(),
    promptIndex: z.number().int().nonnegative(),
  }).strict()).min(1),
  n: z.number().int().positive(),
  sampling: samplingSchema,
  minPolicyVersion: z.number().int().nonnegative(),
  /**
   * Generate from exactly this adapter version (the coordinator's choice, so a run is reproducible
   * whatever the timing; the WeightStore keeps it resident). Absent: the newest ≥ minPolicyVersion.
   */
  policyVersion: z.number().int().nonnegative().optional(),
}).strict();

export type Trajectory = z.infer<typeof trajectorySchema>;
export type LearnerStepRequest = z.infer<typeof learnerStepRequestSchema>;
export type OldLogprobsRequest = z.infer<typeof oldLogprobsRequestSchema>;
export type SaveAdapterRequest = z.infer<typeof saveAdapterRequestSchema>;
export type SyncRequest = z.input<typeof syncRequestSchema>;
export type SyncReply = z.infer<typeof syncReplySchema>;
export type GenerateRequest = z.infer<typeof generateRequestSchema>;

export const TrainingProtocols = {
  LearnerStepRequest: defineProtocol('LearnerStepRequest', 2, learnerStepRequestSchema),
  OldLogprobsRequest: defineProtocol('OldLogprobsRequest', 1, oldLogprobsRequestSchema),
  SaveAdapterRequest: defineProtocol('SaveAdapterRequest', 1, saveAdapterRequestSchema),
  SyncRequest: defineProtocol('SyncRequest', 1, syncRequestSchema as z.ZodType<z.output<typeof syncRequestSchema>>),
  GenerateRequest: defineProtocol('GenerateRequest', 2, generateRequestSchema),
} as const;

/** Learner: write adapter (PEFT) + optimizer state into `dir` (a checkpoint's temp folder). */
export const checkpointRequestSchema = z.object({ dir: z.string().min(1), step: z.number().int().positive() }).strict();
/** Learner: load adapter + optimizer from a sealed checkpoint and publish it as version `step`. */
export const restoreRequestSchema = z.object({
  dir: z.string().min(1),
  step: z.number().int().positive(),
  dropoutRng: z.object({ s: z.tuple([z.number(), z.number(), z.number(), z.number()]) }).strict(),
}).strict();
/** Learner: write the current adapter again under its version (a reader found that version's bytes corrupted). */
export const republishRequestSchema = z.object({ version: z.number().int().nonnegative() }).strict();
export type RepublishRequest = z.infer<typeof republishRequestSchema>;
export type CheckpointRequest = z.infer<typeof checkpointRequestSchema>;
export type RestoreRequest = z.infer<typeof restoreRequestSchema>;
export const CheckpointProtocols = {
  CheckpointRequest: defineProtocol('CheckpointRequest', 1, checkpointRequestSchema),
  RestoreRequest: defineProtocol('RestoreRequest', 1, restoreRequestSchema),
  RepublishRequest: defineProtocol('RepublishRequest', 1, republishRequestSchema),
} as const;

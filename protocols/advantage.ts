// Messages of the advantage actor (actors/advantage.ts): weighted reward totals, group advantages,
// and DAPO dynamic sampling over generation rounds (the pool of kept groups travels in the messages,
// so the actor stays stateless). Small control messages: plain number arrays, msgpackr-friendly.
import { z } from 'zod';
import { defineProtocol, realSchema } from './messages.js';
import {
  ADVANTAGE_ESTIMATORS,
  DYNAMIC_SAMPLING,
  SCALE_REWARDS,
  type AdvantageEstimator,
  type DynamicSampling,
  type ScaleRewards,
} from '../src/rl/advantages.js';

const estimatorSchema = z.enum(ADVANTAGE_ESTIMATORS as [AdvantageEstimator, ...AdvantageEstimator[]]);
const scaleSchema = z.enum(SCALE_REWARDS as [ScaleRewards, ...ScaleRewards[]]);
/** TRL accepted booleans before the string form: true ≡ 'group', false ≡ 'none'. */
const scaleOrBoolSchema = z.union([scaleSchema, z.boolean()]);
const dynamicSchema = z.enum(DYNAMIC_SAMPLING as [DynamicSampling, ...DynamicSampling[]]);

/** Weighted reward totals, one per completion, grouped consecutively by groupSize. */
const rewardsSchema = z.array(realSchema);

/** src/rl/advantages.ts AdvantageMetrics: the generation batch's statistics under their TRL names. */
const advantageMetricsSchema = z
  .object({
    reward: realSchema,
    reward_std: realSchema,
    frac_reward_zero_std: realSchema,
    'advantage/mean': realSchema,
    'advantage/std': realSchema,
    'advantage/abs_max': realSchema,
    dropped_groups: z.number().int().nonnegative(),
    refill_groups: z.number().int().nonnegative(),
  })
  .strict();

/** src/rl/dynamic-sampling.ts GroupPool: the groups kept so far over a generation batch's rounds. */
export const groupPoolSchema = z
  .object({
    /** Reward totals of the kept groups, G per group, in the order kept. */
    rewards: z.array(realSchema),
    /** Where each kept group came from: [round, group index within that round]. */
    groups: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])),
    /** Generation rounds drawn so far. */
    rounds: z.number().int().nonnegative(),
    /** Groups generated over all rounds, and how many of them had zero reward std. */
    drawnGroups: z.number().int().nonnegative(),
    zeroStdGroups: z.number().int().nonnegative(),
  })
  .strict();

export const computeAdvantagesRequestSchema = z
  .object({
    rewards: rewardsSchema,
    groupSize: z.number().int(),
    estimator: estimatorSchema.optional(),
    scale_rewards: scaleOrBoolSchema.optional(),
    dynamic_sampling: dynamicSchema.optional(),
  })
  .strict();

export const computeAdvantagesResponseSchema = z
  .object({
    /** One per completion; 0 for completions of dropped groups. */
    advantages: z.array(realSchema),
    groupStats: z
      .object({ mean: z.array(realSchema), std: z.array(realSchema), allEqual: z.array(z.boolean()) })
      .strict(),
    zeroVarianceGroups: z.array(z.number().int()),
    droppedGroups: z.array(z.number().int()),
    /** Completion indices to train on. */
    keptCompletions: z.array(z.number().int()),
    refillGroups: z.number().int(),
    appliedScale: scaleSchema,
    metrics: advantageMetricsSchema,
  })
  .strict();

export const admitGroupsRequestSchema = z
  .object({
    /** The pool after the previous rounds (absent for the first round of a generation batch). */
    pool: groupPoolSchema.optional(),
    /** This round's reward totals, G consecutive per group. */
    rewards: rewardsSchema,
    groupSize: z.number().int(),
    /** Groups the generation batch should hold. */
    targetGroups: z.number().int().positive(),
    dynamic_sampling: dynamicSchema,
    /** Most rounds under 'refill' (0 = no limit). */
    max_num_gen_batches: z.number().int().nonnegative(),
    estimator: estimatorSchema.optional(),
    scale_rewards: scaleOrBoolSchema.optional(),
  })
  .strict();

export const admitGroupsResponseSchema = z
  .object({
    pool: groupPoolSchema,
    /** false: generate another round of targetGroups prompts and send its rewards with this pool. */
    done: z.boolean(),
    /** When done: advantages of the kept groups (pool order), their metrics and the dynamic-sampling counts. */
    advantages: z.array(realSchema).optional(),
    metrics: advantageMetricsSchema.optional(),
    sampling: z.record(z.string(), realSchema).optional(),
    /** Groups the batch is short of its target. */
    shortfall: z.number().int().nonnegative(),
  })
  .strict();

export const rewardTotalsRequestSchema = z
  .object({
    /** perFunc[f][i]: reward function f on completion i; NaN (or null) = the function abstained. */
    perFunc: z.array(z.array(realSchema.nullable())),
    weights: z.array(realSchema),
  })
  .strict();

export const rewardTotalsReplySchema = z.object({ totals: z.array(realSchema) }).strict();

export type ComputeAdvantagesRequest = z.infer<typeof computeAdvantagesRequestSchema>;
export type ComputeAdvantagesResponse = z.infer<typeof computeAdvantagesResponseSchema>;
export type AdmitGroupsRequest = z.infer<typeof admitGroupsRequestSchema>;
export type AdmitGroupsResponse = z.infer<typeof admitGroupsResponseSchema>;
export type RewardTotalsRequest = z.infer<typeof rewardTotalsRequestSchema>;
export type RewardTotalsReply = z.infer<typeof rewardTotalsReplySchema>;

export const AdvantageProtocols = {
  ComputeAdvantagesRequest: defineProtocol('ComputeAdvantagesRequest', 1, computeAdvantagesRequestSchema),
  ComputeAdvantagesResponse: defineProtocol('ComputeAdvantagesResponse', 1, computeAdvantagesResponseSchema),
  AdmitGroupsRequest: defineProtocol('AdmitGroupsRequest', 1, admitGroupsRequestSchema),
  AdmitGroupsResponse: defineProtocol('AdmitGroupsResponse', 1, admitGroupsResponseSchema),
  RewardTotalsRequest: defineProtocol('RewardTotalsRequest', 1, rewardTotalsRequestSchema),
  RewardTotalsReply: defineProtocol('RewardTotalsReply', 1, rewardTotalsReplySchema),
} as const;

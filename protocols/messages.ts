// Every message that crosses a thread in loractor: its TypeScript type, its protocol version and a
// zod schema the receiving side validates against (a malformed message is rejected with an error
// naming the field; it never reaches a handler). Bump a message's version when its meaning changes.
import { z } from 'zod';
import { checkSharedTensor, type SharedTensor } from './shared-tensor.js';

export const sharedTensorSchema = z.custom<SharedTensor>((v) => checkSharedTensor(v) === null, {
  error: (iss) => 'expected SharedTensor (' + (checkSharedTensor(iss.input) ?? 'invalid') + ')',
});

/** Integer ids: a plain array (small control messages), an Int32Array, or a SharedTensor (bulk). */
export const idsSchema = z.union([z.array(z.number().int()), z.instanceof(Int32Array), sharedTensorSchema]);
/** Float values: a plain array, a Float32Array, or a SharedTensor. */
export const floatsSchema = z.union([z.array(z.number()), z.instanceof(Float32Array), z.instanceof(Float64Array), sharedTensorSchema]);
export type Ids = z.infer<typeof idsSchema>;
export type Floats = z.infer<typeof floatsSchema>;

const timings = z.record(z.string(), z.number());

export const samplingSchema = z.object({
  temperature: z.number().min(0),
  top_p: z.number().gt(0).max(1),
  top_k: z.number().int(),
  max_tokens: z.number().int().positive(),
  stop: z.array(z.string()).optional(),
  seed: z.number().int(),
  /** Decode past EOS to max_tokens (vLLM ignore_eos; benchmarks). */
  ignore_eos: z.boolean().optional(),
}).strict();

export const rolloutRequestSchema = z.object({
  requestId: z.string(),
  step: z.number().int().nonnegative(),
  prompts: z.array(z.object({ ids: idsSchema, text: z.string().optional(), promptIndex: z.number().int().nonnegative() }).strict()).min(1),
  /** Completions per prompt (GRPO's G, TRL num_generations). */
  n: z.number().int().positive(),
  sampling: samplingSchema,
  /** The engine must apply at least this adapter version before generating (bounded staleness). */
  minPolicyVersion: z.number().int().nonnegative(),
}).strict();

export const completionSchema = z.object({
  promptIndex: z.number().int().nonnegative(),
  sampleIndex: z.number().int().nonnegative(),
  tokenIds: idsSchema,
  /** Behaviour log-probs (the distribution sampled from; engines/types.ts). */
  logprobs: floatsSchema,
  /** Raw model log-probs (temperature 1, whole vocabulary), where the engine reports them. */
  modelLogprobs: floatsSchema.optional(),
  text: z.string(),
  finishReason: z.enum(['eos', 'stop', 'length']),
  policyVersion: z.number().int().nonnegative(),
}).strict();

export const rolloutResultSchema = z.object({
  requestId: z.string(),
  step: z.number().int().nonnegative(),
  completions: z.array(completionSchema),
  engine: z.string(),
  policyVersion: z.number().int().nonnegative(),
  timings,
}).strict();

export const scoredBatchSchema = z.object({
  step: z.number().int().nonnegative(),
  /** rewards[func][i] for completion i (TRL rewards/<func>); null where a function abstains. */
  rewards: z.record(z.string(), z.array(z.number().nullable())),
  /** Weighted total per completion (TRL reward_weights applied). */
  total: z.array(z.number()),
  timings,
}).strict();

export const advantageBatchSchema = z.object({
  step: z.number().int().nonnegative(),
  advantages: floatsSchema,
  /** Group id (prompt index) per completion. */
  groups: idsSchema,
  rewardMean: z.number(),
  rewardStd: z.number(),
}).strict();

export const learnerStepResultSchema = z.object({
  step: z.number().int().nonnegative(),
  loss: z.number(),
  kl: z.number(),
  grad_norm: z.number(),
  learning_rate: z.number(),
  tokens_per_s: z.number(),
  timings,
  /** The adapter version published after this step. */
  version: z.number().int().nonnegative(),
}).strict();

export const weightVersionSchema = z.object({
  version: z.number().int().nonnegative(),
  step: z.number().int().nonnegative(),
  checksum: z.number().int().nonnegative(),
  size: z.number().int().nonnegative(),
}).strict();

export const evalRequestSchema = z.object({
  version: z.number().int().nonnegative(),
  benchmarks: z.array(z.string()).min(1),
  limit: z.number().int().positive().optional(),
  samplesPerProblem: z.number().int().positive(),
  sampling: samplingSchema,
}).strict();

export const evalReportSchema = z.object({
  version: z.number().int().nonnegative(),
  results: z.array(z.object({ benchmark: z.string(), pass_at_1: z.number().min(0).max(1), problems: z.number().int().nonnegative(), samples: z.number().int().nonnegative() }).strict()),
  timings,
}).strict();

export const metricsSchema = z.object({
  source: z.string(),
  step: z.number().int().nonnegative().optional(),
  values: z.record(z.string(), z.number()),
}).strict();

export const errorReportSchema = z.object({
  role: z.string(),
  handler: z.string(),
  name: z.string(),
  message: z.string(),
  stack: z.string().optional(),
  code: z.string().optional(),
}).strict();

export type SamplingParamsMsg = z.infer<typeof samplingSchema>;
export type RolloutRequest = z.infer<typeof rolloutRequestSchema>;
export type CompletionMsg = z.infer<typeof completionSchema>;
export type RolloutResult = z.infer<typeof rolloutResultSchema>;
export type ScoredBatch = z.infer<typeof scoredBatchSchema>;
export type AdvantageBatch = z.infer<typeof advantageBatchSchema>;
export type LearnerStepResult = z.infer<typeof learnerStepResultSchema>;
export type WeightVersion = z.infer<typeof weightVersionSchema>;
export type EvalRequest = z.infer<typeof evalRequestSchema>;
export type EvalReport = z.infer<typeof evalReportSchema>;
export type MetricsMessage = z.infer<typeof metricsSchema>;
export type ErrorReport = z.infer<typeof errorReportSchema>;

/** A declared message kind: name, version, schema. Actor modules reference these in `accepts`. */
export interface ProtocolDef<T = unknown> {
  name: string;
  version: number;
  schema: z.ZodType<T>;
}

/** Declare a message kind (name, version, schema); every protocols/*.ts file declares its messages with it. */
export function defineProtocol<T>(name: string, version: number, schema: z.ZodType<T>): ProtocolDef<T> {
  return { name, version, schema };
}

export const Protocols = {
  RolloutRequest: defineProtocol('RolloutRequest', 1, rolloutRequestSchema),
  RolloutResult: defineProtocol('RolloutResult', 1, rolloutResultSchema),
  ScoredBatch: defineProtocol('ScoredBatch', 1, scoredBatchSchema),
  AdvantageBatch: defineProtocol('AdvantageBatch', 1, advantageBatchSchema),
  LearnerStepResult: defineProtocol('LearnerStepResult', 1, learnerStepResultSchema),
  WeightVersion: defineProtocol('WeightVersion', 1, weightVersionSchema),
  EvalRequest: defineProtocol('EvalRequest', 1, evalRequestSchema),
  EvalReport: defineProtocol('EvalReport', 1, evalReportSchema),
  Metrics: defineProtocol('Metrics', 1, metricsSchema),
  ErrorReport: defineProtocol('ErrorReport', 1, errorReportSchema),
} as const;

export type ProtocolName = keyof typeof Protocols;

/** Thrown when an incoming message fails validation; `field` is the dotted path of the first bad field. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** Validate `msg` against a declared protocol; returns the parsed value or throws ProtocolError naming the field. */
export function validateMessage<T>(p: ProtocolDef<T>, msg: unknown, version?: number): T {
  if (version !== undefined && version !== p.version) {
    throw new ProtocolError(`${p.name}: protocol version ${version} not supported (expected ${p.version})`, '(version)');
  }
  const r = p.schema.safeParse(msg);
  if (r.success) return r.data;
  const iss = r.error.issues[0]!;
  const field = iss.path.length ? iss.path.map(String).join('.') : '(message)';
  throw new ProtocolError(`${p.name}: ${field}: ${iss.message}`, field);
}

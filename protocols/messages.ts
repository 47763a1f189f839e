// The building blocks of every message that crosses a thread in loractor: a declared message kind
// (name, protocol version, zod schema the receiving side validates against: a malformed message is
// rejected with an error naming the field and never reaches a handler), the schemas messages share
// (ids, floats, sampling), and the evaluator's messages. The messages themselves are declared per
// role (training.ts, advantage.ts, reward.ts) and paired into handler contracts in handlers.ts.
// Bump a message's version when its meaning changes.
import { z } from 'zod';
import { checkSharedTensor, type DType, type SharedTensor } from './shared-tensor.js';

export const sharedTensorSchema = z.custom<SharedTensor>((v) => checkSharedTensor(v) === null, {
  error: (iss) => 'expected SharedTensor (' + (checkSharedTensor(iss.input) ?? 'invalid') + ')',
});

/** A SharedTensor of one of `dtypes` (a receiver builds a view of that type over it). */
function sharedTensorOf(dtypes: readonly DType[]) {
  const problem = (v: unknown): string | null =>
    checkSharedTensor(v) ??
    (dtypes.includes((v as SharedTensor).dtype)
      ? null
      : `dtype: expected ${dtypes.join(' or ')}, got ${(v as SharedTensor).dtype}`);
  return z.custom<SharedTensor>((v) => problem(v) === null, {
    error: (iss) => 'expected SharedTensor (' + (problem(iss.input) ?? 'invalid') + ')',
  });
}

/** Integer ids: a plain array (small control messages), an Int32Array, or an i32 SharedTensor (bulk). */
export const idsSchema = z.union([z.array(z.number().int()), z.instanceof(Int32Array), sharedTensorOf(['i32'])]);
/** Float values: a plain array, a Float32Array / Float64Array, or an f32 / f64 SharedTensor (bulk). */
export const floatsSchema = z.union([
  z.array(z.number()),
  z.instanceof(Float32Array),
  z.instanceof(Float64Array),
  sharedTensorOf(['f32', 'f64']),
]);
export type Ids = z.infer<typeof idsSchema>;
export type Floats = z.infer<typeof floatsSchema>;

/** Any IEEE double, NaN and ±Infinity included (z.number() refuses them): a loss or a gradient norm may be non-finite. */
export const realSchema = z.custom<number>((v) => typeof v === 'number', { error: 'expected a number' });

const timings = z.record(z.string(), z.number());

export const samplingSchema = z
  .object({
    temperature: z.number().min(0),
    top_p: z.number().gt(0).max(1),
    top_k: z.number().int(),
    max_tokens: z.number().int().positive(),
    stop: z.array(z.string()).optional(),
    seed: z.number().int(),
    /** Decode past EOS to max_tokens (vLLM ignore_eos; benchmarks). */
    ignore_eos: z.boolean().optional(),
  })
  .strict();

export const evalRequestSchema = z
  .object({
    version: z.number().int().nonnegative(),
    benchmarks: z.array(z.string()).min(1),
    limit: z.number().int().positive().optional(),
    samplesPerProblem: z.number().int().positive(),
    sampling: samplingSchema,
  })
  .strict();

export const evalReportSchema = z
  .object({
    version: z.number().int().nonnegative(),
    results: z.array(
      z
        .object({
          benchmark: z.string(),
          pass_at_1: z.number().min(0).max(1),
          problems: z.number().int().nonnegative(),
          samples: z.number().int().nonnegative(),
        })
        .strict(),
    ),
    timings,
  })
  .strict();

export type SamplingParamsMsg = z.infer<typeof samplingSchema>;
export type EvalRequest = z.infer<typeof evalRequestSchema>;
export type EvalReport = z.infer<typeof evalReportSchema>;

/**
 * A declared message kind: name, version, schema. `T` is what the receiver gets after validation
 * (defaults filled in), `I` what a sender may send (z.input of the schema).
 */
export interface ProtocolDef<T = unknown, I = unknown> {
  name: string;
  version: number;
  schema: z.ZodType<T, I>;
}

/** Declare a message kind (name, version, schema); every protocols/*.ts file declares its messages with it. */
export function defineProtocol<T, I>(name: string, version: number, schema: z.ZodType<T, I>): ProtocolDef<T, I> {
  return { name, version, schema };
}

/** The evaluator's messages: evaluate one adapter version (EvalRequest) and its results (EvalReport). */
export const EvalProtocols = {
  EvalRequest: defineProtocol('EvalRequest', 1, evalRequestSchema),
  EvalReport: defineProtocol('EvalReport', 1, evalReportSchema),
} as const;

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
export function validateMessage<T, I>(p: ProtocolDef<T, I>, msg: unknown, version?: number): T {
  if (version !== undefined && version !== p.version) {
    throw new ProtocolError(
      `${p.name}: protocol version ${version} not supported (expected ${p.version})`,
      '(version)',
    );
  }
  const r = p.schema.safeParse(msg);
  if (r.success) return r.data;
  const iss = specificIssue(r.error.issues[0]! as Issue);
  const field = iss.path.length ? iss.path.map(String).join('.') : '(message)';
  throw new ProtocolError(`${p.name}: ${field}: ${iss.message}`, field);
}

type Issue = { code: string; path: PropertyKey[]; message: string; errors?: Issue[][] };

/**
 * A union (ids: array | Int32Array | SharedTensor) that matched no branch reports "Invalid input";
 * the branch that got past the type check (a SharedTensor of the wrong dtype) says what is wrong.
 */
function specificIssue(iss: Issue): Issue {
  if (iss.code !== 'invalid_union' || !iss.errors) return iss;
  const branch = iss.errors.find((b) => b.length > 0 && b[0]!.code !== 'invalid_type');
  return branch ? specificIssue({ ...branch[0]!, path: [...iss.path, ...branch[0]!.path] }) : iss;
}

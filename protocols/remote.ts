// Messages between hosts: a coordinator and the `loractor worker` processes serving its remote roles
// over NATS JetStream (src/transport/nats/). They carry the same actor messages as the threads do
// (GenerateRequest, the reward actor's scoreItem) inside a small wire envelope, msgpack-encoded.
// A worker joins a run only when the run's protocol table equals its own: every message kind that
// crosses a thread or a host, with its version (protocolTable()).
import { z } from 'zod';
import { pack, unpack } from 'msgpackr';
import { defineProtocol, samplingSchema, type ProtocolDef } from './messages.js';
import { Protocols } from './handlers.js';

const loraSchema = z
  .object({
    r: z.number().int().positive(),
    alpha: z.number(),
    dropout: z.number(),
    targetModules: z.array(z.string()),
  })
  .strict();

/** What a worker needs to serve a run: published once per run (last value per run subject). */
export const runAnnouncementSchema = z
  .object({
    run: z.string().regex(/^[A-Za-z0-9_-]+$/),
    /** The run has finished: workers leave it. */
    ended: z.boolean().optional(),
    /** Every message kind and its version, as the coordinator's build declares them. */
    protocols: z.record(z.string(), z.number().int()),
    /** loractor's package version of the coordinator (informational; protocols decide). */
    package: z.string(),
    roles: z.array(z.enum(['rollout', 'reward'])),
    rollout: z
      .object({
        /** The base model's folder on the coordinator's host (workers may be given their own with --model). */
        modelDir: z.string(),
        /** sha256 of the model's config.json: a worker's model must match it. */
        modelConfigSha256: z.string(),
        lora: loraSchema,
        /** Adapter size in float32 values (the worker's layout must agree). */
        adapterSize: z.number().int().positive(),
        engine: z.enum(['builtin', 'webgpu', 'webllm']),
        maxBatch: z.number().int().positive(),
        webgpu: z
          .object({ weightDtype: z.enum(['f16', 'f32']), residentVersions: z.number().int().positive() })
          .strict()
          .optional(),
        webllm: z
          .object({ mlcDir: z.string(), libFile: z.string(), contextWindow: z.number().int().positive().optional() })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    reward: z
      .object({
        funcs: z.array(z.unknown()),
        kwargs: z.record(z.string(), z.unknown()).optional(),
        /** Per-item deadline, enforced on the worker too (its reward thread is replaced on expiry). */
        timeoutMs: z.number().int().positive(),
      })
      .strict()
      .optional(),
    /** Object store bucket holding the run's adapter versions (objects `<run>/v<version>`). */
    adapterBucket: z.string(),
  })
  .strict();

/** One unit of work on the queue. `ask` numbers the coordinator's asks; (run, ask, step, prompt, sample) keys every result. */
export const workItemSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('generate'),
      run: z.string(),
      ask: z.number().int().nonnegative(),
      part: z.number().int().nonnegative(),
      /** The adapter version published when the item was queued (≥ minPolicyVersion): the worker applies at least it. */
      adapterVersion: z.number().int().nonnegative(),
      request: z
        .object({
          step: z.number().int().nonnegative(),
          prompts: z
            .array(
              z
                .object({
                  ids: z.array(z.number().int()),
                  text: z.string().optional(),
                  promptIndex: z.number().int().nonnegative(),
                })
                .strict(),
            )
            .min(1),
          n: z.number().int().positive(),
          sampling: samplingSchema,
          minPolicyVersion: z.number().int().nonnegative(),
        })
        .strict(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('score'),
      run: z.string(),
      ask: z.number().int().nonnegative(),
      part: z.literal(0),
      /** The reward actor's scoreItem message (without the start port, which cannot cross hosts). */
      request: z.record(z.string(), z.unknown()),
    })
    .strict(),
]);

/** A worker's answer to one item (published to the run's result subject before the item is acked). */
export const workResultSchema = z
  .object({
    run: z.string(),
    ask: z.number().int().nonnegative(),
    part: z.number().int().nonnegative(),
    worker: z.string(),
    host: z.string(),
    /** JetStream delivery count of the item: > 1 when it was redelivered (its first worker died or hung). */
    delivery: z.number().int().positive(),
    ok: z.boolean(),
    reply: z.unknown().optional(),
    error: z.string().optional(),
    /** Set when the adapter version fetched failed verification: the coordinator republishes it and queues the item again. */
    rejectedVersion: z.number().int().nonnegative().optional(),
  })
  .strict();

/** A worker has begun an item (reward: the coordinator's per-item deadline starts now, as with a local pool thread). */
export const workStartedSchema = z
  .object({
    run: z.string(),
    ask: z.number().int().nonnegative(),
    part: z.number().int().nonnegative(),
    worker: z.string(),
  })
  .strict();

/** Every few seconds, per run a worker serves. */
export const workerHeartbeatSchema = z
  .object({
    run: z.string(),
    worker: z.string(),
    host: z.string(),
    pid: z.number().int(),
    role: z.enum(['rollout', 'reward']),
    /** Adapter version this worker last applied (rollout; -1 before any). */
    versionApplied: z.number().int(),
    /** Items waiting on the run's queue for this role, and items taken and not yet acknowledged. */
    queueDepth: z.number().int().nonnegative(),
    ackPending: z.number().int().nonnegative(),
    inFlight: z.number().int().nonnegative(),
    served: z.number().int().nonnegative(),
    threads: z.number().int().positive(),
    engine: z.string().optional(),
    time: z.number(),
  })
  .strict();

/** A worker that will not serve a run says why (protocol versions, model, engine). */
export const workerRefusalSchema = z
  .object({ run: z.string(), worker: z.string(), host: z.string(), role: z.string(), reason: z.string() })
  .strict();

/** Description of an adapter version object: what the worker verifies the bytes against before applying. */
export const adapterObjectSchema = z
  .object({
    version: z.number().int().nonnegative(),
    step: z.number().int().nonnegative(),
    /** FNV-1a checksum of the float32 values (the WeightStore's). */
    checksum: z.number().int().nonnegative(),
    size: z.number().int().positive(),
    dtype: z.literal('f32'),
  })
  .strict();

export type RunAnnouncement = z.infer<typeof runAnnouncementSchema>;
export type WorkItem = z.infer<typeof workItemSchema>;
export type WorkResult = z.infer<typeof workResultSchema>;
export type WorkerHeartbeat = z.infer<typeof workerHeartbeatSchema>;
export type WorkStarted = z.infer<typeof workStartedSchema>;
export type WorkerRefusal = z.infer<typeof workerRefusalSchema>;
export type AdapterObject = z.infer<typeof adapterObjectSchema>;

export const RemoteProtocols = {
  RunAnnouncement: defineProtocol('RunAnnouncement', 1, runAnnouncementSchema),
  WorkItem: defineProtocol('WorkItem', 1, workItemSchema),
  WorkResult: defineProtocol('WorkResult', 1, workResultSchema),
  WorkStarted: defineProtocol('WorkStarted', 1, workStartedSchema),
  WorkerHeartbeat: defineProtocol('WorkerHeartbeat', 1, workerHeartbeatSchema),
  WorkerRefusal: defineProtocol('WorkerRefusal', 1, workerRefusalSchema),
  AdapterObject: defineProtocol('AdapterObject', 1, adapterObjectSchema),
} as const;

/** Every declared message kind → its version, as this build has them. */
export function protocolTable(): Record<string, number> {
  const all: ProtocolDef[] = [...Object.values(Protocols), ...Object.values(RemoteProtocols)] as ProtocolDef[];
  return Object.fromEntries(
    all.map((p) => [p.name, p.version]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
  );
}

/** The differences between two protocol tables, one phrase each (empty when they agree). */
export function protocolDifferences(mine: Record<string, number>, theirs: Record<string, number>): string[] {
  const names = [...new Set([...Object.keys(mine), ...Object.keys(theirs)])].sort();
  return names
    .filter((n) => mine[n] !== theirs[n])
    .map((n) => `${n} v${theirs[n] ?? '(absent)'} in the run, v${mine[n] ?? '(absent)'} here`);
}

/** Encode a wire message (the receiver validates with decodeWire). */
export function encodeWire<T>(p: ProtocolDef<T>, msg: T): Uint8Array {
  return pack({ v: p.version, m: msg });
}

/** Decode and validate a wire message; the error names the protocol, its version and the bad field. */
export function decodeWire<T>(p: ProtocolDef<T>, bytes: Uint8Array): T {
  const raw = unpack(bytes) as { v?: unknown; m?: unknown };
  if (raw?.v !== p.version)
    throw new Error(`${p.name}: protocol version ${String(raw?.v)} received, this build speaks v${p.version}`);
  const r = p.schema.safeParse(raw.m);
  if (r.success) return r.data;
  const iss = r.error.issues[0]!;
  throw new Error(`${p.name}: ${iss.path.map(String).join('.') || '(message)'}: ${iss.message}`);
}

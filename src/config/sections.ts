// Config sections owned by the runtime: `actors` (one entry per role) and `run`.
import { z } from 'zod';

export const actorRoleSchema = z
  .object({
    threads: z
      .number()
      .int()
      .min(1)
      .max(256)
      .default(1)
      .describe(
        'Worker threads for this role. Stateful roles (learner, rollout with a loaded engine) use 1; stateless roles (reward scoring) may use several. Default 1.',
      ),
    max_queue: z
      .number()
      .int()
      .min(0)
      .default(64)
      .describe(
        'Mailbox bound: messages that may wait beyond those running (beyond the messages its workers are running). A full mailbox applies backpressure (see on_full). Default 64.',
      ),
    on_full: z
      .enum(['wait', 'reject'])
      .default('wait')
      .describe(
        "What a sender does when the mailbox is full: 'wait' for room (backpressure) or 'reject' with a MailboxFullError. Default 'wait'.",
      ),
    retries: z
      .number()
      .int()
      .min(0)
      .max(100)
      .optional()
      .describe(
        "Retries of a message whose handler threw or whose worker crashed (the worker is replaced), before the message is dead-lettered with the original error. Default: the role's own (training job: rollout 1, learner 2 with run.learner_recovery and 0 without, others 2).",
      ),
    deadline_ms: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe(
        'Per-message deadline in milliseconds; on expiry the call fails with a timeout error and the worker is replaced. 0 = no deadline. Default 0.',
      ),
    module: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Actor module override: a path, absolute or relative to the current directory (a .ts path runs its compiled .js). Default: loractor's own actors/<role>.ts.",
      ),
    transport: z
      .enum(['msgpack', 'clone'])
      .default('msgpack')
      .describe(
        "Control-message encoding: 'msgpack' (msgpackr records) or 'clone' (structured clone). Bulk data always travels as SharedArrayBuffer descriptors. Default 'msgpack'.",
      ),
    atomics: z
      .enum(['async', 'sync'])
      .default('async')
      .describe(
        "How an idle worker waits for work: 'async' keeps its event loop running (needed by actors with timers or engine callbacks); 'sync' blocks in Atomics.wait for ~10 µs lower latency. Default 'async'.",
      ),
    config: z
      .record(z.string(), z.unknown())
      .optional()
      .describe("Role-specific settings handed to the actor's init(config). Default {}."),
  })
  .strict();

export const actorsSchema = z
  .record(z.string().regex(/^[a-z][a-z0-9_-]*$/, 'role names are lower-case identifiers'), actorRoleSchema)
  .default({})
  .describe('Actor roles to spawn: role name → settings. Default {} (the coordinator supplies its standard roles).');

export const runSchema = z
  .object({
    out_dir: z
      .string()
      .min(1)
      .default('runs/latest')
      .describe(
        "Run folder (metrics.jsonl, checkpoints, report); a relative path resolves against the config file's folder (--out on the command line: against the current directory). A new run needs an absent or empty folder (--resume continues the run in it, --overwrite moves it aside); one run at a time holds it (lock file .loractor.lock). TRL output_dir. Default 'runs/latest'.",
      ),
    max_steps: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe('Stop after this many optimizer steps (TRL max_steps). Default: one pass over the data.'),
    seed: z
      .number()
      .int()
      .min(0)
      .max(0xffffffff)
      .default(42)
      .describe('Seed of every random choice (data order, sampling, LoRA init, dropout). TRL seed. Default 42.'),
    checkpoint_every: z
      .number()
      .int()
      .min(0)
      .default(50)
      .describe('Save an adapter checkpoint every N steps (TRL save_steps); 0 = only at the end. Default 50.'),
    sync_timeout_s: z
      .number()
      .positive()
      .default(120)
      .describe(
        'How long a rollout actor may take to apply and acknowledge a new adapter version; past it the actor is named as late, its worker replaced and the sync retried once, then the run fails. Default 120.',
      ),
    sync_retries: z
      .number()
      .int()
      .min(0)
      .default(2)
      .describe(
        'When a rollout actor rejects a version (its bytes fail checksum verification), the learner republishes it and the sync is retried up to this many times before the run aborts. Default 2.',
      ),
    max_reward_failure_rate: z
      .number()
      .min(0)
      .max(1)
      .default(0.5)
      .describe(
        "Abort the run when more than this fraction of one step's completions could not be scored (timeouts, crashes; each also logged to the quarantine file). 1 = never abort. Default 0.5.",
      ),
    max_consecutive_skipped_updates: z
      .number()
      .int()
      .min(1)
      .default(3)
      .describe(
        'Abort the run (after checkpointing) when this many updates in a row were skipped for non-finite loss or gradients. Default 3.',
      ),
    learner_recovery: z
      .boolean()
      .default(true)
      .describe(
        "Commit the learner's state (adapter, AdamW moments, RNG, the step's reply) to shared memory after each step, so a crashed or hung learner worker is replaced and the step retried with identical results. Costs 3 × 3 × adapter size floats of memory (two shared halves and a packing buffer) and one copy per step. Default true.",
      ),
  })
  .strict()
  .default({
    out_dir: 'runs/latest',
    seed: 42,
    checkpoint_every: 50,
    sync_timeout_s: 120,
    sync_retries: 2,
    max_reward_failure_rate: 0.5,
    max_consecutive_skipped_updates: 3,
    learner_recovery: true,
  })
  .describe('Run settings.');

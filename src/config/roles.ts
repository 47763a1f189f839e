// The `roles` section: where the training job's rollout and reward roles run. Local (worker threads
// of this process, the default) or on `loractor worker` processes over NATS JetStream, on this host
// or others (docs/multi-host.md). The NATS server's URL and credentials come from the command line
// (--nats URL, --nats-creds FILE), never from a config file that may be shared.
import { z } from 'zod';

const transport = z
  .enum(['local', 'nats'])
  .default('local')
  .describe(
    "Where this role runs: 'local' (worker threads of the coordinator's process) or 'nats' (loractor worker processes on any host, reached through the NATS server given with --nats; same as --remote ROLE). Default 'local'.",
  );
const ackWait = z
  .number()
  .positive()
  .max(3600)
  .default(60)
  .describe(
    'nats: ack deadline of one work item, seconds. A worker extends it while it works; one that stops (killed, hung, cut off) loses the item after this long and another worker takes it. Default 60.',
  );
const maxDeliver = z
  .number()
  .int()
  .min(1)
  .max(100)
  .default(5)
  .describe(
    'nats: deliveries of one work item before it is given up and the step fails naming it (every worker that took it died or hung). Default 5.',
  );

export const remoteRoleSchema = z.object({ transport, ack_wait_s: ackWait, max_deliver: maxDeliver }).strict();

export const rolesSectionSchema = z
  .object({
    rollout: remoteRoleSchema
      .extend({
        prompts_per_item: z
          .number()
          .int()
          .min(0)
          .default(0)
          .describe(
            "nats: prompts per work item. 0 = each rollout actor's whole share of a step in one item: the engine batches exactly as a local actor's, so results are bit-identical to a local run. k > 0 spreads a step over several workers; completions are the same (sampling is keyed by prompt and sample) and log-probs agree to float rounding (≈1e-7), as with model.rollout_actors. Default 0.",
          ),
      })
      .strict()
      .optional()
      .describe('The rollout role (every rollout-N actor).'),
    reward: remoteRoleSchema
      .optional()
      .describe('The reward role (scoring; rewards.reward_timeout_s is the per-item deadline on the worker too).'),
  })
  .strict()
  .default({})
  .describe(
    'Where the rollout and reward roles run: locally or on remote workers over NATS JetStream. Default: both local.',
  );

export type RolesSection = z.infer<typeof rolesSectionSchema>;

// The root config schema: the runtime's sections (actors, run) and each area's own strict section
// schema, composed here. Unknown keys anywhere are errors naming the key.
import { z } from 'zod';
import { actorsSchema, runSchema } from './sections.js';
import {
  dataSectionSchema,
  evalScheduleSchema,
  faultsSectionSchema,
  loraSectionSchema,
  modelSectionSchema,
} from '../coordinator/config.js';
import { grpoConfigSchema } from '../rl/config.js';
import { learnerSectionSchema } from '../rl/learner-config.js';
import { rewardsConfigSchema } from '../rewards/config.js';
import { evalConfigSchema } from '../eval/config.js';
import { rolesSectionSchema } from './roles.js';

export const rootConfigSchema = z
  .object({
    $schema: z.string().optional().describe('Path or URL of the JSON Schema (editor support); ignored.'),
    description: z
      .string()
      .optional()
      .describe('Free text: what this config reproduces and its quirks. Ignored by the run.'),
    actors: actorsSchema,
    run: runSchema,
    model: modelSectionSchema.optional().describe('Base model and rollout engine (required to train).'),
    lora: loraSectionSchema
      .optional()
      .describe(
        "LoRA adapter settings (PEFT LoraConfig names). Default: Tina's r 32 / alpha 128 / dropout 0.05 on all seven projections.",
      ),
    grpo: grpoConfigSchema.optional().describe('GRPO settings with TRL GRPOConfig names and defaults.'),
    learner: learnerSectionSchema,
    data: dataSectionSchema.optional().describe('Where training prompts come from (required to train).'),
    rewards: rewardsConfigSchema.optional().describe('Reward functions, weights and scoring deadlines.'),
    eval: evalConfigSchema
      .extend(evalScheduleSchema.shape)
      .optional()
      .describe('Held-out evaluation: benchmarks, sampling and schedule.'),
    faults: faultsSectionSchema.optional(),
    roles: rolesSectionSchema,
  })
  .strict();

export type LoractorConfig = z.infer<typeof rootConfigSchema>;

// The rewards section of a loractor config: TRL/open-r1 knob names, Tina's defaults.
import { isAbsolute, normalize } from 'node:path';
import { z } from 'zod';
import { BUILTIN_REWARD_NAMES, rewardFuncName, type RewardFuncSpec } from './registry.js';
import type { RewardKwargs } from './types.js';
import { ConfigFieldError } from '../config/field-error.js';

const customRewardSpecSchema = z
  .object({
    custom: z
      .string()
      .min(1)
      .describe(
        "Path to an ES module exporting a reward function (completions, ctx) => (number|null)[]; relative paths resolve against the config file's folder. No default.",
      ),
    name: z
      .string()
      .min(1)
      .optional()
      .describe('Name its scores are reported under (rewards/<name>). Default: the file name without extension.'),
    export: z.string().min(1).optional().describe('Which export is the function. Default: "default".'),
  })
  .strict();

export const rewardFuncSpecSchema = z.union(
  [z.enum(BUILTIN_REWARD_NAMES).describe('A built-in reward function.'), customRewardSpecSchema],
  {
    error: (iss) =>
      typeof iss.input === 'string'
        ? `unknown reward function ${JSON.stringify(iss.input)}; the built-in ones are ${BUILTIN_REWARD_NAMES.join(', ')} (or give {"custom": "path/to/module.js"})`
        : 'expected a built-in reward function name or {"custom": "path/to/module.js"}',
  },
);

export const rewardsConfigSchema = z
  .object({
    reward_funcs: z
      .array(rewardFuncSpecSchema)
      .min(1)
      .default(['format', 'accuracy'])
      .describe(
        `Reward functions, by name (${BUILTIN_REWARD_NAMES.join(', ')}) or {"custom": "path.js"}. Default: ["format", "accuracy"] (Tina open_rs1/open_rs2/deepscaler/limr).`,
      ),
    reward_weights: z
      .array(z.number().finite())
      .nullable()
      .default(null)
      .describe(
        "Weight of each reward function, same order and length as reward_funcs (TRL). Default: null = 1.0 each. Tina's open_rs recipes use [1.0, 2.0] for [format, accuracy].",
      ),
    cosine_min_value_wrong: z
      .number()
      .finite()
      .default(0.0)
      .describe(
        'Cosine reward for a wrong answer of length 0. Default: 0.0 (Tina/open-r1 script default; the open-r1 function default is -1.0).',
      ),
    cosine_max_value_wrong: z
      .number()
      .finite()
      .default(-0.5)
      .describe('Cosine reward for a wrong answer of length cosine_max_len. Default: -0.5.'),
    cosine_min_value_correct: z
      .number()
      .finite()
      .default(0.5)
      .describe('Cosine reward for a correct answer of length cosine_max_len. Default: 0.5.'),
    cosine_max_value_correct: z
      .number()
      .finite()
      .default(1.0)
      .describe('Cosine reward for a correct answer of length 0. Default: 1.0.'),
    cosine_max_len: z
      .number()
      .positive()
      .default(1000)
      .describe(
        'Length (characters) at which the cosine schedule reaches its end value; progress is not clipped beyond it. Default: 1000 (Tina launches open_rs3/open_r1/thoughts with 3584).',
      ),
    repetition_n_grams: z
      .number()
      .int()
      .min(1)
      .default(3)
      .describe('n-gram size of the repetition penalty. Default: 3.'),
    repetition_max_penalty: z
      .number()
      .finite()
      .max(0)
      .default(-1.0)
      .describe('Penalty when every n-gram repeats; must be ≤ 0 (positive raises, as open-r1). Default: -1.0.'),
    reward_timeout_s: z
      .number()
      .positive()
      .default(3)
      .describe(
        "Per-completion scoring deadline in seconds; past it the worker is terminated and the item scored reward_failure_value. Default: 3 (math_verify's timeout).",
      ),
    reward_failure_value: z
      .number()
      .finite()
      .nullable()
      .default(0.0)
      .describe(
        'Score every function of a timed-out or crashed item gets; null skips it in the weighted sum. Default: 0.0 (math_verify counts a timeout as not verified).',
      ),
    reward_num_workers: z.number().int().min(1).default(2).describe('Threads in the reward pool. Default: 2.'),
    reward_quarantine_path: z
      .string()
      .min(1)
      .default('reward_quarantine.jsonl')
      .describe(
        'JSONL file receiving each failed item (reason, error, text): a path inside the run folder, relative to it (files a run writes stay in its folder). Default: "reward_quarantine.jsonl".',
      ),
    reward_quarantine_max_chars: z
      .number()
      .int()
      .min(0)
      .default(1_000_000)
      .describe(
        'At most this many characters of a failed completion are written to the quarantine log (its full length and sha256 are always written). Default: 1000000.',
      ),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const q = cfg.reward_quarantine_path;
    if (isAbsolute(q) || normalize(q).split(/[\\/]/)[0] === '..') {
      ctx.addIssue({
        code: 'custom',
        path: ['reward_quarantine_path'],
        message: `must be a path inside the run folder, relative to it (files a run writes stay in its folder), got ${JSON.stringify(q)}`,
      });
    }
    if (cfg.reward_weights !== null && cfg.reward_weights.length !== cfg.reward_funcs.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['reward_weights'],
        message: `reward_weights has ${cfg.reward_weights.length} entries but reward_funcs has ${cfg.reward_funcs.length}`,
      });
    }
    const seen = new Set<string>();
    cfg.reward_funcs.forEach((spec, i) => {
      const n = rewardFuncName(spec as RewardFuncSpec);
      if (seen.has(n))
        ctx.addIssue({ code: 'custom', path: ['reward_funcs', i], message: `duplicate reward function name "${n}"` });
      seen.add(n);
    });
  });

export type RewardsConfig = z.output<typeof rewardsConfigSchema>;
export type RewardsConfigInput = z.input<typeof rewardsConfigSchema>;

/** Validate (and default) a rewards config; errors name the offending field. */
export function parseRewardsConfig(input: unknown): RewardsConfig {
  const r = rewardsConfigSchema.safeParse(input ?? {});
  if (!r.success) {
    const msg = r.error.issues.map((iss) => `${iss.path.join('.') || '(root)'}: ${iss.message}`).join('; ');
    throw new ConfigFieldError(`rewards config: ${msg}`, ['rewards', ...r.error.issues[0]!.path.map(String)].join('.'));
  }
  return r.data;
}

export function rewardKwargsOf(cfg: RewardsConfig): RewardKwargs {
  return {
    cosine_min_value_wrong: cfg.cosine_min_value_wrong,
    cosine_max_value_wrong: cfg.cosine_max_value_wrong,
    cosine_min_value_correct: cfg.cosine_min_value_correct,
    cosine_max_value_correct: cfg.cosine_max_value_correct,
    cosine_max_len: cfg.cosine_max_len,
    repetition_n_grams: cfg.repetition_n_grams,
    repetition_max_penalty: cfg.repetition_max_penalty,
  };
}

export function rewardWeightsOf(cfg: RewardsConfig): number[] {
  return cfg.reward_weights ?? cfg.reward_funcs.map(() => 1.0);
}

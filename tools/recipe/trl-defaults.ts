// The defaults a recipe's trainer saw for the knobs it leaves out, by the TRL version the recipe's
// project pins (Tina: trl==0.15.2 in scripts/set/set_env.sh; open-r1: trl==0.18.0 in setup.py).
// Only defaults that changed between TRL versions are in the table; each row names where it was read
// (trl/trainer/grpo_config.py at the tag). Keys are loractor's grpo section names.

export interface DefaultChange {
  knob: string;
  /** [first TRL version with this default, value], oldest first. */
  values: [string, unknown][];
  source: string;
}

/** GRPO came to TRL in 0.14; anything older has no GRPOTrainer. */
export const OLDEST_TRL = '0.14.0';

export const TRL_DEFAULT_CHANGES: DefaultChange[] = [
  {
    knob: 'beta',
    values: [
      ['0.14.0', 0.04],
      ['0.19.0', 0.0],
    ],
    source: 'GRPOConfig.beta: 0.04 up to v0.18.x, 0.0 from v0.19.0',
  },
  {
    knob: 'temperature',
    values: [
      ['0.14.0', 0.9],
      ['0.18.0', 1.0],
    ],
    source: 'GRPOConfig.temperature: 0.9 up to v0.17.0, 1.0 from v0.18.0',
  },
  {
    knob: 'top_k',
    values: [
      ['0.14.0', null],
      ['0.16.0', 50],
      ['0.18.0', null],
    ],
    source:
      'GRPOConfig.top_k: no field before v0.16.0 (vLLM sampling, no top-k), 50 in v0.16.0-v0.17.0, None from v0.18.0 (0 from v0.27.0, also off)',
  },
  {
    knob: 'loss_type',
    values: [
      ['0.14.0', 'grpo'],
      ['0.17.0', 'bnpo'],
      ['0.22.0', 'dapo'],
    ],
    source:
      "GRPOConfig.loss_type: no field before v0.17.0 (the per-sequence mean, loractor 'grpo'), 'bnpo' in v0.17.0-v0.21.0, 'dapo' from v0.22.0",
  },
  {
    knob: 'scale_rewards',
    values: [
      ['0.14.0', true],
      ['0.22.0', 'group'],
    ],
    source:
      "GRPOConfig.scale_rewards: True (std scaling, no field before v0.16.0) up to v0.21.0, 'group' (the same) from v0.22.0",
  },
  {
    knob: 'importance_sampling_correction',
    values: [
      ['0.14.0', false],
      ['0.23.0', true],
    ],
    source:
      'GRPOConfig.vllm_importance_sampling_correction: no field (no correction) before v0.23.0, True from v0.23.0',
  },
  {
    knob: 'importance_sampling_clip_max',
    values: [
      ['0.23.0', 2.0],
      ['0.26.0', 3.0],
    ],
    source:
      'GRPOConfig.vllm_importance_sampling_cap (loractor importance_sampling_clip_max; TRL vllm_importance_sampling_clip_max maps to it too): 2.0 in v0.23.0-v0.25.x, 3.0 from v0.26.0',
  },
  {
    knob: 'max_prompt_length',
    values: [
      ['0.14.0', 512],
      ['0.26.0', null],
    ],
    source:
      'GRPOConfig.max_prompt_length: 512 up to v0.25.x, None from v0.26.0 (removed in v0.28.0: prompts are not truncated)',
  },
];

/** Defaults no TRL version changed (GRPOConfig, and the TrainingArguments ones TRL keeps). */
export const TRL_STABLE_DEFAULTS: Record<string, unknown> = {
  learning_rate: 1e-6,
  lr_scheduler_type: 'linear',
  lr_scheduler_kwargs: {},
  warmup_ratio: 0,
  warmup_steps: 0,
  max_steps: -1,
  num_train_epochs: 3,
  weight_decay: 0,
  adam_beta1: 0.9,
  adam_beta2: 0.999,
  adam_epsilon: 1e-8,
  max_grad_norm: 1.0,
  per_device_train_batch_size: 8,
  gradient_accumulation_steps: 1,
  num_generations: 8,
  epsilon: 0.2,
  epsilon_high: null,
  num_iterations: 1,
  max_completion_length: 256,
  top_p: 1.0,
  seed: 42,
};

/** "0.15.2" -> [0, 15, 2]; throws on anything else. */
export function parseVersion(v: string): number[] {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?$/.exec(v.trim());
  if (!m) throw new Error(`TRL version '${v}' is not a version number like 0.18.0`);
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a);
  const y = parseVersion(b);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

/** The TRL defaults of `version` for loractor's grpo knobs, and which of them the version decided. */
export function trlDefaults(version: string): { defaults: Record<string, unknown>; decided: string[] } {
  if (compareVersions(version, OLDEST_TRL) < 0)
    throw new Error(`TRL ${version} has no GRPOTrainer (it came in ${OLDEST_TRL})`);
  const defaults: Record<string, unknown> = { ...TRL_STABLE_DEFAULTS };
  const decided: string[] = [];
  for (const c of TRL_DEFAULT_CHANGES) {
    const applicable = c.values.filter(([since]) => compareVersions(version, since) >= 0);
    if (applicable.length === 0) continue;
    defaults[c.knob] = applicable[applicable.length - 1]![1];
    decided.push(`${c.knob}=${JSON.stringify(defaults[c.knob])}`);
  }
  return { defaults, decided };
}

// GRPO config: defaults, strictness, descriptions, cross-field checks naming the field, derivations.
import t from 'tap';
import { grpoConfigSchema, resolveGrpoConfig, GrpoConfigError } from '../../src/rl/config.js';
import { learningRateAt } from '../../src/rl/schedule.js';

// Tina open_rs3 on one process: per-device 6 × 2 GPUs → 12 completions per micro-batch, grad-accum 4.
const tinaOpenRs3 = {
  learning_rate: 1e-6,
  lr_scheduler_type: 'cosine_with_min_lr',
  lr_scheduler_kwargs: { min_lr_rate: 0.1 },
  warmup_ratio: 0.1,
  max_steps: 1500,
  stop_at_step: 850,
  gradient_accumulation_steps: 4,
  per_device_train_batch_size: 12,
  num_generations: 6,
  max_prompt_length: 512,
  max_completion_length: 3584,
  temperature: 0.7,
  seed: 42,
};

t.test('defaults follow TRL / HF and every knob is described', async (t) => {
  const c = grpoConfigSchema.parse({});
  t.equal(c.learning_rate, 1e-6);
  t.equal(c.beta, 0.04);
  t.equal(c.epsilon, 0.2);
  t.equal(c.epsilon_high, null);
  t.equal(c.num_generations, 8);
  t.equal(c.scale_rewards, 'group');
  t.equal(c.loss_type, 'grpo');
  t.equal(c.max_grad_norm, 1);
  t.equal(c.adam_beta2, 0.999);
  t.equal(c.importance_sampling_clip_max, 2);
  t.equal(c.importance_sampling_mode, 'token_truncate');
  const shape = grpoConfigSchema.shape as Record<string, { description?: string }>;
  const missing = Object.keys(shape).filter((k) => !shape[k]!.description || !/default/i.test(shape[k]!.description!));
  t.same(missing, [], 'every knob has a description that names its default');
  t.ok(Object.keys(shape).length >= 30, `${Object.keys(shape).length} knobs`);
});

t.test("strict: unknown keys are rejected by name (Tina's silent scale_reward typo cannot happen)", async (t) => {
  const err = t.throws(() => resolveGrpoConfig({ scale_reward: false }), GrpoConfigError) as GrpoConfigError;
  t.match(err.message, /scale_reward/);
  t.throws(
    () => resolveGrpoConfig({ max_steps: 10, lr_scheduler_kwargs: { min_lr_ratio: 0.1 } }),
    /lr_scheduler_kwargs.*min_lr_ratio|min_lr_ratio/,
  );
  t.throws(() => resolveGrpoConfig({ max_steps: 10, loss_type: 'ppo' }), /loss_type/);
  t.throws(() => resolveGrpoConfig({ max_steps: 10, num_generations: 1 }), /num_generations/);
});

t.test("Tina open_rs3 resolves to the recipe's numbers", async (t) => {
  const r = resolveGrpoConfig(tinaOpenRs3);
  t.equal(r.completionsPerStep, 48);
  t.equal(r.promptsPerStep, 8);
  t.equal(r.maxSteps, 1500);
  t.equal(r.stopAtStep, 850);
  t.equal(r.schedule.warmupSteps, 150);
  t.equal(r.scaleRewards, 'group');
  t.equal(r.epsilonHigh, 0.2);
  t.ok(Math.abs(learningRateAt(r.schedule, 1500) - 1e-7) < 1e-20, 'lr floor 1e-7');
  t.same(r.adamw, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 });
  t.same(r.warnings, []);
});

t.test('cross-field checks name the field to change', async (t) => {
  const fails = (input: object, field: string, opts?: { datasetSize?: number }) => {
    try {
      resolveGrpoConfig(input, opts);
      t.fail(`expected an error naming ${field}`);
    } catch (e) {
      t.ok(
        e instanceof GrpoConfigError && e.issues.some((i) => i.field === field),
        `${field}: ${(e as Error).message}`,
      );
    }
  };
  fails({ max_steps: 10, per_device_train_batch_size: 5, num_generations: 4 }, 'per_device_train_batch_size');
  fails({ max_steps: 10, per_device_train_batch_size: 8, num_generations: 4, prompts_per_step: 3 }, 'prompts_per_step');
  fails({}, 'max_steps');
  fails({ max_steps: 10, lr_scheduler_type: 'cosine_with_min_lr' }, 'lr_scheduler_kwargs');
  fails({ max_steps: 10, lr_scheduler_kwargs: { min_lr_rate: 0.1 } }, 'lr_scheduler_kwargs');
  fails({ max_steps: 10, stop_at_step: 11 }, 'stop_at_step');
  fails({ max_steps: 10, warmup_steps: 11 }, 'warmup_steps');
  fails({ max_steps: 10, temperature: 0 }, 'temperature');
  fails({ max_steps: 10, top_p: 1.5 }, 'top_p');
});

t.test('max_steps -1 derives the horizon from the dataset; warnings for odd combinations', async (t) => {
  // 7000 prompts (open-rs), 8 prompts per step, 1 epoch → 875 steps.
  const r = resolveGrpoConfig({ ...tinaOpenRs3, max_steps: -1, stop_at_step: null }, { datasetSize: 7000 });
  t.equal(r.maxSteps, 875);
  t.equal(r.stopAtStep, 875);
  const w = resolveGrpoConfig({
    max_steps: 5,
    max_staleness: 2,
    importance_sampling_correction: false,
    advantage_estimator: 'rloo',
    scale_rewards: false,
  });
  t.same(w.warnings.map((x) => x.field).sort(), ['importance_sampling_correction', 'scale_rewards']);
  t.equal(resolveGrpoConfig({ max_steps: 5, scale_rewards: true }).scaleRewards, 'group');
});

t.test('inert-knob warnings name knobs set to a non-default value, not every key a loaded config holds', async (t) => {
  const filled = grpoConfigSchema.parse({ max_steps: 10 });
  t.same(
    resolveGrpoConfig(filled).warnings.filter((w) => /has no effect/.test(w.message)),
    [],
    'a config with every key at its default: no warning',
  );
  const w = resolveGrpoConfig({ ...filled, sapo_temperature_pos: 2 }).warnings.map((x) => x.field);
  t.ok(w.includes('sapo_temperature_pos'), 'sapo_temperature_pos 2 under loss_type grpo is named');
  t.notOk(w.includes('sapo_temperature_neg'), 'the other SAPO knob, at its default, is not');
});

// tools/import-recipe maps the algorithm knobs of current TRL GRPOConfig recipes onto loractor's:
// num_iterations, steps_per_generation (per process, so folded with the processes like the
// micro-batches), generation_batch_size, delta, importance_sampling_level, loss_type cispo / sapo
// and the SAPO temperatures, vllm_importance_sampling_* (the behaviour correction, which changes the
// loss — not infrastructure), mask_truncated_completions, top_p / top_k; a TRL knob loractor does
// not implement is refused with the TRL version that introduced it, unless set to TRL's default;
// the same table answers a TRL knob written into a loractor config's grpo section.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import { importRecipe } from '../../tools/import-recipe.js';
import { resolveGrpoConfig } from '../../src/rl/config.js';
import { validateConfig } from '../../src/config/load.js';

const limr = readFileSync(join(repoRoot(), 'test', 'fixtures', 'tina', 'train_model_limr.yaml'), 'utf8');
const withKeys = (extra: string) => `${limr.trimEnd()}\n${extra}\n`;

t.test("current TRL algorithm knobs map onto loractor's, and the result resolves", async (t) => {
  const r = importRecipe(
    withKeys(
      [
        'num_iterations: 2',
        'steps_per_generation: 4',
        'delta: 1.5',
        'importance_sampling_level: sequence',
        'loss_type: cispo',
        'epsilon_high: 5.0',
        'vllm_importance_sampling_correction: true',
        'vllm_importance_sampling_mode: token_mask',
        'vllm_importance_sampling_clip_max: 3.0',
        'vllm_importance_sampling_clip_min: 0.5',
        'mask_truncated_completions: true',
        'top_p: 0.95',
        'top_k: 20',
        'sapo_temperature_pos: 1.1',
        'sapo_temperature_neg: 1.2',
        'dynamic_sampling: refill',
        'max_num_gen_batches: 4',
      ].join('\n'),
    ),
    { source: 'trl1.yaml', numProcesses: 2 },
  );
  const g = r.config.grpo as Record<string, unknown>;
  t.match(g, {
    num_iterations: 2,
    steps_per_generation: 8,
    delta: 1.5,
    importance_sampling_level: 'sequence',
    loss_type: 'cispo',
    epsilon_high: 5,
    importance_sampling_correction: true,
    importance_sampling_mode: 'token_mask',
    importance_sampling_clip_max: 3,
    importance_sampling_clip_min: 0.5,
    mask_truncated_completions: true,
    top_p: 0.95,
    top_k: 20,
    sapo_temperature_pos: 1.1,
    sapo_temperature_neg: 1.2,
    dynamic_sampling: 'refill',
    max_num_gen_batches: 4,
  });
  t.notOk(
    r.ignored.some((i) => i.key.startsWith('vllm_importance_sampling')),
    'the IS knobs are not classed as infrastructure',
  );
  const resolved = resolveGrpoConfig(g, { datasetSize: 1000 });
  // per_device 4 × steps_per_generation 4 per process × 2 processes = 32 completions per generation, as TRL.
  t.same(
    [
      resolved.generationBatchSize,
      resolved.plan.stepsPerGeneration,
      resolved.plan.gradientAccumulationSteps,
      resolved.plan.numIterations,
    ],
    [32, 8, 8, 2],
  );
  t.same(resolved.correction, { mode: 'token_mask', clipMin: 0.5, clipMax: 3 });
  // The deprecated cap is the upper bound; generation_batch_size is global already.
  const cap = importRecipe(withKeys('vllm_importance_sampling_cap: 2.5\ngeneration_batch_size: 64'), {
    source: 'cap.yaml',
  });
  t.match(cap.config.grpo, { importance_sampling_clip_max: 2.5, generation_batch_size: 64 });
});

t.test("TRL knobs loractor does not implement: refused with the version, unless at TRL's default", async (t) => {
  t.throws(
    () => importRecipe(withKeys('top_entropy_quantile: 0.2'), { source: 'r.yaml' }),
    /key 'top_entropy_quantile'.*introduced in TRL 0\.20\.0, not implemented by loractor/,
  );
  t.throws(() => importRecipe(withKeys('off_policy_mask_threshold: 0.5'), { source: 'r.yaml' }), /TRL 0\.27\.0/);
  t.throws(
    () => importRecipe(withKeys('loss_type: luspo'), { source: 'r.yaml' }),
    /loss_type 'luspo' \(TRL 0\.28\.0\) is not implemented/,
  );
  t.throws(() => importRecipe(withKeys('use_adaptive_entropy: true'), { source: 'r.yaml' }), /TRL 1\.8\.0/);
  const atDefault = importRecipe(withKeys('top_entropy_quantile: 1.0\nsync_ref_model: false'), { source: 'r.yaml' });
  t.ok(
    atDefault.ignored.some((i) => i.key === 'top_entropy_quantile' && /TRL's default/.test(i.why)),
    'at the default: listed as ignored',
  );
  const noDrop = importRecipe(withKeys('disable_dropout: true'), { source: 'r.yaml' });
  t.equal((noDrop.config.lora as Record<string, unknown>).lora_dropout, 0, 'disable_dropout true → lora_dropout 0');
});

t.test("a TRL knob in a loractor config's grpo section is answered from the same table", async (t) => {
  const cfg = (grpo: Record<string, unknown>) => () => validateConfig({ grpo }, 'c.json');
  t.throws(
    cfg({ top_entropy_quantile: 0.2 }),
    /grpo\.top_entropy_quantile: TRL GRPOConfig knob introduced in TRL 0\.20\.0, not implemented by loractor/,
  );
  t.throws(
    cfg({ vllm_importance_sampling_mode: 'token_mask' }),
    /grpo\.vllm_importance_sampling_mode: .*in loractor it is importance_sampling_mode/,
  );
  t.throws(
    cfg({ importance_sampling_cap: 2 }),
    /grpo\.importance_sampling_cap: renamed: write importance_sampling_clip_max/,
  );
  t.throws(cfg({ use_vllm: true }), /grpo\.use_vllm: .*does not change what is trained/);
  t.throws(
    () => resolveGrpoConfig({ max_steps: 5, entropy_coef: 0.01 }),
    /entropy_coef: TRL GRPOConfig knob introduced in TRL 1\.8\.0/,
  );
  t.throws(cfg({ not_a_knob: 1 }), /grpo\.not_a_knob: unknown key/);
});

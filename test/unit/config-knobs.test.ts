// Every knob of the config schema acts, or is documented as not acting: a knob that is parsed and
// then never read (as num_iterations was) fails here. The test walks the root zod schema and
// requires each leaf to be classified:
//   effect   changing it changes a computation, checked here at the lowest level where it acts —
//            every grpo knob through the functions runTraining and the roles build the learner, the
//            rollout engines and the advantage actor from (src/rl/consumers.ts); lora and actors
//            knobs through the adapter layout / forward pass and the role specs;
//   test     its effect is checked by the named test, which must mention it;
//   wired    read where named (an end-to-end effect would need a whole run); the file must read it;
//   logging  documented as not changing what is computed.
// A new knob fails until it is classified; a stale entry fails too.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { rootConfigSchema } from '../../src/config/schema.js';
import { actorRoleSchema } from '../../src/config/sections.js';
import { actorSpecsFromConfig } from '../../src/config/actors.js';
import { loraSectionSchema } from '../../src/coordinator/config.js';
import { resolveGrpoConfig } from '../../src/rl/config.js';
import { advantageSettings, learnerAlgorithm, rolloutSampling } from '../../src/rl/consumers.js';
import { completionMask, policyLoss } from '../../src/rl/loss.js';
import { buildBatch } from '../../src/rl/learner-batch.js';
import { scoreRows } from '../../src/rl/token-distribution.js';
import { learningRateAt } from '../../src/rl/schedule.js';
import { createAdamWState, optimizerStep } from '../../src/rl/optimizer.js';
import { microBatchesOfStep, needsOldLogprobs } from '../../src/rl/generation-plan.js';
import { admitGroups } from '../../actors/advantage.js';
import { sampleToken, createSamplerScratch } from '../../src/engines/builtin/sampling.js';
import { createLoraLayout, initLoraAdapter, loraScale } from '../../src/model/lora.js';
import { createRandomModel } from '../../src/model/weights.js';
import { forwardTrain } from '../../src/model/train.js';
import { repoRoot } from '../../src/util/paths.js';
import { Rng } from '../../src/util/rng.js';
import { tinyConfig, randomBatch } from '../helpers/model-helpers.js';

type Knob =
  | { kind: 'effect'; base?: Record<string, unknown>; to: unknown }
  | { kind: 'test'; file: string; evidence?: string }
  | { kind: 'wired'; file: string; evidence: string }
  | { kind: 'logging'; why: string };

// ---- the schema's leaves ----------------------------------------------------------------------

function unwrap(s: z.ZodType): z.ZodType {
  for (;;) {
    const d = (s as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
    if (['optional', 'default', 'nullable', 'prefault', 'readonly', 'catch'].includes(d.type as string)) {
      s = d.innerType as z.ZodType;
      continue;
    }
    if (d.type === 'pipe') {
      s = d.in as z.ZodType;
      continue;
    }
    return s;
  }
}
function leaves(s: z.ZodType, path: string, out: Set<string>): void {
  const d = (unwrap(s) as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
  const kind = d.type as string;
  if (kind === 'object') {
    for (const [k, v] of Object.entries(d.shape as Record<string, z.ZodType>))
      leaves(v, path ? `${path}.${k}` : k, out);
    return;
  }
  if (kind === 'record' && path === 'actors') {
    leaves(d.valueType as z.ZodType, `${path}.<role>`, out);
    return;
  }
  if (kind === 'array') {
    const el = (unwrap(d.element as z.ZodType) as unknown as { _zod: { def: { type: string } } })._zod.def;
    if (el.type === 'object') {
      leaves(d.element as z.ZodType, `${path}[]`, out);
      return;
    }
  }
  if (
    kind === 'union' &&
    (d.options as z.ZodType[]).every(
      (o) => (unwrap(o) as unknown as { _zod: { def: { type: string } } })._zod.def.type === 'object',
    )
  ) {
    for (const o of d.options as z.ZodType[]) leaves(o, path, out);
    return;
  }
  out.add(path);
}

// ---- effect checks -----------------------------------------------------------------------------

const EOS = 2;
/** A batch where every regime of the loss occurs: ratios far from 1 both ways, behaviour ratios out of every bound, a truncated row. */
async function grpoFingerprint(input: Record<string, unknown>): Promise<unknown> {
  const r = resolveGrpoConfig(input, { datasetSize: 1000 });
  const la = learnerAlgorithm(r);
  const N = 4,
    T = 5;
  const ids = Int32Array.of(5, 6, EOS, 0, 0, /**/ 7, 8, 9, 10, 11, /**/ 5, EOS, 0, 0, 0, /**/ 9, 9, 9, EOS, 0);
  const lengths = [3, 5, 2, 4];
  const mask = completionMask(ids, N, T, EOS, lengths, undefined, la.maskTruncatedCompletions);
  const rng = new Rng(9);
  const logp = Float64Array.from({ length: N * T }, () => -0.3 - 2 * rng.next());
  const ratios = [1.9, 0.4, 1.3, 0.7, 1.05, 0.3, 2.5, 1.1, 0.9, 1.6, 0.55, 1.45, 1, 0.95, 1.7, 0.8, 1.2, 0.6, 2.2, 1];
  const old = logp.map((x, k) => x - Math.log(ratios[k]!));
  const behRatios = [3.5, 0.2, 1.2, 0.45, 2.5, 0.9, 5, 0.3, 1, 1.4, 0.1, 2.1, 1, 0.7, 4, 1.8, 0.6, 1.1, 0.35, 1];
  const beh = (needsOldLogprobs(r.plan) ? old : logp).map((x, k) => x - Math.log(behRatios[k]!));
  const ref = logp.map((x, k) => x + 0.3 * Math.sin(k));
  const loss = policyLoss(
    {
      numSequences: N,
      seqLen: T,
      logp,
      mask,
      advantages: [1.2, -0.8, 0.5, -1.5],
      refLogp: ref,
      behaviourLogp: beh,
      ...(needsOldLogprobs(r.plan) ? { oldLogp: old } : {}),
    },
    {
      ...la.objective,
      correction: la.correction,
      maxCompletionLength: la.maxCompletionLength,
      global: { sequences: N, tokens: 14, microBatches: la.gradientAccumulationSteps },
    },
  );
  const built = buildBatch(
    [{ promptIds: Array.from({ length: 700 }, (_, i) => i % 20), completionIds: [1, 2, 3] }],
    la.maxPromptLength,
  );
  const logits = Float64Array.from({ length: 3 * 40 }, (_, i) => 2 * Math.sin(i * 1.7));
  const rows = scoreRows(
    { logits, targets: [3, 17, 25], rows: 3, vocab: 40, invTemp: 1 / la.logprobTemperature },
    la.truncation,
    false,
  );
  const lrs = Array.from({ length: 12 }, (_, s) => learningRateAt(la.schedule, Math.round((s * r.maxSteps) / 11)));
  const params = Float32Array.from({ length: 6 }, (_, i) => 0.1 * i),
    grad = Float32Array.of(3, -4, 0.5, 2, -1, 0.25),
    st = createAdamWState(6);
  optimizerStep(params, Float32Array.from(grad), st, la.adamw, 1e-2);
  optimizerStep(
    params,
    grad.map((x, i) => x * (i % 2 ? -0.5 : 2)),
    st,
    la.adamw,
    1e-2,
  ); // a different gradient, so the moments matter
  const sampling = rolloutSampling(r, 3);
  const srng = new Rng(sampling.seed);
  const scratch = createSamplerScratch(40);
  const drawn = Array.from({ length: 30 }, (_, i) =>
    sampleToken(Float32Array.from(logits.subarray((i % 3) * 40, ((i % 3) + 1) * 40)), sampling, srng, scratch),
  );
  const adv = advantageSettings(r);
  const G = adv.groupSize;
  const rewards = Array.from({ length: 4 * G }, (_, i) => (i < G ? 1 : ((i * 7) % 5) / 2)); // group 0 has zero std
  return {
    loss: [loss.loss, Array.from(loss.dLogp)],
    prompt: built.prompts,
    rows: Array.from(rows.logp),
    lrs,
    stop: r.stopAtStep,
    params: Array.from(params),
    drawn,
    maxTokens: sampling.max_tokens,
    admit: await admitGroups({ rewards, targetGroups: 4, ...adv }),
    plan: [1, 2, 3, 4].map((s) => microBatchesOfStep(r.plan, s)),
    sizes: [r.completionsPerStep, r.generationBatchSize],
    staleness: la.maxStaleness,
  };
}

const tiny = tinyConfig();
const tinyModel = createRandomModel(tiny, 4, { std: 0.3 });
function loraFingerprint(input: Record<string, unknown>): unknown {
  const l = loraSectionSchema.parse(input);
  const settings = {
    r: l.lora_r,
    alpha: l.lora_alpha,
    dropout: l.lora_dropout,
    targetModules: [...l.lora_target_modules],
  };
  const adapter = initLoraAdapter(tiny, settings, new Rng(1));
  adapter.params.forEach((_, i) => {
    adapter.params[i] = 0.05 * Math.sin(i);
  }); // B ≠ 0, so the adapter acts
  const batch = randomBatch(tiny, 3, [6, 4], [2, 1], 6);
  const { logp } = forwardTrain(tinyModel, adapter, loraScale(settings), batch, { dropoutRng: new Rng(2) });
  return { size: createLoraLayout(tiny, settings).size, logp: Array.from(logp) };
}

function actorFingerprint(input: Record<string, unknown>): unknown {
  return actorSpecsFromConfig({ actors: { learner: actorRoleSchema.parse(input) } });
}

// ---- the table ----------------------------------------------------------------------------------

const e = (to: unknown, base?: Record<string, unknown>): Knob => ({ kind: 'effect', to, ...(base ? { base } : {}) });
const test = (file: string, evidence?: string): Knob => ({ kind: 'test', file, ...(evidence ? { evidence } : {}) });
const wired = (file: string, evidence: string): Knob => ({ kind: 'wired', file, evidence });
const MU2 = { num_iterations: 2 };
const COSINE_MIN = { lr_scheduler_type: 'cosine_with_min_lr', lr_scheduler_kwargs: { min_lr_rate: 0.1 } };

const KNOBS: Record<string, Knob> = {
  $schema: { kind: 'logging', why: 'editor support; ignored' },
  description: { kind: 'logging', why: 'free text; ignored by the run' },
  // actors: each reaches the role spec the ActorSystem runs (its behaviour is the runtime tests').
  'actors.<role>.threads': e(2),
  'actors.<role>.max_queue': e(3),
  'actors.<role>.on_full': e('reject'),
  'actors.<role>.retries': e(5),
  'actors.<role>.deadline_ms': e(1000),
  'actors.<role>.module': e('actors/other.ts'),
  'actors.<role>.transport': e('clone'),
  'actors.<role>.atomics': e('sync'),
  'actors.<role>.config': e({ x: 1 }),
  // run
  'run.out_dir': wired('src/coordinator/open-run.ts', 'run.out_dir'),
  'run.max_steps': test('test/e2e/resume.test.ts', 'max_steps: STEPS'),
  'run.seed': wired('src/coordinator/run-config.ts', 'const seed = run.seed'),
  'run.checkpoint_every': test('test/e2e/resume.test.ts', 'checkpoint_every: 2'),
  'run.sync_timeout_s': test('test/e2e/faults.test.ts', 'sync_timeout_s'),
  'run.sync_retries': wired('src/coordinator/drive-run.ts', 'run.sync_retries'),
  'run.max_reward_failure_rate': test('test/e2e/faults.test.ts', 'max_reward_failure_rate'),
  'run.max_consecutive_skipped_updates': test('test/unit/coordinator-abort.test.ts', 'max_consecutive_skipped_updates'),
  'run.learner_recovery': wired('src/coordinator/spawn-roles.ts', 'run.learner_recovery'),
  // model
  'model.path': wired('src/coordinator/run-config.ts', 'at(modelCfg.path)'),
  'model.hub_id': wired('src/coordinator/spawn-roles.ts', 'modelCfg.hub_id'),
  'model.engine': test('test/e2e/webllm-training.test.ts', "engine: 'webllm'"),
  'model.mlc_dir': test('test/e2e/webllm-training.test.ts', 'mlc_dir'),
  'model.mlc_lib': test('test/e2e/webllm-training.test.ts', 'mlc_lib'),
  'model.rollout_weight_dtype': test('test/e2e/engine-webgpu-training.test.ts', 'rollout_weight_dtype'),
  'model.rollout_max_batch': wired('src/coordinator/spawn-roles.ts', 'modelCfg.rollout_max_batch'),
  'model.rollout_actors': test('test/e2e/coordinator-async.test.ts', 'rollout_actors'),
  // learner (where the learner's arithmetic runs)
  'learner.device': test('test/e2e/learner-webgpu.test.ts', 'device'),
  'learner.weight_dtype': wired('actors/learner.ts', 'weightDtype: dc.weight_dtype'),
  'learner.recompute': wired('actors/learner.ts', 'recompute: dc.recompute'),
  'learner.gpu_memory_gib': wired('src/cli/check-webgpu.ts', 'dev.gpu_memory_gib'),
  // lora
  'lora.lora_r': e(8),
  'lora.lora_alpha': e(16),
  'lora.lora_dropout': e(0.3),
  'lora.lora_target_modules': e(['q_proj', 'o_proj']),
  // grpo: all through grpoFingerprint
  'grpo.learning_rate': e(3e-6),
  'grpo.lr_scheduler_type': e('cosine'),
  'grpo.lr_scheduler_kwargs.min_lr_rate': e({ min_lr_rate: 0.3 }, COSINE_MIN),
  'grpo.lr_scheduler_kwargs.min_lr': e(
    { min_lr: 5e-7 },
    { lr_scheduler_type: 'cosine_with_min_lr', lr_scheduler_kwargs: { min_lr: 1e-7 } },
  ),
  'grpo.lr_scheduler_kwargs.num_cycles': e({ num_cycles: 1.5 }, { lr_scheduler_type: 'cosine' }),
  'grpo.warmup_ratio': e(0.2),
  'grpo.warmup_steps': e(3),
  'grpo.max_steps': e(20),
  'grpo.num_train_epochs': e(2, { max_steps: -1 }),
  'grpo.stop_at_step': e(5),
  'grpo.weight_decay': e(0.1),
  'grpo.adam_beta1': e(0.5),
  'grpo.adam_beta2': e(0.9),
  'grpo.adam_epsilon': e(1e-2),
  'grpo.max_grad_norm': e(0.5),
  'grpo.gradient_accumulation_steps': e(2),
  'grpo.per_device_train_batch_size': e(16),
  'grpo.prompts_per_step': test('test/unit/rl-config.test.ts', 'prompts_per_step'),
  'grpo.num_generations': e(2),
  'grpo.steps_per_generation': e(2),
  'grpo.generation_batch_size': e(16),
  'grpo.beta': e(0.2),
  'grpo.epsilon': e(0.1, MU2),
  'grpo.epsilon_high': e(0.5, MU2),
  'grpo.delta': e(1.5, MU2),
  'grpo.num_iterations': e(2),
  'grpo.importance_sampling_level': e('sequence', MU2),
  'grpo.loss_type': e('dapo'),
  'grpo.sapo_temperature_pos': e(2, { ...MU2, loss_type: 'sapo' }),
  'grpo.sapo_temperature_neg': e(2, { ...MU2, loss_type: 'sapo' }),
  'grpo.mask_truncated_completions': e(true),
  'grpo.scale_rewards': e('batch'),
  'grpo.advantage_estimator': e('rloo'),
  'grpo.dynamic_sampling': e('drop'),
  'grpo.max_num_gen_batches': e(1, { dynamic_sampling: 'refill' }),
  'grpo.max_prompt_length': e(100),
  'grpo.max_completion_length': e(64),
  'grpo.temperature': e(0.6),
  'grpo.top_p': e(0.8),
  'grpo.top_k': e(5),
  'grpo.importance_sampling_correction': e(false),
  'grpo.importance_sampling_mode': e('sequence_mask'),
  'grpo.importance_sampling_clip_max': e(1.5),
  'grpo.importance_sampling_clip_min': e(0.5),
  'grpo.max_staleness': e(1),
  'grpo.seed': e(7),
  // data
  'data.source': wired('src/coordinator/prompts.ts', "data.source === 'task'"),
  'data.task': wired('src/coordinator/prompts.ts', 'family: data.task'),
  'data.levels': test('test/unit/task-generator.test.ts', 'levels'),
  'data.path': test('test/e2e/coordinator-async.test.ts', 'path'),
  'data.dataset_id': test('test/e2e/coordinator-async.test.ts', 'dataset_id'),
  'data.system_prompt': test('test/e2e/tina-check.test.ts', 'system_prompt'),
  'data.chat_template': test('test/e2e/coordinator-async.test.ts', 'chat_template'),
  'data.overlong_prompts': test('test/e2e/run-data-limits.test.ts', 'overlong_prompts'),
  'data.unencodable_text': test('test/e2e/run-data-limits.test.ts', "unencodable_text: 'warn'"),
  'data.chat_template_jinja': test('test/e2e/rewards-l1.test.ts', 'chat_template_jinja'),
  'data.system_prompt_text': test('test/e2e/rewards-l1.test.ts', 'system_prompt_text'),
  'data.prompt_column': test('test/unit/data-readers.test.ts', 'prompt_column'),
  'data.column_mapping': test('test/unit/tina-configs.test.ts', 'column_mapping'),
  'data.l1_target_length.min': test('test/e2e/rewards-l1.test.ts', 'l1_target_length: { min: 100'),
  'data.l1_target_length.max': test('test/e2e/rewards-l1.test.ts', 'max: 4000'),
  // rewards (reward functions and their pool)
  'rewards.reward_funcs': test('test/unit/rewards-config.test.ts', 'reward_funcs'),
  'rewards.reward_weights': test('test/unit/rewards-config.test.ts', 'reward_weights'),
  'rewards.cosine_min_value_wrong': test('test/unit/rewards-config.test.ts', 'cosine_min_value_wrong'),
  'rewards.cosine_max_value_wrong': test('test/unit/rewards-config.test.ts', 'cosine_max_value_wrong'),
  'rewards.cosine_min_value_correct': test('test/unit/rewards-config.test.ts', 'cosine_min_value_correct'),
  'rewards.cosine_max_value_correct': test('test/unit/rewards-config.test.ts', 'cosine_max_value_correct'),
  'rewards.cosine_max_len': test('test/unit/rewards-config.test.ts', 'cosine_max_len'),
  'rewards.repetition_n_grams': test('test/unit/rewards-config.test.ts', 'repetition_n_grams'),
  'rewards.repetition_max_penalty': test('test/unit/rewards-config.test.ts', 'repetition_max_penalty'),
  'rewards.reward_timeout_s': test('test/e2e/faults.test.ts', 'reward_timeout_s'),
  'rewards.reward_failure_value': test('test/unit/rewards-pool.test.ts', 'reward_failure_value'),
  'rewards.reward_num_workers': test('test/unit/rewards-pool.test.ts', 'reward_num_workers'),
  'rewards.reward_quarantine_path': test('test/unit/rewards-pool.test.ts', 'reward_quarantine_path'),
  'rewards.reward_quarantine_max_chars': wired('src/rewards/score-batch.ts', 'cfg.reward_quarantine_max_chars'),
  // eval
  'eval.benchmarks': test('test/unit/eval-errors.test.ts', 'benchmarks'),
  'eval.limit': wired('src/eval/session.ts', 'limit: cfg.limit'),
  'eval.num_samples': wired('src/eval/session.ts', 'samples: cfg.num_samples'),
  'eval.temperature': wired('src/coordinator/roles.ts', 'temperature: b.evalCfg.temperature'),
  'eval.top_p': wired('src/coordinator/roles.ts', 'top_p: b.evalCfg.top_p'),
  'eval.top_k': wired('src/coordinator/roles.ts', 'top_k: b.evalCfg.top_k'),
  'eval.max_new_tokens': wired('src/coordinator/roles.ts', 'max_tokens: b.evalCfg.max_new_tokens'),
  'eval.seed': wired('src/coordinator/roles.ts', 'seed: b.evalCfg.seed'),
  'eval.data_seed': test('test/unit/eval-errors.test.ts', 'data_seed'),
  'eval.batch_size': wired('src/eval/session.ts', 'batchSize: cfg.batch_size'),
  'eval.strict': test('test/unit/eval-errors.test.ts', 'strict'),
  'eval.unencodable_text': test('test/e2e/run-data-limits.test.ts', "'--unencodable-text', 'warn'"),
  'eval.benchmarks_dir': wired('src/eval/session.ts', 'dir: cfg.benchmarks_dir'),
  'eval.benchmark_paths': wired('src/eval/session.ts', 'paths: cfg.benchmark_paths'),
  'eval.synthetic_family': wired('src/eval/session.ts', 'syntheticFamily: cfg.synthetic_family'),
  'eval.synthetic_count': test('test/unit/eval-errors.test.ts', 'synthetic_count'),
  'eval.eval_steps': test('test/e2e/resume.test.ts', 'eval_steps'),
  'eval.eval_before_training': test('test/e2e/resume.test.ts', 'eval_before_training'),
  // roles (where rollout and reward run: locally or on workers over NATS)
  'roles.rollout.transport': test('test/e2e/nats-remote.test.ts', "transport: 'nats'"),
  'roles.rollout.ack_wait_s': test('test/e2e/nats-remote.test.ts', 'ack_wait_s: 3'),
  'roles.rollout.max_deliver': wired('src/transport/nats/run-remote.ts', 'maxDeliver: s.max_deliver'),
  'roles.rollout.prompts_per_item': wired(
    'src/transport/nats/run-remote.ts',
    'promptsPerItem: o.section.rollout?.prompts_per_item',
  ),
  'roles.reward.transport': wired('src/transport/nats/run-remote.ts', "section[r]?.transport === 'nats'"),
  'roles.reward.ack_wait_s': wired('src/transport/nats/run-remote.ts', 'ackWaitMs: s.ack_wait_s * 1000'),
  'roles.reward.max_deliver': wired('src/transport/nats/run-remote.ts', 'maxDeliver: s.max_deliver'),
  // faults
  'faults[].role': test('test/e2e/faults.test.ts', "role: 'learner'"),
  'faults[].handler': test('test/e2e/faults.test.ts', "handler: 'trainStep'"),
  'faults[].mode': test('test/e2e/faults.test.ts', "mode: 'hang'"),
  'faults[].at': test('test/e2e/faults.test.ts', 'at: 5'),
  'faults[].delay_ms': test('test/e2e/resume.test.ts', 'delay_ms: ms'),
};

const root = repoRoot();

t.test('every leaf of the config schema is classified, and nothing else is', async (t) => {
  const found = new Set<string>();
  leaves(rootConfigSchema, '', found);
  // reward_funcs is a list of names or module specs: one knob.
  const paths = new Set(
    [...found].map((p) =>
      p
        .replace(/\.reward_funcs.*$/, '.reward_funcs')
        .replace(/\.config\.<role>$/, '.config')
        .replace(/\.benchmark_paths\..*$/, '.benchmark_paths'),
    ),
  );
  const unclassified = [...paths].filter((p) => !(p in KNOBS));
  const stale = Object.keys(KNOBS).filter((k) => !paths.has(k));
  t.same(unclassified, [], 'every knob is classified in test/unit/config-knobs.test.ts');
  t.same(stale, [], 'no entry for a knob the schema no longer has');
  t.ok(paths.size > 100, `${paths.size} knobs walked`);
});

t.test('effect: each knob changes the computation where it acts', async (t) => {
  for (const [path, knob] of Object.entries(KNOBS)) {
    if (knob.kind !== 'effect') continue;
    const [section, ...rest] = path.split('.');
    const key = rest.join('.');
    let before: unknown, after: unknown;
    if (section === 'grpo') {
      const base: Record<string, unknown> = {
        max_steps: 10,
        per_device_train_batch_size: 8,
        num_generations: 4,
        ...knob.base,
      };
      const top = key.split('.')[0]!;
      const changed = {
        ...base,
        [top]: key.includes('.') ? { ...(base[top] as object | undefined), ...(knob.to as object) } : knob.to,
      };
      before = await grpoFingerprint(base);
      after = await grpoFingerprint(changed);
    } else if (section === 'lora') {
      const base = {
        lora_r: 4,
        lora_alpha: 8,
        lora_dropout: 0,
        lora_target_modules: ['q_proj', 'v_proj', 'down_proj'],
      };
      before = loraFingerprint(base);
      after = loraFingerprint({ ...base, [key]: knob.to });
    } else if (section === 'actors') {
      const k = key.replace('<role>.', '');
      before = actorFingerprint({});
      after = actorFingerprint({ [k]: knob.to });
    } else {
      t.fail(`${path}: no effect check for section ${section}`);
      continue;
    }
    const changed = JSON.stringify(before) !== JSON.stringify(after);
    if (!changed) t.fail(`${path}: changing it to ${JSON.stringify(knob.to)} changed nothing — a dead knob`);
  }
  t.pass(`${Object.values(KNOBS).filter((k) => k.kind === 'effect').length} knobs change their computation`);
});

t.test('test / wired / logging entries name a real place that reads or tests the knob', async (t) => {
  for (const [path, knob] of Object.entries(KNOBS)) {
    if (knob.kind === 'logging') {
      if (!knob.why) t.fail(`${path}: logging-only needs a reason`);
      continue;
    }
    if (knob.kind === 'effect') continue;
    const file = join(root, knob.file);
    if (!existsSync(file)) {
      t.fail(`${path}: ${knob.file} does not exist`);
      continue;
    }
    const evidence = knob.kind === 'test' ? (knob.evidence ?? path.split('.').at(-1)!) : knob.evidence;
    if (!readFileSync(file, 'utf8').includes(evidence))
      t.fail(`${path}: ${knob.file} does not contain ${JSON.stringify(evidence)}`);
  }
  const counts: Record<string, number> = {};
  for (const k of Object.values(KNOBS)) counts[k.kind] = (counts[k.kind] ?? 0) + 1;
  t.pass(`classification: ${JSON.stringify(counts)}`);
});

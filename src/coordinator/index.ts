// runTraining: sets up one GRPO run — loads the base weights once into shared memory, creates the
// adapter WeightStore, spawns the five actor roles, and drives runGrpoLoop — then writes the run
// folder: metrics.jsonl, eval.jsonl (+ eval-summary.*), PEFT adapter checkpoints, the resolved
// config and report.html.
import { learnerSectionSchema } from '../rl/learner-config.js';
import { appendFileSync, mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ActorSystem, type RoleSpec } from '../runtime/actor-system.js';
import { actorSpecsFromConfig } from '../config/actors.js';
import type { LoractorConfig } from '../config/schema.js';
import { WeightStore } from '../runtime/weight-store.js';
import { loadModel } from '../model/load.js';
import { describeModel } from '../model/weights.js';
import { loadTokenizer } from '../model/tokenizer.js';
import { createLoraLayout } from '../model/lora.js';
import type { LoraSettings } from '../model/adapter-layout.js';
import { resolveGrpoConfig } from '../rl/config.js';
import { parseRewardsConfig } from '../rewards/config.js';
import { createRewardPool } from '../rewards/score-batch.js';
import { parseEvalConfig } from '../eval/config.js';
import { renderReport, type EvalSummary, type StepMetrics } from '../report/index.js';
import { createProgress, formatDuration } from '../report/progress.js';
import { repoRoot } from '../util/paths.js';
import { dataSectionSchema, evalScheduleSchema, faultsSectionSchema, loraSectionSchema, modelSectionSchema, parseSection } from './config.js';
import { createPromptSource } from './prompts.js';
import { bindRoles } from './roles.js';
import { runGrpoLoop, type PendingRollout } from './grpo-loop.js';
import { checkpointTempDir, findResumePoint, sealCheckpoint, truncateJsonl, CHECKPOINT_FORMAT, type ResumePoint } from './checkpoint.js';
import { CheckpointProtocols } from '../../protocols/training.js';
import type { RngState } from '../util/rng.js';
import { checkWebLlmRollout, requireWebLlmPaths } from '../engines/webllm/model-match.js';
import type { LearnerInit } from '../../actors/learner.js';
import { learnerRecoverySize } from '../rl/learner-recovery.js';

export interface TrainingOptions {
  /** Path of the config file (relative paths inside it resolve against the repo root, then its folder). */
  configPath?: string;
  outDir?: string;
  maxSteps?: number;
  seed?: number;
  /** Print one progress line per step instead of redrawing (non-TTY does this anyway). */
  plainProgress?: boolean;
  quiet?: boolean;
  /** Resume from the newest intact checkpoint in this run folder (or this checkpoint folder). */
  resume?: string;
}

export interface TrainingSummary {
  outDir: string;
  steps: number;
  wallSeconds: number;
  evals: EvalSummary[];
  metrics: StepMetrics[];
}

type RawConfig = Record<string, unknown> & { run?: Record<string, unknown>; actors?: Record<string, Record<string, unknown>> };

function resolvePath(p: string, configPath?: string): string {
  if (isAbsolute(p)) return p;
  const fromRoot = resolve(repoRoot(), p);
  if (existsSync(fromRoot) || !configPath) return fromRoot;
  return resolve(dirname(configPath), p);
}

export async function runTraining(raw: RawConfig, opts: TrainingOptions = {}): Promise<TrainingSummary> {
  const t0 = Date.now();
  const run = (raw.run ?? {}) as {
    out_dir?: string; max_steps?: number; seed?: number; checkpoint_every?: number; sync_timeout_s?: number; sync_retries?: number;
    max_reward_failure_rate?: number; max_consecutive_skipped_updates?: number; learner_recovery?: boolean;
  };
  const seed = opts.seed ?? run.seed ?? 42;
  const modelCfg = parseSection(modelSectionSchema, raw.model, 'model');
  const loraCfg = parseSection(loraSectionSchema, raw.lora, 'lora');
  const learnerCfg = parseSection(learnerSectionSchema, raw.learner, 'learner');
  const data = parseSection(dataSectionSchema, raw.data, 'data');
  const { eval_steps, eval_before_training, ...evalRest } = (raw.eval ?? {}) as Record<string, unknown>;
  const schedule = parseSection(evalScheduleSchema, { eval_steps, eval_before_training }, 'eval');
  const evalCfg = parseEvalConfig({ benchmarks: ['synthetic'], ...evalRest, seed: (evalRest.seed as number | undefined) ?? 42 }, 'config: eval');
  const rewardsCfg = parseRewardsConfig(raw.rewards);
  // WebLLM rollouts: model.mlc_dir / mlc_lib required and resolved like model.path (checked against the
  // checkpoint and grpo.top_k once both are loaded, below). The evaluator keeps the builtin CPU engine.
  const webllmPaths = modelCfg.engine === 'webllm' ? requireWebLlmPaths(modelCfg, (p) => resolvePath(p, opts.configPath)) : null;
  const modelDir = resolvePath(modelCfg.path, opts.configPath);
  const model = loadModel(modelDir);
  const tok = loadTokenizer(modelDir, model.config);
  // The prompt source before the GRPO settings: a dataset's size sets the schedule horizon when
  // grpo.max_steps is -1.
  const resumeFrom: ResumePoint | null = opts.resume !== undefined ? findResumePoint(resolvePath(opts.resume)) : null;
  const prompts = await createPromptSource(data.source === 'dataset' ? { ...data, path: resolvePath(data.path, opts.configPath) } : data, tok, seed, resumeFrom?.state.prompt_sampler);
  const grpo = resolveGrpoConfig({ ...(raw.grpo as object), seed }, prompts.size !== undefined ? { datasetSize: prompts.size } : {});
  const g = grpo.config;
  const webllm = webllmPaths ? checkWebLlmRollout(webllmPaths, { model: model.config, modelDir, topK: g.top_k ?? 0 }) : null;
  const lastStep = opts.maxSteps ?? run.max_steps ?? grpo.stopAtStep ?? grpo.maxSteps;
  if (!(lastStep >= 1)) throw new Error('config: run.max_steps (or grpo.max_steps) must give at least one step');
  // A resumed run continues in the folder it resumes from unless --out says otherwise.
  const outDir = resolvePath(opts.outDir ?? (resumeFrom ? join(resumeFrom.dir, '..') : undefined) ?? run.out_dir ?? 'runs/latest', undefined);
  mkdirSync(outDir, { recursive: true });
  const resolvedConfig = { ...raw, run: { ...run, seed, out_dir: outDir, max_steps: lastStep }, model: modelCfg, lora: loraCfg, learner: learnerCfg, data, grpo: g, rewards: rewardsCfg, eval: { ...evalCfg, ...schedule } };
  writeFileSync(join(outDir, 'config.resolved.json'), JSON.stringify(resolvedConfig, null, 2) + '\n');
  // What must not change between a run and its resumption (the stop step and the folder may).
  const configSha = createHash('sha256').update(JSON.stringify({ seed, model: modelCfg, lora: loraCfg, data, grpo: g, rewards: rewardsCfg, eval: evalCfg })).digest('hex');
  let resumedMetrics: StepMetrics[] = [];
  if (resumeFrom) {
    const st = resumeFrom.state;
    if (st.config_sha256 !== configSha) throw new Error(`--resume: ${resumeFrom.dir} was written under a different config (seed, model, lora, data, grpo, rewards or eval changed); resume with the same config`);
    if (st.step >= lastStep) throw new Error(`--resume: ${resumeFrom.dir} is at step ${st.step}, the run stops at step ${lastStep}: nothing to do (raise --max-steps)`);
    // Work done after the checkpoint is redone; drop its records so nothing is counted twice.
    truncateJsonl(join(outDir, 'metrics.jsonl'), (r) => (r.step as number) <= st.step);
    truncateJsonl(join(outDir, 'rollouts.jsonl'), (r) => (r.step as number) <= st.step);
    for (const f of ['eval.jsonl', 'eval-summary.jsonl']) truncateJsonl(join(outDir, f), (r) => (r.version as number) <= st.policy_version);
    resumedMetrics = existsSync(join(outDir, 'metrics.jsonl')) ? readFileSync(join(outDir, 'metrics.jsonl'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as StepMetrics) : [];
  } else {
    for (const f of ['metrics.jsonl', 'rollouts.jsonl', 'eval.jsonl', 'eval-summary.jsonl', 'eval-summary.txt']) writeFileSync(join(outDir, f), '');
  }

  const lora: LoraSettings = { r: loraCfg.lora_r, alpha: loraCfg.lora_alpha, dropout: loraCfg.lora_dropout, targetModules: [...loraCfg.lora_target_modules] };
  const layout = createLoraLayout(model.config, lora);
  const store = WeightStore.create(layout.size);
  const eosTokenIds = model.config.eosTokenIds.length ? model.config.eosTokenIds : [tok.eosTokenId!];
  const modelDesc = describeModel(model);
  // The learner's crash-recovery state lives here, outside its worker (see actors/learner.ts).
  const recovery = (run.learner_recovery ?? true) ? WeightStore.create(learnerRecoverySize(layout.size), { maxReaders: 1 }) : null;
  const learnerInit: LearnerInit = {
    model: modelDesc, store: store.describe(), lora, seed, eosTokenIds,
    maxPromptLength: g.max_prompt_length ?? 0, maxCompletionLength: g.max_completion_length,
    lossType: g.loss_type, beta: g.beta, epsilon: g.epsilon, epsilonHigh: grpo.epsilonHigh,
    importanceSamplingCorrection: g.importance_sampling_correction, importanceSamplingCap: g.importance_sampling_cap, maxStaleness: g.max_staleness,
    logprobTemperature: g.temperature, gradientAccumulationSteps: g.gradient_accumulation_steps,
    schedule: grpo.schedule, adamw: grpo.adamw, baseModelName: modelCfg.path, device: learnerCfg,
    ...(recovery ? { recovery: recovery.describe() } : {}),
  };
  // The `actors` section tunes the standard roles (threads, mailbox, retries, deadlines, transport);
  // an entry for 'rollout' applies to every rollout-N. The role's own config always comes from here.
  const overrides = actorSpecsFromConfig({ actors: (raw.actors ?? {}) as LoractorConfig['actors'] });
  for (const name of Object.keys(overrides)) {
    if (name === 'reward') throw new Error('config: actors.reward: the reward pool is set by rewards.reward_num_workers and rewards.reward_timeout_s');
    if (!['rollout', 'advantage', 'learner', 'evaluator'].includes(name)) throw new Error(`config: actors.${name}: not a role of the training job (rollout, advantage, learner, evaluator)`);
  }
  const faults = parseSection(faultsSectionSchema, raw.faults ?? [], 'faults');
  // One learner worker owns the adapter (single writer of the WeightStore); without recovery a retry
  // would start from a fresh worker's step 0 or from half-updated state, so it is not allowed.
  const learnerOverrides = overrides.learner as { threads?: number; retries?: number } | undefined;
  if (learnerOverrides?.threads !== undefined && learnerOverrides.threads !== 1) throw new Error(`config: actors.learner.threads: the learner is one worker (it is the adapter's only writer), got ${learnerOverrides.threads}`);
  if (!(run.learner_recovery ?? true) && (learnerOverrides?.retries ?? 0) > 0) throw new Error('config: actors.learner.retries: retrying the learner needs run.learner_recovery (its state would be lost with the worker)');
  const role = (name: string, base: RoleSpec, instance = name): RoleSpec => {
    const set = Object.fromEntries(Object.entries(overrides[name] ?? {}).filter(([k, v]) => v !== undefined && k !== 'config'));
    const drills = faults.filter((f) => f.role === name && (instance === name || instance === 'rollout-0'))
      .map((f) => ({ ...f, counter: new SharedArrayBuffer(4) }));
    return { ...base, ...set, ...(drills.length ? { config: { ...(base.config as object), __faults: drills } } : {}) };
  };
  const rolloutRoles = Array.from({ length: modelCfg.rollout_actors }, (_, i) => `rollout-${i}`);
  const system = await ActorSystem.start({
    ...Object.fromEntries(rolloutRoles.map((name) => [name, role('rollout', { module: 'actors/rollout.ts', retries: 1, retryTimeouts: true, config: { model: modelDesc, tokenizerDir: modelDir, store: store.describe(), lora, readerName: name, maxBatch: modelCfg.rollout_max_batch, ...(webllm ? { engine: 'webllm', webllm } : modelCfg.engine === 'webgpu' ? { engine: 'webgpu', webgpu: { weightDtype: modelCfg.rollout_weight_dtype, residentVersions: g.max_staleness + 1 } } : { engine: 'builtin' }) } }, name)])),
    advantage: role('advantage', { module: 'actors/advantage.ts', retryTimeouts: true }),
    // With recovery a crashed or hung learner is replaced, restores its committed state and retries the step.
    learner: role('learner', { module: 'actors/learner.ts', retries: recovery ? 2 : 0, retryTimeouts: recovery !== null, config: learnerInit }),
    evaluator: role('evaluator', { module: 'actors/evaluator.ts', retries: 1, retryTimeouts: true, config: { modelDir, model: modelDesc, weightStore: store.describe(), lora, eval: { ...evalCfg }, outDir } }),
  });
  const rewardPool = await createRewardPool(rewardsCfg, outDir, faults.filter((f) => f.role === 'reward').map((f) => ({ ...f, counter: new SharedArrayBuffer(4) })));
  const progress = createProgress({ totalSteps: lastStep, plain: opts.plainProgress });
  const log = (line: string): void => { if (!opts.quiet) progress.log(line); };
  const metrics: StepMetrics[] = [...resumedMetrics];
  const evals: EvalSummary[] = resumeFrom ? [...resumeFrom.state.evals] : [];
  let stopRequested = false;
  const onSignal = (sig: NodeJS.Signals): void => { stopRequested = true; log(`${sig}: finishing the current step, then saving and stopping`); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const sub = system.events$.subscribe((e) => {
    if (e.type === 'crash' || e.type === 'handler-error' || e.type === 'dead-letter' || e.type === 'timeout' || e.type === 'retry') log(`actor event: ${e.type} in ${e.role}${'handler' in e ? '.' + e.handler : ''}${'error' in e ? ': ' + e.error.message : ''}`);
    // A rollout actor that never acknowledged the version: name it and what it last applied.
    if (e.type === 'timeout' && e.handler === 'sync') {
      for (const r of store.lateReaders(store.version).filter((x) => x.name === e.role)) log(`weight sync: ${r.name} did not acknowledge version ${store.version} within ${e.deadlineMs} ms (last acknowledged v${r.acked}); its worker is replaced`);
    }
  });
  try {
    if (prompts.skipped?.length) log(`data: skipped ${prompts.skipped.length} malformed line(s) of ${data.source === 'dataset' ? data.path : 'the data'} (first: ${prompts.skipped[0]})`);
    log(`loractor: ${lastStep} GRPO steps on ${modelDir} (${model.config.numLayers} layers, d ${model.config.hiddenSize}), LoRA r ${lora.r} on ${lora.targetModules.length} modules (${layout.size} params), ${grpo.promptsPerStep} prompts × G ${g.num_generations}; out ${outDir}`);
    const checkpoint = async (step: number, pending?: PendingRollout): Promise<string> => {
      const tmp = checkpointTempDir(outDir, step);
      const saved = await system.ask<{ step: number; dropoutRng: RngState }>('learner', 'saveCheckpoint', { dir: tmp, step }, { protocol: CheckpointProtocols.CheckpointRequest });
      sealCheckpoint(outDir, tmp, {
        format: CHECKPOINT_FORMAT, step, policy_version: step, seed, config_sha256: configSha, prompt_sampler: prompts.state(),
        learner_dropout_rng: saved.dropoutRng, evals, ...(pending ? { pending_rollout: pending } : {}), time: new Date().toISOString(),
      });
      return `checkpoint-${step}`;
    };
    const roles = bindRoles({
      system, rolloutRoles, rewardPool, rewardsCfg, grpo, evalCfg, outDir, checkpoint, store,
      syncTimeoutMs: Math.round(1000 * (run.sync_timeout_s ?? 120)), syncRetries: run.sync_retries ?? 2, report: log,
    });
    let firstStep = 1;
    if (resumeFrom) {
      const st = resumeFrom.state;
      for (const s of resumeFrom.skipped) log(`resume: skipped ${s.dir}: ${s.why}`);
      await system.ask('learner', 'restoreCheckpoint', { dir: resumeFrom.dir, step: st.step, dropoutRng: st.learner_dropout_rng }, { protocol: CheckpointProtocols.RestoreRequest });
      await roles.sync(st.policy_version);
      firstStep = st.step + 1;
      log(`resume: continuing from ${resumeFrom.dir} at step ${firstStep} (policy version ${st.policy_version}${st.pending_rollout ? ', with its pending rollout' : ''})`);
    }
    await runGrpoLoop(roles, {
      firstStep,
      ...(resumeFrom?.state.pending_rollout ? { pending: resumeFrom.state.pending_rollout as PendingRollout } : {}),
      lastStep,
      promptsPerStep: grpo.promptsPerStep,
      nextPrompts: (n) => prompts.next(n),
      evalEvery: schedule.eval_steps,
      checkpointEvery: run.checkpoint_every ?? 0,
      evalBefore: schedule.eval_before_training && !resumeFrom,
      maxStaleness: g.max_staleness,
      shouldStop: () => stopRequested,
      abort: { maxRewardFailureRate: run.max_reward_failure_rate ?? 0.5, maxConsecutiveSkippedUpdates: run.max_consecutive_skipped_updates ?? 3 },
      onTrajectories: (records) => appendFileSync(join(outDir, 'rollouts.jsonl'), records.map((r) => JSON.stringify(r) + '\n').join('')),
      onStep: (m) => {
        metrics.push(m);
        appendFileSync(join(outDir, 'metrics.jsonl'), JSON.stringify(m) + '\n');
        if (!opts.quiet) progress.update(m);
        if (m.skipped_update) log(`step ${m.step}: update skipped (non-finite loss or gradients); the adapter keeps its previous values`);
      },
      onEval: (e) => {
        evals.push(e);
        log(`eval @ step ${e.step} (version ${e.policy_version}): ${Object.entries(e.pass_at_1).map(([b, v]) => `${b} pass@1 ${(100 * v).toFixed(1)}%`).join(', ')}`);
      },
    });
  } finally {
    progress.done();
    sub.unsubscribe();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await rewardPool.destroy();
    await system.shutdown({ drain: true, timeoutMs: 30000 });
  }
  const wall = (Date.now() - t0) / 1000;
  const first = evals[0], last = evals[evals.length - 1];
  const facts: Record<string, string | number> = {
    model: modelDir, steps: metrics.length, 'wall time': formatDuration(wall), seed,
    'prompts × G': `${grpo.promptsPerStep} × ${g.num_generations}`, 'LoRA': `r ${lora.r}, alpha ${lora.alpha}, ${lora.targetModules.join(',')}`,
  };
  writeFileSync(join(outDir, 'report.html'), renderReport({ title: `loractor run — ${outDir}`, metrics, evals, config: resolvedConfig, facts }));
  const summary = { steps: metrics.length, wall_s: wall, before: first?.pass_at_1, after: last?.pass_at_1, final_format: metrics.at(-1)?.['rewards/format'], best: evals.reduce<EvalSummary | undefined>((a, b) => (!a || b.average > a.average ? b : a), undefined) };
  writeFileSync(join(outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  log(`done in ${formatDuration(wall)}: held-out pass@1 ${first ? (100 * first.average).toFixed(1) : '–'}% → ${last ? (100 * last.average).toFixed(1) : '–'}%; report ${join(outDir, 'report.html')}`);
  return { outDir, steps: metrics.length, wallSeconds: wall, evals, metrics };
}

// runTraining: sets up one GRPO run — checks everything it needs before any work (setup.ts), opens
// the run folder (refusing to clobber one: run-folder.ts), loads the base weights once into shared
// memory, creates the adapter WeightStore, spawns the five actor roles, and drives runGrpoLoop — then
// writes the run folder: metrics.jsonl, rollouts.jsonl, eval.jsonl (+ eval-summary.*), PEFT adapter
// checkpoints, the resolved config and report.html. Record files are only appended to (see
// src/report/records.ts); config.resolved.json is written once every check has passed.
import { appendFileSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ActorSystem, type RoleSpec } from '../runtime/actor-system.js';
import { packageActor } from '../runtime/modules.js';
import { WeightStore } from '../runtime/weight-store.js';
import { describeModel } from '../model/weights.js';
import { createLoraLayout } from '../model/lora.js';
import { createRewardPool } from '../rewards/score-batch.js';
import { renderReport, type EvalSummary, type StepMetrics } from '../report/index.js';
import { readStepMetrics, terminateTornRecords } from '../report/records.js';
import { createProgress, formatDuration } from '../report/progress.js';
import { resolveConfigPath } from '../config/paths.js';
import { bindRoles } from './roles.js';
import { runGrpoLoop, type PendingRollout, type TrajectoryRecord } from './grpo-loop.js';
import { reviveCarry } from './generation.js';
import { Subject, type Observable } from 'rxjs';
import { createTensorBoardWriter } from '../report/tensorboard.js';
import { writeMetricsCsv } from '../report/csv.js';
import { startDashboard, type Dashboard } from '../report/dashboard.js';
import { trackActors, type ActorTable } from './actor-table.js';
import { renderModelCard } from './model-card.js';
import { checkpointTempDir, findResumePoint, sealCheckpoint, CHECKPOINT_FORMAT, type ResumePoint } from './checkpoint.js';
import { checkRunFolder, openRunFolder, RunFolderError, type RunFolder } from './run-folder.js';
import { planRun } from './setup.js';
import { LearnerProtocol } from '../../protocols/handlers.js';
import { askRole } from '../runtime/ask-role.js';
import type { LearnerInit } from '../../actors/learner.js';
import { learnerRecoverySize } from '../rl/learner-recovery.js';
import { learnerAlgorithm } from '../rl/consumers.js';

export interface TrainingOptions {
  /** Path of the config file: relative paths inside it resolve against its folder (without one: the cwd). */
  configPath?: string;
  /** The run folder (--out); relative to the cwd. Default: run.out_dir, or the folder being resumed. */
  outDir?: string;
  maxSteps?: number;
  seed?: number;
  /** Print one progress line per step instead of redrawing (non-TTY does this anyway). */
  plainProgress?: boolean;
  quiet?: boolean;
  /** Resume from the newest intact checkpoint in this run folder (or this checkpoint folder). */
  resume?: string;
  /** A non-empty run folder is moved aside to <dir>.old-<time> instead of refusing the run. */
  overwrite?: boolean;
  /** Serve the live dashboard on this port (0: any free port) and host (default 127.0.0.1). */
  dashboard?: { port: number; host?: string };
  /** The run's streams, for an app that embeds the training job (the dashboard and exports subscribe to the same). */
  onStreams?(streams: RunStreams): void;
}

/** What a run emits as it goes: a metrics record per step, each evaluation, each step's trajectories. */
export interface RunStreams {
  metrics$: Observable<StepMetrics>;
  evals$: Observable<EvalSummary>;
  trajectories$: Observable<TrajectoryRecord[]>;
}

export interface TrainingSummary {
  outDir: string;
  steps: number;
  wallSeconds: number;
  evals: EvalSummary[];
  metrics: StepMetrics[];
  /** Set when SIGINT/SIGTERM stopped the run: the last finished (and checkpointed) step. */
  interrupted?: { signal: NodeJS.Signals; step: number };
}

type RawConfig = Record<string, unknown> & { run?: Record<string, unknown>; actors?: Record<string, Record<string, unknown>> };

/** The run folder a --resume location belongs to (the location itself, or the parent of a checkpoint folder). */
function resumeRunDir(location: string): string {
  return existsSync(join(location, 'manifest.json')) || /checkpoint-\d+$/.test(location) ? dirname(location) : location;
}

export async function runTraining(raw: RawConfig, opts: TrainingOptions = {}): Promise<TrainingSummary> {
  const t0 = Date.now();
  const resumeAt = opts.resume !== undefined ? resolve(opts.resume) : undefined;
  const runOutDir = (raw.run as { out_dir?: string } | undefined)?.out_dir ?? 'runs/latest';
  const outDir = opts.outDir !== undefined ? resolve(opts.outDir) : resumeAt !== undefined ? resumeRunDir(resumeAt) : resolveConfigPath(runOutDir, opts.configPath);
  const folderOpts = {
    resume: resumeAt !== undefined && resumeRunDir(resumeAt) === outDir, overwrite: opts.overwrite ?? false,
    origin: opts.outDir !== undefined ? '--out' : resumeAt !== undefined ? '--resume' : 'run.out_dir',
  };
  checkRunFolder(outDir, folderOpts); // a folder this run may not use is reported before anything is loaded
  const plan = await planRun(raw, opts);
  const folder = openRunFolder(outDir, folderOpts);
  try {
    return await trainInFolder(folder, plan, opts, resumeAt, t0);
  } finally {
    folder.release();
  }
}

async function trainInFolder(folder: RunFolder, plan: Awaited<ReturnType<typeof planRun>>, opts: TrainingOptions, resumeAt: string | undefined, t0: number): Promise<TrainingSummary> {
  const { run, seed, modelCfg, learnerCfg, lora, schedule, evalCfg, rewardsCfg, modelDir, model, tok, webllm, grpo, lastStep, configSha, overrides, faults } = plan;
  const g = grpo.config;
  const outDir = folder.dir;
  let resumeFrom: ResumePoint | null = null;
  try {
    try {
      resumeFrom = resumeAt !== undefined ? findResumePoint(resumeAt) : null;
    } catch (err) {
      throw new RunFolderError(`${(err as Error).message}; to start the run afresh instead, use --overwrite without --resume`);
    }
    if (resumeFrom) {
      const st = resumeFrom.state;
      if (st.config_sha256 !== configSha) throw new RunFolderError(`--resume: ${resumeFrom.dir} was written under a different config (seed, model, lora, data, grpo, rewards or eval changed); resume with the same config`);
      if (st.step >= lastStep) throw new RunFolderError(`--resume: ${resumeFrom.dir} is at step ${st.step}, the run stops at step ${lastStep}: nothing to do (raise --max-steps)`);
    }
  } catch (err) {
    folder.release({ removeIfEmpty: true });
    throw err;
  }
  const prompts = plan.prompts.source(seed, resumeFrom?.state.prompt_sampler);
  // Records past the checkpoint stay in the logs (they are only appended to); the redone steps' records
  // follow them and supersede them for every reader (src/report/records.ts).
  if (resumeFrom) terminateTornRecords(outDir);
  const resumedMetrics = resumeFrom ? (readStepMetrics(resumeRunDir(resumeAt!)) as StepMetrics[]).filter((m) => m.step <= resumeFrom!.state.step) : [];
  // Every check has passed: the resolved config is written now (atomically), never for a refused run.
  const resolvedConfig = {
    ...plan.raw, run: { ...run, seed, out_dir: outDir, max_steps: lastStep }, model: { ...modelCfg, path: modelDir }, lora: plan.loraCfg, learner: learnerCfg, data: plan.data,
    grpo: g, rewards: rewardsCfg, eval: { ...evalCfg, ...schedule },
  };
  writeFileSync(join(outDir, 'config.resolved.json.tmp'), JSON.stringify(resolvedConfig, null, 2) + '\n');
  renameSync(join(outDir, 'config.resolved.json.tmp'), join(outDir, 'config.resolved.json'));

  const layout = createLoraLayout(model.config, lora);
  const store = WeightStore.create(layout.size);
  const eosTokenIds = model.config.eosTokenIds.length ? model.config.eosTokenIds : [tok.eosTokenId!];
  const modelDesc = describeModel(model);
  // The learner's crash-recovery state lives here, outside its worker (see actors/learner.ts).
  const recovery = (run.learner_recovery ?? true) ? WeightStore.create(learnerRecoverySize(layout.size), { maxReaders: 1 }) : null;
  // PEFT's base_model_name_or_path: the hub id when the config names one, else the absolute folder (never a relative path).
  const baseModelName = modelCfg.hub_id ?? modelDir;
  const learnerInit: LearnerInit = {
    model: modelDesc, store: store.describe(), lora, seed, eosTokenIds,
    ...learnerAlgorithm(grpo),
    baseModelName, device: learnerCfg,
    ...(recovery ? { recovery: recovery.describe() } : {}),
  };
  const role = (name: string, base: RoleSpec, instance = name): RoleSpec => {
    const set = Object.fromEntries(Object.entries(overrides[name] ?? {}).filter(([k, v]) => v !== undefined && k !== 'config'));
    const drills = faults.filter((f) => f.role === name && (instance === name || instance === 'rollout-0'))
      .map((f) => ({ ...f, counter: new SharedArrayBuffer(4) }));
    return { ...base, ...set, ...(drills.length ? { config: { ...(base.config as object), __faults: drills } } : {}) };
  };
  const rolloutRoles = Array.from({ length: modelCfg.rollout_actors }, (_, i) => `rollout-${i}`);
  const system = await ActorSystem.start({
    ...Object.fromEntries(rolloutRoles.map((name) => [name, role('rollout', { module: packageActor('rollout'), retries: 1, retryTimeouts: true, config: { model: modelDesc, tokenizerDir: modelDir, store: store.describe(), lora, readerName: name, maxBatch: modelCfg.rollout_max_batch, ...(webllm ? { engine: 'webllm', webllm } : modelCfg.engine === 'webgpu' ? { engine: 'webgpu', webgpu: { weightDtype: modelCfg.rollout_weight_dtype, residentVersions: g.max_staleness + 1 } } : { engine: 'builtin' }) } }, name)])),
    advantage: role('advantage', { module: packageActor('advantage'), retryTimeouts: true }),
    // With recovery a crashed or hung learner is replaced, restores its committed state and retries the step.
    learner: role('learner', { module: packageActor('learner'), retries: recovery ? 2 : 0, retryTimeouts: recovery !== null, config: learnerInit }),
    evaluator: role('evaluator', { module: packageActor('evaluator'), retries: 1, retryTimeouts: true, config: { modelDir, model: modelDesc, weightStore: store.describe(), lora, eval: { ...evalCfg }, outDir } }),
  });
  const rewardPool = await createRewardPool(rewardsCfg, outDir, faults.filter((f) => f.role === 'reward').map((f) => ({ ...f, counter: new SharedArrayBuffer(4) })));
  const progress = createProgress({ totalSteps: lastStep, plain: opts.plainProgress });
  const log = (line: string): void => { if (!opts.quiet) progress.log(line); };
  const metrics: StepMetrics[] = [...resumedMetrics];
  const evals: EvalSummary[] = resumeFrom ? [...resumeFrom.state.evals] : [];
  // The run's streams. Subscribers: TensorBoard event file + metrics.csv (written as the run goes), the dashboard, an embedding app.
  const streams = { metrics$: new Subject<StepMetrics>(), evals$: new Subject<EvalSummary>(), trajectories$: new Subject<TrajectoryRecord[]>() };
  const tb = createTensorBoardWriter(outDir, resumeFrom ? { resumeStep: resumeFrom.state.step + 1 } : {});
  streams.metrics$.subscribe((m) => { tb.scalars(m.step, m); writeMetricsCsv(join(outDir, 'metrics.csv'), metrics); });
  streams.evals$.subscribe((e) => tb.scalars(e.step, { ...Object.fromEntries(Object.entries(e.pass_at_1).map(([b, v]) => [`eval/pass@1/${b}`, v])), 'eval/pass@1/average': e.average }));
  let actorTable: ActorTable | null = null;
  let dashboard: Dashboard | null = null;
  if (opts.dashboard) {
    const table = (actorTable = trackActors(system, rewardPool, store));
    dashboard = await startDashboard({ ...opts.dashboard, title: `loractor run — ${outDir}`, totalSteps: lastStep, actors: () => table.rows(), metrics, evals });
    const d = dashboard;
    streams.metrics$.subscribe((m) => d.step(m));
    streams.evals$.subscribe((e) => d.evaluated(e));
    streams.trajectories$.subscribe((r) => { table.noteCompletions(r); d.completions(r); });
    log(`dashboard: ${dashboard.url} (read-only; serving ${opts.dashboard.host ?? '127.0.0.1'})`);
  }
  opts.onStreams?.(streams);
  let stopRequested: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals): void => { stopRequested = sig; log(`${sig}: finishing the current step, then saving and stopping`); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let loopEnd = { lastStep: 0, version: 0 };
  const sub = system.events$.subscribe((e) => {
    if (e.type === 'crash' || e.type === 'handler-error' || e.type === 'dead-letter' || e.type === 'timeout' || e.type === 'retry') log(`actor event: ${e.type} in ${e.role}${'handler' in e ? '.' + e.handler : ''}${'error' in e ? ': ' + e.error.message : ''}`);
    // A rollout actor that never acknowledged the version: name it and what it last applied.
    if (e.type === 'timeout' && e.handler === 'sync') {
      for (const r of store.lateReaders(store.version).filter((x) => x.name === e.role)) log(`weight sync: ${r.name} did not acknowledge version ${store.version} within ${e.deadlineMs} ms (last acknowledged v${r.acked}); its worker is replaced`);
    }
  });
  try {
    for (const note of plan.notes) log(note);
    if (folder.movedAside) log(`--overwrite: the previous run in ${outDir} was moved to ${folder.movedAside}`);
    if (folder.staleLock) log(`run folder: took over the lock of pid ${folder.staleLock.pid} (started ${folder.staleLock.started}), which is no longer running`);
    for (const t of folder.removedTemps) log(`run folder: removed the stale checkpoint temp folder ${t} (left by an interrupted save)`);
    // Config warnings (also printed by `check`): allowed, but probably not what was meant.
    for (const w of grpo.warnings) log(`config warning: grpo.${w.field}: ${w.message}`);
    log(`loractor: ${lastStep} GRPO steps on ${modelDir} (${model.config.numLayers} layers, d ${model.config.hiddenSize}), LoRA r ${lora.r} on ${lora.targetModules.length} modules (${layout.size} params), ${grpo.promptsPerStep} prompts × G ${g.num_generations}; out ${outDir}`);
    // A failed save (a full disk, a non-finite adapter) removes its temp folder and names the file.
    const checkpoint = async (step: number, pending?: PendingRollout): Promise<string> => {
      const tmp = checkpointTempDir(outDir, step);
      try {
        const saved = await askRole(system, 'learner', LearnerProtocol.saveCheckpoint, { dir: tmp, step });
        sealCheckpoint(outDir, tmp, {
          format: CHECKPOINT_FORMAT, step, policy_version: step, seed, config_sha256: configSha, prompt_sampler: prompts.state(),
          learner_dropout_rng: saved.dropoutRng, evals, ...(pending ? { pending_rollout: pending } : {}), time: new Date().toISOString(),
        }, renderModelCard({
          baseModel: baseModelName, step, lastStep, lora, evals, metrics: metrics.find((m) => m.step === step),
          training: {
            algorithm: 'GRPO', loss_type: g.loss_type, beta: g.beta, epsilon: g.epsilon, num_generations: g.num_generations, prompts_per_step: grpo.promptsPerStep,
            learning_rate: g.learning_rate, lr_scheduler_type: g.lr_scheduler_type, max_completion_length: g.max_completion_length, temperature: g.temperature,
            max_staleness: g.max_staleness, reward_funcs: rewardsCfg.reward_funcs.map((f) => (typeof f === 'string' ? f : JSON.stringify(f))).join(', '), reward_weights: rewardsCfg.reward_weights?.join(', '), seed,
          },
        }));
      } catch (err) {
        rmSync(tmp, { recursive: true, force: true });
        throw new Error(`checkpoint-${step} not saved (its partial folder was removed): ${(err as Error).message}`, { cause: err });
      }
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
      await askRole(system, 'learner', LearnerProtocol.restoreCheckpoint, { dir: resumeFrom.dir, step: st.step, dropoutRng: st.learner_dropout_rng });
      await roles.sync(st.policy_version);
      firstStep = st.step + 1;
      log(`resume: continuing from ${resumeFrom.dir} at step ${firstStep} (policy version ${st.policy_version}${carryNote(st.pending_rollout as PendingRollout | undefined)})`);
    }
    loopEnd = await runGrpoLoop(roles, {
      firstStep,
      ...(resumeFrom?.state.pending_rollout ? { pending: reviveCarry(resumeFrom.state.pending_rollout) } : {}),
      lastStep,
      promptsPerGeneration: grpo.promptsPerGeneration, groupSize: g.num_generations, plan: grpo.plan, seed,
      onLog: log,
      nextPrompts: (n) => prompts.next(n),
      evalEvery: schedule.eval_steps,
      checkpointEvery: run.checkpoint_every ?? 0,
      evalBefore: schedule.eval_before_training && !resumeFrom,
      maxStaleness: g.max_staleness,
      shouldStop: () => stopRequested !== null,
      abort: { maxRewardFailureRate: run.max_reward_failure_rate ?? 0.5, maxConsecutiveSkippedUpdates: run.max_consecutive_skipped_updates ?? 3 },
      onTrajectories: (records) => {
        appendFileSync(join(outDir, 'rollouts.jsonl'), records.map((r) => JSON.stringify(r) + '\n').join(''));
        streams.trajectories$.next(records);
      },
      onStep: (m) => {
        metrics.push(m);
        appendFileSync(join(outDir, 'metrics.jsonl'), JSON.stringify(m) + '\n');
        streams.metrics$.next(m);
        if (!opts.quiet) progress.update(m);
        if (m.skipped_update) log(`step ${m.step}: update skipped (non-finite loss or gradients, or an update that would overflow); the adapter keeps its previous values`);
      },
      onEval: (e) => {
        evals.push(e);
        streams.evals$.next(e);
        log(`eval @ step ${e.step} (version ${e.policy_version}): ${Object.entries(e.pass_at_1).map(([b, v]) => `${b} pass@1 ${(100 * v).toFixed(1)}%`).join(', ')}`);
      },
    });
  } finally {
    progress.done();
    sub.unsubscribe();
    for (const s of Object.values(streams)) s.complete();
    actorTable?.stop();
    await dashboard?.close();
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
  const summary = { steps: metrics.length, wall_s: wall, before: first?.pass_at_1, after: last?.pass_at_1, final_format: metrics.at(-1)?.['rewards/format/mean'] ?? metrics.at(-1)?.['rewards/format'], best: evals.reduce<EvalSummary | undefined>((a, b) => (!a || b.average > a.average ? b : a), undefined) };
  writeFileSync(join(outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  const result: TrainingSummary = { outDir, steps: metrics.length, wallSeconds: wall, evals, metrics };
  if (stopRequested !== null) {
    // Interrupted: the last finished step is checkpointed (the loop saw to it); say how to continue.
    const step = loopEnd.lastStep;
    const resumable = step >= 1 && existsSync(join(outDir, `checkpoint-${step}`));
    log(`interrupted at step ${step} by ${stopRequested}; ${resumable ? `--resume ${outDir} continues` : 'no checkpoint yet: run it again (with --overwrite) to start over'}`);
    return { ...result, interrupted: { signal: stopRequested, step } };
  }
  log(`done in ${formatDuration(wall)}: held-out pass@1 ${first ? (100 * first.average).toFixed(1) : '–'}% → ${last ? (100 * last.average).toFixed(1) : '–'}%; report ${join(outDir, 'report.html')}`);
  return result;
}

/** What a checkpoint's carry holds, for the resume line. */
function carryNote(c: PendingRollout | undefined): string {
  const parts = [...(c?.rollout ? ['its pending rollout'] : []), ...(c?.buffer?.length ? [`${c.buffer.length} generation batch(es) in use`] : [])];
  return parts.length ? `, with ${parts.join(' and ')}` : '';
}

// runTraining: one GRPO run in four parts — resolveRunConfig (run-config.ts: every default in one
// place, ConfigError out), openRun (checks everything the run needs before any work, setup.ts; opens
// or resumes the run folder, refusing to clobber one: run-folder.ts), spawnRoles (the base weights
// once in shared memory, the adapter WeightStore, the five actor roles with their typed configs) and
// writeReport — with driveRun running runGrpoLoop between them. It writes the run folder: metrics.jsonl, rollouts.jsonl, eval.jsonl (+ eval-summary.*), PEFT adapter
// checkpoints, the resolved config and report.html. Record files are only appended to (see
// src/report/records.ts); config.resolved.json is written once every check has passed.
import { appendFileSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ActorSystem, type RoleSpec } from '../runtime/actor-system.js';
import { packageActor } from '../runtime/modules.js';
import { WeightStore } from '../runtime/weight-store.js';
import { describeModel } from '../model/weights.js';
import { createLoraLayout } from '../model/lora.js';
import { rewardRoleSpec } from '../rewards/score-batch.js';
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
import {
  checkpointTempDir,
  findResumePoint,
  sealCheckpoint,
  CHECKPOINT_FORMAT,
  type ResumePoint,
} from './checkpoint.js';
import { checkRunFolder, openRunFolder, RunFolderError, type RunFolder } from './run-folder.js';
import { planRun, RunConfigError, type RunPlan } from './setup.js';
import { isRunConfig, resolveRunConfig, type RunConfig } from './run-config.js';
import { LearnerProtocol } from '../../protocols/handlers.js';
import { askRole } from '../runtime/ask-role.js';
import type { EvaluatorConfig, LearnerInit, RolloutInit } from '../../protocols/role-config.js';
import { learnerRecoverySize } from '../rl/learner-recovery.js';
import { learnerAlgorithm } from '../rl/consumers.js';
// Remote roles (rollout, reward on `loractor worker` processes over NATS): src/transport/nats/.
import {
  logRemoteEvents,
  remoteActorRows,
  remoteRewardRunner,
  remoteRolesOf,
  routeRoles,
  startRemoteRoles,
  type RemoteCliOptions,
} from '../transport/nats/run-remote.js';
import type { RemoteRoles } from '../transport/nats/remote-roles.js';

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
  /** --nats URL [--nats-creds FILE] --remote rollout,reward: roles served by workers over NATS JetStream. */
  remote?: RemoteCliOptions;
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

/** The run folder a --resume location belongs to (the location itself, or the parent of a checkpoint folder). */
function resumeRunDir(location: string): string {
  return existsSync(join(location, 'manifest.json')) || /checkpoint-\d+$/.test(location) ? dirname(location) : location;
}

/**
 * One GRPO run: resolve the config (resolveRunConfig: defaults in one place, ConfigError out), open or
 * resume the run folder, spawn the roles, drive the loop, write the report. `config` is a parsed JSON
 * config (or a LoractorConfig, or what resolveRunConfig returned).
 */
export async function runTraining(config: unknown, opts: TrainingOptions = {}): Promise<TrainingSummary> {
  const t0 = Date.now();
  const rc = isRunConfig(config)
    ? config
    : resolveRunConfig(config, {
        ...(opts.configPath !== undefined ? { configPath: opts.configPath } : {}),
        ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
        ...(opts.maxSteps !== undefined ? { maxSteps: opts.maxSteps } : {}),
      });
  const opened = await openRun(rc, opts);
  try {
    const roles = await spawnRoles(opened.plan, opened.folder.dir, opts.remote ?? {});
    let trained: TrainedRun;
    try {
      trained = await driveRun(opened, roles, opts);
    } finally {
      await roles.stop();
    }
    return writeReport(opened, trained, t0);
  } finally {
    opened.folder.release();
  }
}

/** A run folder opened for one run: its plan, where it resumes from, and the config written into it. */
interface OpenedRun {
  folder: RunFolder;
  plan: RunPlan;
  resumeFrom: ResumePoint | null;
  /** Metrics records of the steps up to the resume point (the report covers the whole run). */
  resumedMetrics: StepMetrics[];
  /** What config.resolved.json holds. */
  resolvedConfig: Record<string, unknown>;
}

/**
 * Open the run folder (refusing one this run may not use before anything is loaded), plan the run
 * (setup.ts), find the checkpoint to resume from and check it belongs to this config, then write
 * config.resolved.json: only once every check has passed, so a refused run changes nothing.
 */
async function openRun(rc: RunConfig, opts: TrainingOptions): Promise<OpenedRun> {
  const resumeAt = opts.resume !== undefined ? resolve(opts.resume) : undefined;
  const outDir =
    opts.outDir !== undefined
      ? resolve(opts.outDir)
      : resumeAt !== undefined
        ? resumeRunDir(resumeAt)
        : resolveConfigPath(rc.run.out_dir, rc.configPath);
  const folderOpts = {
    resume: resumeAt !== undefined && resumeRunDir(resumeAt) === outDir,
    overwrite: opts.overwrite ?? false,
    origin: opts.outDir !== undefined ? '--out' : resumeAt !== undefined ? '--resume' : 'run.out_dir',
  };
  checkRunFolder(outDir, folderOpts); // a folder this run may not use is reported before anything is loaded
  // A fault drill aimed at a remote role (drills act in this process) is refused before any work.
  const remoteAtStart = remoteRolesOf(
    (rc.config as { roles?: unknown }).roles as Parameters<typeof remoteRolesOf>[0],
    opts.remote ?? {},
  ).roles;
  const remoteDrill = rc.faults.find((f) => remoteAtStart.includes(f.role as 'rollout'));
  if (remoteDrill)
    throw new RunConfigError(
      `config: faults: a drill on role ${remoteDrill.role}, which runs on remote workers (--remote / roles.${remoteDrill.role}.transport): drills act on local roles only`,
    );
  const plan = await planRun(rc);
  const folder = openRunFolder(outDir, folderOpts);
  let resumeFrom: ResumePoint | null = null;
  try {
    try {
      resumeFrom = resumeAt !== undefined ? findResumePoint(resumeAt) : null;
    } catch (err) {
      throw new RunFolderError(
        `${(err as Error).message}; to start the run afresh instead, use --overwrite without --resume`,
      );
    }
    if (resumeFrom) {
      const st = resumeFrom.state;
      if (st.config_sha256 !== plan.configSha)
        throw new RunFolderError(
          `--resume: ${resumeFrom.dir} was written under a different config (seed, model, lora, data, grpo, rewards or eval changed); resume with the same config`,
        );
      if (st.step >= plan.lastStep)
        throw new RunFolderError(
          `--resume: ${resumeFrom.dir} is at step ${st.step}, the run stops at step ${plan.lastStep}: nothing to do (raise --max-steps)`,
        );
    }
  } catch (err) {
    folder.release({ removeIfEmpty: true });
    throw err;
  }
  // Records past the checkpoint stay in the logs (they are only appended to); the redone steps' records
  // follow them and supersede them for every reader (src/report/records.ts).
  if (resumeFrom) terminateTornRecords(outDir);
  const resumedMetrics = resumeFrom
    ? (readStepMetrics(resumeRunDir(resumeAt!)) as StepMetrics[]).filter((m) => m.step <= resumeFrom!.state.step)
    : [];
  // Every check has passed: the resolved config is written now (atomically), never for a refused run.
  const resolvedConfig = {
    ...plan.raw,
    run: { ...plan.run, seed: plan.seed, out_dir: outDir, max_steps: plan.lastStep },
    model: { ...plan.modelCfg, path: plan.modelDir },
    lora: plan.loraCfg,
    learner: plan.learnerCfg,
    data: plan.data,
    grpo: plan.grpo.config,
    rewards: plan.rewardsCfg,
    eval: { ...plan.evalCfg, ...plan.schedule },
  };
  writeFileSync(join(outDir, 'config.resolved.json.tmp'), JSON.stringify(resolvedConfig, null, 2) + '\n');
  renameSync(join(outDir, 'config.resolved.json.tmp'), join(outDir, 'config.resolved.json'));
  return { folder, plan, resumeFrom, resumedMetrics, resolvedConfig };
}

/** The spawned roles of a run and what they share: the adapter store, the remote roles. */
interface SpawnedRoles {
  system: ActorSystem;
  rolloutRoles: string[];
  /** Roles served by workers on other hosts over NATS (null: every role is local). */
  remote: RemoteRoles | null;
  store: WeightStore;
  /** PEFT's base_model_name_or_path. */
  baseModelName: string;
  /** Adapter values (LoRA parameters). */
  adapterSize: number;
  stop(): Promise<void>;
}

/**
 * Load the base weights once into shared memory, create the adapter WeightStore (and the learner's
 * crash-recovery store), and spawn the roles with their typed configs (protocols/role-config.ts),
 * each merged with the config's `actors` overrides and fault drills.
 */
async function spawnRoles(plan: RunPlan, outDir: string, remoteCli: RemoteCliOptions): Promise<SpawnedRoles> {
  const {
    run,
    seed,
    modelCfg,
    learnerCfg,
    lora,
    evalCfg,
    rewardsCfg,
    modelDir,
    model,
    tok,
    webllm,
    grpo,
    overrides,
    faults,
  } = plan;
  const g = grpo.config;
  const layout = createLoraLayout(model.config, lora);
  // Async: the loop asks one step ahead, so a pending rollout may still want the version before the
  // newest; a third slot lets a republish of the newest keep it (grpo-loop.ts names the versions).
  const store = WeightStore.create(layout.size, { slots: g.max_staleness > 0 ? 3 : 2 });
  const eosTokenIds = model.config.eosTokenIds.length ? model.config.eosTokenIds : [tok.eosTokenId!];
  const modelDesc = describeModel(model);
  // The learner's crash-recovery state lives here, outside its worker (see actors/learner.ts).
  const recovery = run.learner_recovery
    ? WeightStore.create(learnerRecoverySize(layout.size), { maxReaders: 1 })
    : null;
  // PEFT's base_model_name_or_path: the hub id when the config names one, else the absolute folder (never a relative path).
  const baseModelName = modelCfg.hub_id ?? modelDir;
  const learnerInit: LearnerInit = {
    model: modelDesc,
    store: store.describe(),
    lora,
    seed,
    eosTokenIds,
    ...learnerAlgorithm(grpo),
    baseModelName,
    device: learnerCfg,
    ...(recovery ? { recovery: recovery.describe() } : {}),
  };
  const rolloutInit = (name: string): RolloutInit => ({
    model: modelDesc,
    tokenizerDir: modelDir,
    store: store.describe(),
    lora,
    readerName: name,
    maxBatch: modelCfg.rollout_max_batch,
    ...(webllm
      ? { engine: 'webllm', webllm }
      : modelCfg.engine === 'webgpu'
        ? {
            engine: 'webgpu',
            webgpu: { weightDtype: modelCfg.rollout_weight_dtype, residentVersions: g.max_staleness + 1 },
          }
        : { engine: 'builtin' }),
  });
  const evaluatorInit: EvaluatorConfig = {
    modelDir,
    model: modelDesc,
    weightStore: store.describe(),
    lora,
    eval: { ...evalCfg },
    outDir,
  };
  const role = (name: string, base: RoleSpec, instance = name): RoleSpec => {
    const set = Object.fromEntries(
      Object.entries(overrides[name] ?? {}).filter(([k, v]) => v !== undefined && k !== 'config'),
    );
    const drills = faults
      .filter((f) => f.role === name && (instance === name || instance === 'rollout-0'))
      .map((f) => ({ ...f, counter: new SharedArrayBuffer(4) }));
    return { ...base, ...set, ...(drills.length ? { config: { ...(base.config as object), __faults: drills } } : {}) };
  };
  const rolloutRoles = Array.from({ length: modelCfg.rollout_actors }, (_, i) => `rollout-${i}`);
  const remotePlan = remoteRolesOf(plan.raw.roles, remoteCli);
  const localRollouts = remotePlan.roles.includes('rollout') ? [] : rolloutRoles;
  const system = await ActorSystem.start({
    ...Object.fromEntries(
      localRollouts.map((name) => [
        name,
        role(
          'rollout',
          { module: packageActor('rollout'), retries: 1, retryTimeouts: true, config: rolloutInit(name) },
          name,
        ),
      ]),
    ),
    ...(remotePlan.roles.includes('reward') ? {} : { reward: role('reward', rewardRoleSpec(rewardsCfg, outDir)) }),
    advantage: role('advantage', { module: packageActor('advantage'), retryTimeouts: true }),
    // With recovery a crashed or hung learner is replaced, restores its committed state and retries the step.
    learner: role('learner', {
      module: packageActor('learner'),
      retries: recovery ? 2 : 0,
      retryTimeouts: recovery !== null,
      config: learnerInit,
    }),
    evaluator: role('evaluator', {
      module: packageActor('evaluator'),
      retries: 1,
      retryTimeouts: true,
      config: evaluatorInit,
    }),
  });
  let remote: RemoteRoles | null = null;
  try {
    remote =
      remotePlan.roles.length === 0
        ? null
        : await startRemoteRoles({
            cli: remoteCli,
            roles: remotePlan.roles,
            section: remotePlan.section,
            runName: outDir.split(/[\\/]/).pop() ?? 'run',
            store,
            modelDir,
            lora,
            engine: webllm ? 'webllm' : modelCfg.engine === 'webgpu' ? 'webgpu' : 'builtin',
            maxBatch: modelCfg.rollout_max_batch,
            ...(modelCfg.engine === 'webgpu'
              ? { webgpu: { weightDtype: modelCfg.rollout_weight_dtype, residentVersions: g.max_staleness + 1 } }
              : {}),
            ...(webllm ? { webllm: { mlcDir: webllm.mlcDir, libFile: webllm.libFile } } : {}),
            rewardsCfg,
            baseDir: outDir,
            syncRetries: run.sync_retries,
          });
  } catch (err) {
    await system.shutdown({ drain: false });
    throw err;
  }
  return {
    system,
    rolloutRoles,
    remote,
    store,
    baseModelName,
    adapterSize: layout.size,
    async stop() {
      await remote?.close();
      await system.shutdown({ drain: true, timeoutMs: 30000 });
    },
  };
}

/** What a driven run leaves for its report. */
interface TrainedRun {
  metrics: StepMetrics[];
  evals: EvalSummary[];
  /** SIGINT/SIGTERM stopped it after this step. */
  interrupted?: { signal: NodeJS.Signals; step: number };
  log(line: string): void;
}

/** Drive the GRPO loop over the spawned roles: progress, the run's streams and logs, checkpoints, resume, signals. */
async function driveRun(opened: OpenedRun, actors: SpawnedRoles, opts: TrainingOptions): Promise<TrainedRun> {
  const { folder, plan, resumeFrom } = opened;
  const { run, seed, lora, schedule, evalCfg, rewardsCfg, modelDir, model, grpo, lastStep, configSha } = plan;
  const { system, rolloutRoles, remote, store, baseModelName } = actors;
  const g = grpo.config;
  const outDir = folder.dir;
  const prompts = plan.prompts.source(seed, resumeFrom?.state.prompt_sampler);
  const progress = createProgress({ totalSteps: lastStep, plain: opts.plainProgress });
  const log = (line: string): void => {
    if (!opts.quiet) progress.log(line);
  };
  const metrics: StepMetrics[] = [...opened.resumedMetrics];
  const evals: EvalSummary[] = resumeFrom ? [...resumeFrom.state.evals] : [];
  // The run's streams. Subscribers: TensorBoard event file + metrics.csv (written as the run goes), the dashboard, an embedding app.
  const streams = {
    metrics$: new Subject<StepMetrics>(),
    evals$: new Subject<EvalSummary>(),
    trajectories$: new Subject<TrajectoryRecord[]>(),
  };
  const tb = createTensorBoardWriter(outDir, resumeFrom ? { resumeStep: resumeFrom.state.step + 1 } : {});
  streams.metrics$.subscribe((m) => {
    tb.scalars(m.step, m);
    writeMetricsCsv(join(outDir, 'metrics.csv'), metrics);
  });
  streams.evals$.subscribe((e) =>
    tb.scalars(e.step, {
      ...Object.fromEntries(Object.entries(e.pass_at_1).map(([b, v]) => [`eval/pass@1/${b}`, v])),
      'eval/pass@1/average': e.average,
    }),
  );
  let actorTable: ActorTable | null = null;
  let dashboard: Dashboard | null = null;
  if (opts.dashboard) {
    const table = (actorTable = trackActors(system, store, remote ? () => remoteActorRows(remote!) : undefined));
    dashboard = await startDashboard({
      ...opts.dashboard,
      title: `loractor run — ${outDir}`,
      totalSteps: lastStep,
      actors: () => table.rows(),
      metrics,
      evals,
    });
    const d = dashboard;
    streams.metrics$.subscribe((m) => d.step(m));
    streams.evals$.subscribe((e) => d.evaluated(e));
    streams.trajectories$.subscribe((r) => {
      table.noteCompletions(r);
      d.completions(r);
    });
    log(`dashboard: ${dashboard.url} (read-only; serving ${opts.dashboard.host ?? '127.0.0.1'})`);
  }
  opts.onStreams?.(streams);
  const remoteLog = remote ? logRemoteEvents(remote, log) : null;
  let stopRequested: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals): void => {
    stopRequested = sig;
    log(`${sig}: finishing the current step, then saving and stopping`);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let loopEnd = { lastStep: 0, version: 0 };
  const sub = system.events$.subscribe((e) => {
    if (
      e.type === 'crash' ||
      e.type === 'handler-error' ||
      e.type === 'dead-letter' ||
      e.type === 'timeout' ||
      e.type === 'retry'
    )
      log(
        `actor event: ${e.type} in ${e.role}${'handler' in e ? '.' + e.handler : ''}${'error' in e ? ': ' + e.error.message : ''}`,
      );
    // A rollout actor that never acknowledged the version: name it and what it last applied.
    if (e.type === 'timeout' && e.handler === 'sync') {
      for (const r of store.lateReaders(store.version).filter((x) => x.name === e.role))
        log(
          `weight sync: ${r.name} did not acknowledge version ${store.version} within ${e.deadlineMs} ms (last acknowledged v${r.acked}); its worker is replaced`,
        );
    }
  });
  try {
    for (const note of plan.notes) log(note);
    if (folder.movedAside) log(`--overwrite: the previous run in ${outDir} was moved to ${folder.movedAside}`);
    if (folder.staleLock)
      log(
        `run folder: took over the lock of pid ${folder.staleLock.pid} (started ${folder.staleLock.started}), which is no longer running`,
      );
    for (const t of folder.removedTemps)
      log(`run folder: removed the stale checkpoint temp folder ${t} (left by an interrupted save)`);
    // Config warnings (also printed by `check`): allowed, but probably not what was meant.
    for (const w of grpo.warnings) log(`config warning: grpo.${w.field}: ${w.message}`);
    log(
      `loractor: ${lastStep} GRPO steps on ${modelDir} (${model.config.numLayers} layers, d ${model.config.hiddenSize}), LoRA r ${lora.r} on ${lora.targetModules.length} modules (${actors.adapterSize} params), ${grpo.promptsPerStep} prompts × G ${g.num_generations}; out ${outDir}`,
    );
    // A failed save (a full disk, a non-finite adapter) removes its temp folder and names the file.
    const checkpoint = async (step: number, pending?: PendingRollout): Promise<string> => {
      const tmp = checkpointTempDir(outDir, step);
      try {
        const saved = await askRole(system, 'learner', LearnerProtocol.saveCheckpoint, { dir: tmp, step });
        sealCheckpoint(
          outDir,
          tmp,
          {
            format: CHECKPOINT_FORMAT,
            step,
            policy_version: step,
            seed,
            config_sha256: configSha,
            prompt_sampler: prompts.state(),
            learner_dropout_rng: saved.dropoutRng,
            evals,
            ...(pending ? { pending_rollout: pending } : {}),
            time: new Date().toISOString(),
          },
          renderModelCard({
            baseModel: baseModelName,
            step,
            lastStep,
            lora,
            evals,
            metrics: metrics.find((m) => m.step === step),
            training: {
              algorithm: 'GRPO',
              loss_type: g.loss_type,
              beta: g.beta,
              epsilon: g.epsilon,
              num_generations: g.num_generations,
              prompts_per_step: grpo.promptsPerStep,
              learning_rate: g.learning_rate,
              lr_scheduler_type: g.lr_scheduler_type,
              max_completion_length: g.max_completion_length,
              temperature: g.temperature,
              max_staleness: g.max_staleness,
              reward_funcs: rewardsCfg.reward_funcs
                .map((f) => (typeof f === 'string' ? f : JSON.stringify(f)))
                .join(', '),
              reward_weights: rewardsCfg.reward_weights?.join(', '),
              seed,
            },
          }),
        );
      } catch (err) {
        rmSync(tmp, { recursive: true, force: true });
        throw new Error(`checkpoint-${step} not saved (its partial folder was removed): ${(err as Error).message}`, {
          cause: err,
        });
      }
      return `checkpoint-${step}`;
    };
    const roles = bindRoles({
      system: routeRoles(system, remote),
      rolloutRoles,
      ...(remote?.isRemote('reward')
        ? { rewardRunner: remoteRewardRunner(remote), rewardConcurrency: Math.max(16, rewardsCfg.reward_num_workers) }
        : {}),
      rewardsCfg,
      grpo,
      evalCfg,
      outDir,
      checkpoint,
      store,
      syncTimeoutMs: Math.round(1000 * run.sync_timeout_s),
      syncRetries: run.sync_retries,
      report: log,
    });
    let firstStep = 1;
    if (resumeFrom) {
      const st = resumeFrom.state;
      for (const s of resumeFrom.skipped) log(`resume: skipped ${s.dir}: ${s.why}`);
      await askRole(system, 'learner', LearnerProtocol.restoreCheckpoint, {
        dir: resumeFrom.dir,
        step: st.step,
        dropoutRng: st.learner_dropout_rng,
      });
      await roles.sync(st.policy_version);
      firstStep = st.step + 1;
      log(
        `resume: continuing from ${resumeFrom.dir} at step ${firstStep} (policy version ${st.policy_version}${carryNote(st.pending_rollout as PendingRollout | undefined)})`,
      );
    }
    loopEnd = await runGrpoLoop(roles, {
      firstStep,
      ...(resumeFrom?.state.pending_rollout ? { pending: reviveCarry(resumeFrom.state.pending_rollout) } : {}),
      lastStep,
      promptsPerGeneration: grpo.promptsPerGeneration,
      groupSize: g.num_generations,
      plan: grpo.plan,
      seed,
      onLog: log,
      nextPrompts: (n) => prompts.next(n),
      evalEvery: schedule.eval_steps,
      checkpointEvery: run.checkpoint_every,
      evalBefore: schedule.eval_before_training && !resumeFrom,
      maxStaleness: g.max_staleness,
      shouldStop: () => stopRequested !== null,
      abort: {
        maxRewardFailureRate: run.max_reward_failure_rate,
        maxConsecutiveSkippedUpdates: run.max_consecutive_skipped_updates,
      },
      onTrajectories: (records) => {
        appendFileSync(join(outDir, 'rollouts.jsonl'), records.map((r) => JSON.stringify(r) + '\n').join(''));
        streams.trajectories$.next(records);
      },
      onStep: (m) => {
        metrics.push(m);
        appendFileSync(join(outDir, 'metrics.jsonl'), JSON.stringify(m) + '\n');
        streams.metrics$.next(m);
        if (!opts.quiet) progress.update(m);
        if (m.skipped_update)
          log(
            `step ${m.step}: update skipped (non-finite loss or gradients, or an update that would overflow); the adapter keeps its previous values`,
          );
      },
      onEval: (e) => {
        evals.push(e);
        streams.evals$.next(e);
        log(
          `eval @ step ${e.step} (version ${e.policy_version}): ${Object.entries(e.pass_at_1)
            .map(([b, v]) => `${b} pass@1 ${(100 * v).toFixed(1)}%`)
            .join(', ')}`,
        );
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
    remoteLog?.unsubscribe();
  }
  return {
    metrics,
    evals,
    log,
    ...(stopRequested !== null ? { interrupted: { signal: stopRequested, step: loopEnd.lastStep } } : {}),
  };
}

/** Write report.html and summary.json, and say how the run ended (and how to continue an interrupted one). */
function writeReport(opened: OpenedRun, trained: TrainedRun, t0: number): TrainingSummary {
  const { plan, resolvedConfig } = opened;
  const { seed, lora, modelDir, grpo } = plan;
  const g = grpo.config;
  const outDir = opened.folder.dir;
  const { metrics, evals, log } = trained;
  const wall = (Date.now() - t0) / 1000;
  const first = evals[0],
    last = evals[evals.length - 1];
  const facts: Record<string, string | number> = {
    model: modelDir,
    steps: metrics.length,
    'wall time': formatDuration(wall),
    seed,
    'prompts × G': `${grpo.promptsPerStep} × ${g.num_generations}`,
    LoRA: `r ${lora.r}, alpha ${lora.alpha}, ${lora.targetModules.join(',')}`,
  };
  writeFileSync(
    join(outDir, 'report.html'),
    renderReport({ title: `loractor run — ${outDir}`, metrics, evals, config: resolvedConfig, facts }),
  );
  const summary = {
    steps: metrics.length,
    wall_s: wall,
    before: first?.pass_at_1,
    after: last?.pass_at_1,
    final_format: metrics.at(-1)?.['rewards/format/mean'] ?? metrics.at(-1)?.['rewards/format'],
    best: evals.reduce<EvalSummary | undefined>((a, b) => (!a || b.average > a.average ? b : a), undefined),
  };
  writeFileSync(join(outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  const result: TrainingSummary = { outDir, steps: metrics.length, wallSeconds: wall, evals, metrics };
  if (trained.interrupted) {
    // Interrupted: the last finished step is checkpointed (the loop saw to it); say how to continue.
    const { signal, step } = trained.interrupted;
    const resumable = step >= 1 && existsSync(join(outDir, `checkpoint-${step}`));
    log(
      `interrupted at step ${step} by ${signal}; ${resumable ? `--resume ${outDir} continues` : 'no checkpoint yet: run it again (with --overwrite) to start over'}`,
    );
    return { ...result, interrupted: { signal, step } };
  }
  log(
    `done in ${formatDuration(wall)}: held-out pass@1 ${first ? (100 * first.average).toFixed(1) : '–'}% → ${last ? (100 * last.average).toFixed(1) : '–'}%; report ${join(outDir, 'report.html')}`,
  );
  return result;
}

/** What a checkpoint's carry holds, for the resume line. */
function carryNote(c: PendingRollout | undefined): string {
  const parts = [
    ...(c?.rollout ? ['its pending rollout'] : []),
    ...(c?.buffer?.length ? [`${c.buffer.length} generation batch(es) in use`] : []),
  ];
  return parts.length ? `, with ${parts.join(' and ')}` : '';
}

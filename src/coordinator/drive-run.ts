// driveRun: the third part of a run. It runs the GRPO loop (grpo-loop.ts) over the spawned roles and
// does what a run needs around it: progress lines, the run's streams (run-streams.ts), the record
// files, checkpoints (save-checkpoint.ts), resuming from one, actor events in the log, and SIGINT /
// SIGTERM, which finish the current step, save it and stop.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Subscription } from 'rxjs';
import type { ActorSystem } from '../runtime/actor-system.js';
import type { WeightStore } from '../runtime/weight-store.js';
import type { EvalSummary, StepMetrics } from '../report/index.js';
import { createProgress } from '../report/progress.js';
import { LearnerProtocol } from '../../protocols/handlers.js';
import { askRole } from '../runtime/ask-role.js';
import { bindRoles } from './roles.js';
import { runGrpoLoop, type GrpoLoopOptions, type GrpoRoles, type PendingRollout } from './grpo-loop.js';
import { reviveCarry } from './generation.js';
import { logRemoteEvents, remoteRewardRunner, routeRoles } from '../transport/nats/run-remote.js';
import type { OpenedRun } from './open-run.js';
import type { ResumePoint } from './checkpoint.js';
import type { SpawnedRoles } from './spawn-roles.js';
import { openRunStreams, type OpenedStreams } from './run-streams.js';
import { checkpointSaver } from './save-checkpoint.js';
import type { TrainingOptions } from './training-types.js';

/** What a driven run leaves for its report. */
export interface TrainedRun {
  metrics: StepMetrics[];
  evals: EvalSummary[];
  /** SIGINT/SIGTERM stopped it after this step. */
  interrupted?: { signal: NodeJS.Signals; step: number };
  log(line: string): void;
}

/** Drive the GRPO loop over the spawned roles: progress, the run's streams and logs, checkpoints, resume, signals. */
export async function driveRun(opened: OpenedRun, actors: SpawnedRoles, opts: TrainingOptions): Promise<TrainedRun> {
  const { folder, plan, resumeFrom } = opened;
  const { seed, lastStep } = plan;
  const { system, remote, store, baseModelName } = actors;
  const outDir = folder.dir;
  const prompts = plan.prompts.source(seed, resumeFrom?.state.prompt_sampler);
  const progress = createProgress({ totalSteps: lastStep, plain: opts.plainProgress });
  const log = (line: string): void => {
    if (!opts.quiet) progress.log(line);
  };
  const metrics: StepMetrics[] = [...opened.resumedMetrics];
  const evals: EvalSummary[] = resumeFrom ? [...resumeFrom.state.evals] : [];
  const streams = await openRunStreams({
    outDir,
    ...(resumeFrom ? { resumeStep: resumeFrom.state.step + 1 } : {}),
    lastStep,
    metrics,
    evals,
    system,
    store,
    remote,
    opts,
    log,
  });
  const remoteLog = remote ? logRemoteEvents(remote, log) : null;
  const stop = stopOnSignals(log);
  let loopEnd = { lastStep: 0, version: 0 };
  const sub = logActorEvents(system, store, log);
  try {
    logRunStart(opened, actors, log);
    const checkpoint = checkpointSaver({ outDir, system, plan, baseModelName, prompts, evals, metrics });
    const roles = bindRunRoles(opened, actors, checkpoint, log);
    const firstStep = resumeFrom ? await resumeRoles(resumeFrom, system, roles, log) : 1;
    loopEnd = await runGrpoLoop(roles, {
      ...loopSettings(opened, firstStep, stop.requested),
      nextPrompts: (n) => prompts.next(n),
      onLog: log,
      ...stepRecorder({ outDir, streams, metrics, evals, log, progress: opts.quiet ? null : progress }),
    });
  } finally {
    progress.done();
    sub.unsubscribe();
    await streams.close();
    stop.off();
    remoteLog?.unsubscribe();
  }
  const signal = stop.requested();
  return {
    metrics,
    evals,
    log,
    ...(signal !== null ? { interrupted: { signal, step: loopEnd.lastStep } } : {}),
  };
}

/** SIGINT / SIGTERM ask the loop to stop after the current step (it saves it); off() stops listening. */
function stopOnSignals(log: (line: string) => void): { requested(): NodeJS.Signals | null; off(): void } {
  let requested: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals): void => {
    requested = sig;
    log(`${sig}: finishing the current step, then saving and stopping`);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    requested: () => requested,
    off: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** The roles the loop calls, bound to this run: local actors or remote workers, rewards, sync, checkpoints. */
function bindRunRoles(
  { folder, plan }: OpenedRun,
  { system, rolloutRoles, remote, store }: SpawnedRoles,
  checkpoint: ReturnType<typeof checkpointSaver>,
  log: (line: string) => void,
): GrpoRoles {
  const { run, evalCfg, rewardsCfg, grpo } = plan;
  return bindRoles({
    system: routeRoles(system, remote),
    rolloutRoles,
    ...(remote?.isRemote('reward')
      ? { rewardRunner: remoteRewardRunner(remote), rewardConcurrency: Math.max(16, rewardsCfg.reward_num_workers) }
      : {}),
    rewardsCfg,
    grpo,
    evalCfg,
    outDir: folder.dir,
    checkpoint,
    store,
    syncTimeoutMs: Math.round(1000 * run.sync_timeout_s),
    syncRetries: run.sync_retries,
    report: log,
  });
}

/** The loop's schedule from the run's plan: steps, generation shape, eval and checkpoint cadence, limits. */
function loopSettings(
  { plan, resumeFrom }: OpenedRun,
  firstStep: number,
  stopRequested: () => NodeJS.Signals | null,
): Omit<GrpoLoopOptions, 'nextPrompts' | 'onLog' | keyof ReturnType<typeof stepRecorder>> {
  const { run, seed, schedule, grpo, lastStep } = plan;
  const g = grpo.config;
  return {
    firstStep,
    ...(resumeFrom?.state.pending_rollout ? { pending: reviveCarry(resumeFrom.state.pending_rollout) } : {}),
    lastStep,
    promptsPerGeneration: grpo.promptsPerGeneration,
    groupSize: g.num_generations,
    plan: grpo.plan,
    seed,
    evalEvery: schedule.eval_steps,
    checkpointEvery: run.checkpoint_every,
    evalBefore: schedule.eval_before_training && !resumeFrom,
    maxStaleness: g.max_staleness,
    shouldStop: () => stopRequested() !== null,
    abort: {
      maxRewardFailureRate: run.max_reward_failure_rate,
      maxConsecutiveSkippedUpdates: run.max_consecutive_skipped_updates,
    },
  };
}

/** What a checkpoint's carry holds, for the resume line. */
function carryNote(c: PendingRollout | undefined): string {
  const parts = [
    ...(c?.rollout ? ['its pending rollout'] : []),
    ...(c?.buffer?.length ? [`${c.buffer.length} generation batch(es) in use`] : []),
  ];
  return parts.length ? `, with ${parts.join(' and ')}` : '';
}

/** Actor events worth a log line: crashes, handler errors, dead letters, timeouts, retries, late syncs. */
function logActorEvents(system: ActorSystem, store: WeightStore, log: (line: string) => void): Subscription {
  return system.events$.subscribe((e) => {
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
}

/** The run's opening lines: the plan's notes, what happened to the run folder, config warnings, the run. */
function logRunStart(opened: OpenedRun, actors: SpawnedRoles, log: (line: string) => void): void {
  const { folder, plan } = opened;
  const { lora, modelDir, model, grpo, lastStep } = plan;
  const g = grpo.config;
  const outDir = folder.dir;
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
}

/** Restores the learner from the checkpoint and syncs its version; returns the first step to run. */
async function resumeRoles(
  resumeFrom: ResumePoint,
  system: ActorSystem,
  roles: GrpoRoles,
  log: (line: string) => void,
): Promise<number> {
  const st = resumeFrom.state;
  for (const s of resumeFrom.skipped) log(`resume: skipped ${s.dir}: ${s.why}`);
  await askRole(system, 'learner', LearnerProtocol.restoreCheckpoint, {
    dir: resumeFrom.dir,
    step: st.step,
    dropoutRng: st.learner_dropout_rng,
  });
  await roles.sync(st.policy_version);
  const firstStep = st.step + 1;
  log(
    `resume: continuing from ${resumeFrom.dir} at step ${firstStep} (policy version ${st.policy_version}${carryNote(st.pending_rollout as PendingRollout | undefined)})`,
  );
  return firstStep;
}

/** Where each finished step, batch of trajectories and evaluation goes: the record files, the streams, the log. */
function stepRecorder(r: {
  outDir: string;
  streams: OpenedStreams;
  metrics: StepMetrics[];
  evals: EvalSummary[];
  log: (line: string) => void;
  /** null with --quiet. */
  progress: Pick<ReturnType<typeof createProgress>, 'update'> | null;
}): Pick<GrpoLoopOptions, 'onTrajectories' | 'onStep' | 'onEval'> {
  const { outDir, streams, metrics, evals, log, progress } = r;
  return {
    onTrajectories: (records) => {
      appendFileSync(join(outDir, 'rollouts.jsonl'), records.map((r) => JSON.stringify(r) + '\n').join(''));
      streams.trajectories$.next(records);
    },
    onStep: (m) => {
      metrics.push(m);
      appendFileSync(join(outDir, 'metrics.jsonl'), JSON.stringify(m) + '\n');
      streams.metrics$.next(m);
      progress?.update(m);
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
  };
}

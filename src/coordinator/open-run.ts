// openRun: the first part of a run. It checks the run folder and the config before anything is loaded,
// finds the checkpoint to resume from, and writes config.resolved.json only once every check has passed,
// so a refused run changes nothing.
import { renameSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { StepMetrics } from '../report/index.js';
import { readStepMetrics, terminateTornRecords } from '../report/records.js';
import { resolveConfigPath } from '../config/paths.js';
import { findResumePoint, type ResumePoint } from './checkpoint.js';
import { checkRunFolder, openRunFolder, RunFolderError, type RunFolder } from './run-folder.js';
import { planRun, RunConfigError, type RunPlan } from './setup.js';
import type { RunConfig } from './run-config.js';
import { remoteRolesOf } from '../transport/nats/run-remote.js';
import type { TrainingOptions } from './training-types.js';

/** The run folder a --resume location belongs to (the location itself, or the parent of a checkpoint folder). */
function resumeRunDir(location: string): string {
  return existsSync(join(location, 'manifest.json')) || /checkpoint-\d+$/.test(location) ? dirname(location) : location;
}

/** A run folder opened for one run: its plan, where it resumes from, and the config written into it. */
export interface OpenedRun {
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
export async function openRun(rc: RunConfig, opts: TrainingOptions): Promise<OpenedRun> {
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

// runTraining: one GRPO run in four parts, each in its own module:
// - resolveRunConfig (run-config.ts): every default in one place, ConfigError out;
// - openRun (open-run.ts): checks everything the run needs before any work (setup.ts), opens or resumes
//   the run folder and refuses to clobber one (run-folder.ts);
// - spawnRoles (spawn-roles.ts): the base weights once in shared memory, the adapter WeightStore, the
//   five actor roles with their typed configs;
// - driveRun (drive-run.ts): runGrpoLoop over those roles, with checkpoints, streams and signals;
// then writeReport (here). The run folder holds metrics.jsonl, rollouts.jsonl, eval.jsonl (+ eval-summary.*),
// PEFT adapter checkpoints, the resolved config and report.html. Record files are only appended to (see
// src/report/records.ts); config.resolved.json is written once every check has passed.
import { writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { renderReport, type EvalSummary } from '../report/index.js';
import { formatDuration } from '../report/progress.js';
import { isRunConfig, resolveRunConfig } from './run-config.js';
import { openRun, type OpenedRun } from './open-run.js';
import { spawnRoles } from './spawn-roles.js';
import { driveRun, type TrainedRun } from './drive-run.js';
import type { TrainingOptions, TrainingSummary } from './training-types.js';

export type { RunStreams, TrainingOptions, TrainingSummary } from './training-types.js';

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

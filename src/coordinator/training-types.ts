// The public shapes of a training run: what runTraining takes (TrainingOptions), what it streams as it
// goes (RunStreams) and what it returns (TrainingSummary). Kept apart so each part of the run (open-run,
// spawn-roles, drive-run) can name them without importing the entry point.
import type { Observable } from 'rxjs';
import type { EvalSummary, StepMetrics } from '../report/index.js';
import type { TrajectoryRecord } from './grpo-loop.js';
import type { RemoteCliOptions } from '../transport/nats/run-remote.js';

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

// The run's streams and their subscribers: a metrics record per step, each evaluation, each step's
// trajectories. The TensorBoard event file and metrics.csv are written as the run goes; the live
// dashboard (--dashboard) and an embedding app (TrainingOptions.onStreams) subscribe to the same.
import { join } from 'node:path';
import { Subject } from 'rxjs';
import type { ActorSystem } from '../runtime/actor-system.js';
import type { WeightStore } from '../runtime/weight-store.js';
import type { EvalSummary, StepMetrics } from '../report/index.js';
import { createTensorBoardWriter } from '../report/tensorboard.js';
import { writeMetricsCsv } from '../report/csv.js';
import { startDashboard, type Dashboard } from '../report/dashboard.js';
import { trackActors, type ActorTable } from './actor-table.js';
import type { TrajectoryRecord } from './grpo-loop.js';
import { remoteActorRows } from '../transport/nats/run-remote.js';
import type { RemoteRoles } from '../transport/nats/remote-roles.js';
import type { TrainingOptions } from './training-types.js';

export interface RunStreamsContext {
  outDir: string;
  /** The first step this process runs, when it resumes (TensorBoard drops the superseded events past it). */
  resumeStep?: number;
  lastStep: number;
  /** The run's records so far: the CSV and the dashboard read them whole. */
  metrics: StepMetrics[];
  evals: EvalSummary[];
  system: ActorSystem;
  store: WeightStore;
  remote: RemoteRoles | null;
  opts: TrainingOptions;
  log(line: string): void;
}

/** The streams a run feeds, and close(): completes them and stops what subscribed (the dashboard). */
export interface OpenedStreams {
  metrics$: Subject<StepMetrics>;
  evals$: Subject<EvalSummary>;
  trajectories$: Subject<TrajectoryRecord[]>;
  close(): Promise<void>;
}

export async function openRunStreams(ctx: RunStreamsContext): Promise<OpenedStreams> {
  const { outDir, metrics, opts } = ctx;
  const streams = {
    metrics$: new Subject<StepMetrics>(),
    evals$: new Subject<EvalSummary>(),
    trajectories$: new Subject<TrajectoryRecord[]>(),
  };
  const tb = createTensorBoardWriter(outDir, ctx.resumeStep !== undefined ? { resumeStep: ctx.resumeStep } : {});
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
  const live = opts.dashboard ? await serveDashboard(ctx, streams, opts.dashboard) : null;
  opts.onStreams?.(streams);
  return {
    ...streams,
    async close() {
      for (const s of Object.values(streams)) s.complete();
      live?.table.stop();
      await live?.dashboard.close();
    },
  };
}

/** --dashboard: the live page, fed by the run's streams and a table of the actors (local and remote). */
async function serveDashboard(
  ctx: RunStreamsContext,
  streams: Omit<OpenedStreams, 'close'>,
  at: NonNullable<TrainingOptions['dashboard']>,
): Promise<{ table: ActorTable; dashboard: Dashboard }> {
  const { remote } = ctx;
  const table = trackActors(ctx.system, ctx.store, remote ? () => remoteActorRows(remote) : undefined);
  const dashboard = await startDashboard({
    ...at,
    title: `loractor run — ${ctx.outDir}`,
    totalSteps: ctx.lastStep,
    actors: () => table.rows(),
    metrics: ctx.metrics,
    evals: ctx.evals,
  });
  streams.metrics$.subscribe((m) => dashboard.step(m));
  streams.evals$.subscribe((e) => dashboard.evaluated(e));
  streams.trajectories$.subscribe((r) => {
    table.noteCompletions(r);
    dashboard.completions(r);
  });
  ctx.log(`dashboard: ${dashboard.url} (read-only; serving ${at.host ?? '127.0.0.1'})`);
  return { table, dashboard };
}

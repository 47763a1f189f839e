// Hosting a run's role in the worker (worker.ts is the entry; see its header): the role's actor module
// from actors/ in its own ActorSystem, configured from the run announcement. Reward checks the run's
// functions against what the operator allows and warms every thread; rollout checks this host's copy
// of the model against the run's and the adapter layout, then starts its engines.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ActorSystem } from '../../runtime/actor-system.js';
import { packageActor } from '../../runtime/modules.js';
import { WeightStore } from '../../runtime/weight-store.js';
import { loadModel } from '../../model/load.js';
import { describeModel, type Model } from '../../model/weights.js';
import { createLoraLayout } from '../../model/lora.js';
import type { RunAnnouncement } from '../../../protocols/remote.js';
import { adapterFetcher } from './adapters.js';
import type { WorkerState } from './worker-types.js';

/** The role's system, and (rollout) the adapter fetcher and engine name. */
export interface HostedRole {
  system: ActorSystem;
  fetcher?: ReturnType<typeof adapterFetcher>;
  engine?: string;
}

/**
 * Run the reward actor's warmup on every thread (one call each, concurrently: each thread takes one),
 * so no item's deadline is charged for a thread loading the verifier and the run's functions.
 */
export async function warmRewardThreads(
  system: ActorSystem,
  threads: number,
  rw: NonNullable<RunAnnouncement['reward']>,
): Promise<void> {
  await Promise.all(
    Array.from({ length: threads }, () =>
      system.ask('reward', 'warmup', { funcs: rw.funcs, ...(rw.kwargs ? { kwargs: rw.kwargs } : {}) }),
    ),
  );
}

const sha256File = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

/** The role's actor module in its own ActorSystem, configured from the run announcement. */
export async function hostRole(w: WorkerState, ann: RunAnnouncement): Promise<HostedRole> {
  if (w.o.role === 'reward') return hostReward(w, ann);
  return hostRollout(w, ann);
}

async function hostReward(w: WorkerState, ann: RunAnnouncement): Promise<HostedRole> {
  const rw = ann.reward;
  if (!rw) throw new Error('the run announces no reward settings');
  // A custom module is code: run it only when the worker's operator said so.
  const custom = rw.funcs.filter((f) => typeof f !== 'string');
  if (custom.length && !w.o.allowRewardModules)
    throw new Error(
      `the run names custom reward modules (${custom.map((f) => JSON.stringify(f)).join(', ')}); this worker runs only built-in reward functions unless started with --allow-reward-modules`,
    );
  const system = await ActorSystem.start({
    reward: {
      module: packageActor('reward'),
      threads: w.threads,
      retries: 0,
      deadlineMs: rw.timeoutMs,
      config: { funcs: rw.funcs, ...(rw.kwargs ? { kwargs: rw.kwargs } : {}) },
    },
  });
  await warmRewardThreads(system, w.threads, rw);
  return { system };
}

async function hostRollout(w: WorkerState, ann: RunAnnouncement): Promise<HostedRole> {
  const ro = ann.rollout;
  if (!ro) throw new Error('the run announces no rollout settings');
  const modelDir = w.o.modelDir ?? ro.modelDir;
  checkModelConfig(modelDir, ro.modelConfigSha256);
  let model = w.models.get(modelDir);
  if (!model) w.models.set(modelDir, (model = loadModel(modelDir)));
  const layout = createLoraLayout(model.config, ro.lora);
  if (layout.size !== ro.adapterSize)
    throw new Error(`adapter layout: ${layout.size} values here, ${ro.adapterSize} in the run`);
  const store = WeightStore.create(layout.size);
  const engine = w.o.engine ?? ro.engine;
  const config = rolloutConfig(w, ro, model, modelDir, store, engine);
  const system = await ActorSystem.start({
    rollout: { module: packageActor('rollout'), threads: w.threads, retries: 1, config },
  });
  return { system, fetcher: adapterFetcher(w.os, ann.run, store), engine };
}

/** This host's copy of the model must be the run's: same config.json bytes. */
function checkModelConfig(modelDir: string, runSha256: string): void {
  let sha: string;
  try {
    sha = sha256File(join(modelDir, 'config.json'));
  } catch (err) {
    throw new Error(`model ${modelDir}: ${(err as Error).message} (give this host's copy with --model DIR)`);
  }
  if (sha !== runSha256)
    throw new Error(
      `model ${modelDir}: config.json differs from the run's model (sha256 ${sha.slice(0, 12)}… vs ${runSha256.slice(0, 12)}…)`,
    );
}

/** The rollout actor's config: the loaded model, the adapter store it reads, and the engine's settings. */
function rolloutConfig(
  w: WorkerState,
  ro: NonNullable<RunAnnouncement['rollout']>,
  model: Model<Float32Array>,
  modelDir: string,
  store: WeightStore,
  engine: string,
) {
  return {
    model: describeModel(model),
    tokenizerDir: modelDir,
    store: store.describe(),
    lora: ro.lora,
    readerName: w.id,
    maxBatch: ro.maxBatch,
    ...(engine === 'webllm'
      ? { engine, webllm: ro.webllm }
      : engine === 'webgpu'
        ? { engine, webgpu: ro.webgpu ?? {} }
        : { engine: 'builtin' }),
  };
}

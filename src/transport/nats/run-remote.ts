// Glue between a training run and its remote roles: which roles run on workers (the `roles` section
// and --remote), the announcement workers need, an asker that routes each role to the ActorSystem or
// to NATS behind one ask(), the log lines of worker events, and the dashboard's rows for workers.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Subscription } from 'rxjs';
import type { CallOptions } from '../../runtime/actor-system.js';
import type { WeightStore } from '../../runtime/weight-store.js';
import type { ActorRow } from '../../report/dashboard.js';
import { rolesSectionSchema } from '../../config/roles.js';
import { absolutizeSpec, type RewardFuncSpec } from '../../rewards/registry.js';
import { rewardKwargsOf, type RewardsConfig } from '../../rewards/config.js';
import type { LoraSettings } from '../../model/adapter-layout.js';
import type { RewardTaskRunner } from '../../rewards/score-batch.js';
import { ActorTimeoutError } from '../../runtime/errors.js';
import { packageVersion } from '../../cli/standard-flags.js';
import { openRemoteRoles, type RemoteRoles } from './remote-roles.js';
import type { NatsOptions } from './connect.js';
import type { RemoteRole } from './worker.js';

/** What the command line says about remote roles (--nats URL --remote rollout,reward). */
export interface RemoteCliOptions {
  nats?: NatsOptions;
  remote?: RemoteRole[];
}

/** The one method the GRPO roles use to reach an actor, wherever it runs. */
export interface RoleAsker {
  ask<R = unknown>(role: string, handler: string, msg: unknown, opts?: CallOptions): Promise<R>;
}

/** Remote roles of a run: the union of --remote and roles.<name>.transport "nats". */
export function remoteRolesOf(
  rawRoles: unknown,
  cli: RemoteCliOptions,
): { roles: RemoteRole[]; section: ReturnType<typeof rolesSectionSchema.parse> } {
  const section = rolesSectionSchema.parse(rawRoles ?? {});
  const roles = new Set<RemoteRole>(cli.remote ?? []);
  for (const r of ['rollout', 'reward'] as const) if (section[r]?.transport === 'nats') roles.add(r);
  if (roles.size && !cli.nats)
    throw new Error(`roles ${[...roles].join(', ')} run over NATS: give the server with --nats URL`);
  return { roles: [...roles], section };
}

export interface StartRemoteOptions {
  cli: RemoteCliOptions;
  roles: RemoteRole[];
  section: ReturnType<typeof rolesSectionSchema.parse>;
  runName: string;
  store: WeightStore;
  modelDir: string;
  lora: LoraSettings;
  engine: 'builtin' | 'webgpu' | 'webllm';
  maxBatch: number;
  webgpu?: { weightDtype: 'f16' | 'f32'; residentVersions: number };
  webllm?: { mlcDir: string; libFile: string; contextWindow?: number };
  rewardsCfg: RewardsConfig;
  baseDir: string;
  syncRetries: number;
}

export async function startRemoteRoles(o: StartRemoteOptions): Promise<RemoteRoles> {
  const settings = (r: RemoteRole) => {
    const s = o.section[r] ?? { ack_wait_s: 60, max_deliver: 5 };
    return {
      ackWaitMs: s.ack_wait_s * 1000,
      maxDeliver: s.max_deliver,
      ...(r === 'rollout' ? { promptsPerItem: o.section.rollout?.prompts_per_item ?? 0 } : {}),
    };
  };
  return openRemoteRoles({
    nats: o.cli.nats!,
    runName: o.runName,
    packageVersion: packageVersion(),
    store: o.store,
    syncRetries: o.syncRetries,
    roles: Object.fromEntries(o.roles.map((r) => [r, settings(r)])),
    rollout: {
      modelDir: o.modelDir,
      modelConfigSha256: createHash('sha256')
        .update(readFileSync(join(o.modelDir, 'config.json')))
        .digest('hex'),
      lora: o.lora,
      adapterSize: o.store.size,
      engine: o.engine,
      maxBatch: o.maxBatch,
      ...(o.webgpu ? { webgpu: o.webgpu } : {}),
      ...(o.webllm ? { webllm: o.webllm } : {}),
    },
    reward: {
      funcs: o.rewardsCfg.reward_funcs.map((s) => absolutizeSpec(s as RewardFuncSpec, o.baseDir)),
      kwargs: { ...rewardKwargsOf(o.rewardsCfg) } as Record<string, unknown>,
      timeoutMs: Math.round(o.rewardsCfg.reward_timeout_s * 1000),
    },
  });
}

/** One ask() for the GRPO roles: remote roles over NATS, the others on the local ActorSystem. */
export function routeRoles(local: RoleAsker, remote: RemoteRoles | null): RoleAsker {
  if (!remote) return local;
  return {
    ask: <R>(role: string, handler: string, msg: unknown, opts?: CallOptions): Promise<R> =>
      remote.isRemote(role)
        ? remote.ask<R>(role, handler, msg, opts?.signal ? { signal: opts.signal } : {})
        : local.ask<R>(role, handler, msg, opts),
  };
}

/**
 * Reward scoring on remote workers for scoreBatch. The item's deadline runs from the moment a worker
 * begins it (its WorkStarted message calls onStart), as on the local reward role, so it measures
 * scoring, not the wait in the queue; the worker enforces the same deadline on its own threads, and
 * this timer (with a grace for the reply's trip back) covers a worker that stops answering.
 */
export function remoteRewardRunner(remote: RemoteRoles, graceMs = 5000): RewardTaskRunner {
  return {
    run: (task, o) =>
      new Promise((resolve, reject) => {
        let timer: NodeJS.Timeout | null = null;
        const onStart = (): void => {
          o.onStart();
          timer = setTimeout(
            () => reject(new ActorTimeoutError(`deadline ${o.deadlineMs} ms exceeded`, 'reward', o.name)),
            o.deadlineMs + graceMs,
          );
        };
        remote
          .ask('reward', o.name, task, { signal: o.signal, onStart })
          .then(resolve, reject)
          .finally(() => {
            if (timer) clearTimeout(timer);
          });
      }),
  };
}

/** Worker events as run log lines (joins, losses, refusals, redeliveries, republished versions). */
export function logRemoteEvents(remote: RemoteRoles, log: (line: string) => void): Subscription {
  return remote.events$.subscribe((e) => {
    if (e.type === 'worker-joined') log(`remote ${e.role}: worker ${e.worker} on ${e.host} joined run ${remote.run}`);
    else if (e.type === 'worker-lost')
      log(
        `remote ${e.role}: worker ${e.worker} on ${e.host} sent no heartbeat for a while (its unacknowledged items are redelivered after the ack deadline)`,
      );
    else if (e.type === 'worker-refused')
      log(`remote ${e.role}: worker ${e.worker} on ${e.host} refused run ${remote.run}: ${e.reason}`);
    else if (e.type === 'redelivered')
      log(`remote ${e.role}: ${e.item} redelivered (delivery ${e.delivery}) and done by ${e.worker} on ${e.host}`);
    else if (e.type === 'republished')
      log(`weight sync: version ${e.version} put again in the object store (worker ${e.worker}: ${e.reason})`);
  });
}

/** Dashboard rows: one per remote worker, from its latest heartbeat. */
export function remoteActorRows(remote: RemoteRoles): ActorRow[] {
  return remote.workers().map((h) => ({
    role: `${h.role}@${h.host}:${h.pid}`,
    threads: h.threads,
    workers: Date.now() - h.time < 10_000 ? h.threads : 0,
    inFlight: h.inFlight + h.queueDepth,
    queued: h.queueDepth,
    restarts: 0,
    ...(h.versionApplied >= 0 ? { policyVersion: h.versionApplied } : {}),
    lastEvents: [
      `${new Date(h.time).toISOString().slice(11, 19)} heartbeat: served ${h.served}, ack pending ${h.ackPending}`,
    ],
  }));
}

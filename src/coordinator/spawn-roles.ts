// spawnRoles: the second part of a run. The base weights go once into shared memory, the adapter
// WeightStore is created, and the five actor roles are spawned with their typed configs
// (protocols/role-config.ts); roles served over NATS are started here too (src/transport/nats/).
import { ActorSystem, type RoleSpec } from '../runtime/actor-system.js';
import { packageActor } from '../runtime/modules.js';
import { WeightStore } from '../runtime/weight-store.js';
import { describeModel } from '../model/weights.js';
import { createLoraLayout } from '../model/lora.js';
import { rewardRoleSpec } from '../rewards/score-batch.js';
import type { RunPlan } from './setup.js';
import type { EvaluatorConfig, LearnerInit, RolloutInit } from '../../protocols/role-config.js';
import { learnerRecoverySize } from '../rl/learner-recovery.js';
import { learnerAlgorithm } from '../rl/consumers.js';
import { remoteRolesOf, startRemoteRoles, type RemoteCliOptions } from '../transport/nats/run-remote.js';
import type { RemoteRoles } from '../transport/nats/remote-roles.js';

/** The spawned roles of a run and what they share: the adapter store, the remote roles. */
export interface SpawnedRoles {
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
export async function spawnRoles(plan: RunPlan, outDir: string, remoteCli: RemoteCliOptions): Promise<SpawnedRoles> {
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

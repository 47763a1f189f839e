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
  const layout = createLoraLayout(plan.model.config, plan.lora);
  // Async: the loop asks one step ahead, so a pending rollout may still want the version before the
  // newest; a third slot lets a republish of the newest keep it (grpo-loop.ts names the versions).
  const store = WeightStore.create(layout.size, { slots: plan.grpo.config.max_staleness > 0 ? 3 : 2 });
  // The learner's crash-recovery state lives here, outside its worker (see actors/learner.ts).
  const recovery = plan.run.learner_recovery
    ? WeightStore.create(learnerRecoverySize(layout.size), { maxReaders: 1 })
    : null;
  // PEFT's base_model_name_or_path: the hub id when the config names one, else the absolute folder (never a relative path).
  const baseModelName = plan.modelCfg.hub_id ?? plan.modelDir;
  const rolloutRoles = Array.from({ length: plan.modelCfg.rollout_actors }, (_, i) => `rollout-${i}`);
  const remotePlan = remoteRolesOf(plan.raw.roles, remoteCli);
  const inits = roleInits(plan, store, recovery, baseModelName, outDir);
  const system = await ActorSystem.start(
    localRoleSpecs(plan, inits, recovery !== null, remotePlan.roles.includes('rollout') ? [] : rolloutRoles, {
      reward: !remotePlan.roles.includes('reward'),
      outDir,
    }),
  );
  let remote: RemoteRoles | null = null;
  try {
    remote = remotePlan.roles.length === 0 ? null : await openRemote(plan, remoteCli, remotePlan, store, outDir);
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

/** The roles' typed configs: what each worker is started with. */
interface RoleInits {
  learner: LearnerInit;
  rollout(name: string): RolloutInit;
  evaluator: EvaluatorConfig;
}

function roleInits(
  plan: RunPlan,
  store: WeightStore,
  recovery: WeightStore | null,
  baseModelName: string,
  outDir: string,
): RoleInits {
  const { seed, modelCfg, learnerCfg, lora, evalCfg, modelDir, model, tok, webllm, grpo } = plan;
  const g = grpo.config;
  const eosTokenIds = model.config.eosTokenIds.length ? model.config.eosTokenIds : [tok.eosTokenId!];
  const modelDesc = describeModel(model);
  return {
    learner: {
      model: modelDesc,
      store: store.describe(),
      lora,
      seed,
      eosTokenIds,
      ...learnerAlgorithm(grpo),
      baseModelName,
      device: learnerCfg,
      ...(recovery ? { recovery: recovery.describe() } : {}),
    },
    rollout: (name) => ({
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
    }),
    evaluator: {
      modelDir,
      model: modelDesc,
      weightStore: store.describe(),
      lora,
      eval: { ...evalCfg },
      outDir,
    },
  };
}

/** The local roles' specs: each role's base spec merged with its `actors` overrides and fault drills. */
function localRoleSpecs(
  plan: RunPlan,
  inits: RoleInits,
  recovery: boolean,
  localRollouts: string[],
  local: { reward: boolean; outDir: string },
): Record<string, RoleSpec> {
  const { overrides, faults } = plan;
  const role = (name: string, base: RoleSpec, instance = name): RoleSpec => {
    const set = Object.fromEntries(
      Object.entries(overrides[name] ?? {}).filter(([k, v]) => v !== undefined && k !== 'config'),
    );
    const drills = faults
      .filter((f) => f.role === name && (instance === name || instance === 'rollout-0'))
      .map((f) => ({ ...f, counter: new SharedArrayBuffer(4) }));
    return { ...base, ...set, ...(drills.length ? { config: { ...(base.config as object), __faults: drills } } : {}) };
  };
  return {
    ...Object.fromEntries(
      localRollouts.map((name) => [
        name,
        role(
          'rollout',
          { module: packageActor('rollout'), retries: 1, retryTimeouts: true, config: inits.rollout(name) },
          name,
        ),
      ]),
    ),
    ...(local.reward ? { reward: role('reward', rewardRoleSpec(plan.rewardsCfg, local.outDir)) } : {}),
    advantage: role('advantage', { module: packageActor('advantage'), retryTimeouts: true }),
    // With recovery a crashed or hung learner is replaced, restores its committed state and retries the step.
    learner: role('learner', {
      module: packageActor('learner'),
      retries: recovery ? 2 : 0,
      retryTimeouts: recovery,
      config: inits.learner,
    }),
    evaluator: role('evaluator', {
      module: packageActor('evaluator'),
      retries: 1,
      retryTimeouts: true,
      config: inits.evaluator,
    }),
  };
}

/** The roles served by `loractor worker` processes over NATS (src/transport/nats/). */
function openRemote(
  plan: RunPlan,
  cli: RemoteCliOptions,
  remotePlan: ReturnType<typeof remoteRolesOf>,
  store: WeightStore,
  outDir: string,
): Promise<RemoteRoles> {
  const { run, modelCfg, lora, rewardsCfg, modelDir, webllm, grpo } = plan;
  return startRemoteRoles({
    cli,
    roles: remotePlan.roles,
    section: remotePlan.section,
    runName: outDir.split(/[\\/]/).pop() ?? 'run',
    store,
    modelDir,
    lora,
    engine: webllm ? 'webllm' : modelCfg.engine === 'webgpu' ? 'webgpu' : 'builtin',
    maxBatch: modelCfg.rollout_max_batch,
    ...(modelCfg.engine === 'webgpu'
      ? {
          webgpu: { weightDtype: modelCfg.rollout_weight_dtype, residentVersions: grpo.config.max_staleness + 1 },
        }
      : {}),
    ...(webllm ? { webllm: { mlcDir: webllm.mlcDir, libFile: webllm.libFile } } : {}),
    rewardsCfg,
    baseDir: outDir,
    syncRetries: run.sync_retries,
  });
}

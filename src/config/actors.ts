// Turn the validated `actors` section into RoleSpecs for ActorSystem.start.
import type { RoleSpec } from '../runtime/actor-system.js';
import type { LoractorConfig } from './schema.js';

export function actorSpecsFromConfig(
  cfg: Pick<LoractorConfig, 'actors'>,
  extra: Record<string, Record<string, unknown>> = {},
): Record<string, RoleSpec> {
  const out: Record<string, RoleSpec> = {};
  for (const [role, a] of Object.entries(cfg.actors)) {
    const spec: RoleSpec = {
      threads: a.threads,
      maxQueue: a.max_queue,
      onFull: a.on_full,
      retries: a.retries,
      deadlineMs: a.deadline_ms,
      transport: a.transport,
      atomics: a.atomics,
      config: { ...(a.config ?? {}), ...(extra[role] ?? {}) },
    };
    if (a.module) spec.module = a.module;
    out[role] = spec;
  }
  return out;
}

// Weight sync for the roles (roles.ts is the entry; see its header): push a version to every rollout
// actor and check each applied it, verified; a version that fails verification is republished by the
// learner (which still holds the adapter) and the readers asked again, up to run.sync_retries rounds.
// The republish is shared with generation and evaluation, which retry the same way.
import { askRole } from '../runtime/ask-role.js';
import type { SyncReply } from '../../protocols/training.js';
import { LearnerProtocol, RolloutProtocol } from '../../protocols/handlers.js';
import { ActorTimeoutError } from '../runtime/errors.js';
import type { RoleBindings } from './roles-types.js';

// One rollout actor's sync. One that does not apply and acknowledge the version within the deadline
// is named (with the version it last acknowledged) and its worker replaced; the ask retries once.
async function syncOne(b: RoleBindings, role: string, version: number): Promise<SyncReply> {
  try {
    return await askRole(
      b.system,
      role,
      RolloutProtocol.sync,
      { minVersion: version, timeoutMs: b.syncTimeoutMs },
      { deadlineMs: b.syncTimeoutMs },
    );
  } catch (err) {
    if (err instanceof ActorTimeoutError)
      throw new Error(
        `weight sync: ${lateName(b, role, version)} did not acknowledge version ${version} within ${b.syncTimeoutMs} ms, and its retries ran out (${err.message})`,
      );
    throw err;
  }
}

// A reader found `version`'s bytes corrupted: the learner, which still holds the adapter, writes it
// again under the same number (a no-op when a newer version has replaced it meanwhile).
export async function republish(b: RoleBindings, version: number, why: string): Promise<void> {
  await askRole(b.system, 'learner', LearnerProtocol.republish, { version });
  b.report(`weight sync: version ${version} republished by the learner (${why})`);
}

function lateName(b: RoleBindings, role: string, version: number): string {
  const r = b.store.lateReaders(version).find((x) => x.name === role);
  return r ? `${role} (last acknowledged v${r.acked})` : role;
}

/** Sync every rollout actor to `version`, with republish-and-retry rounds for those that reject it. */
export async function syncRollouts(b: RoleBindings, version: number): Promise<{ seconds: number; rejected: number }> {
  const t0 = performance.now();
  let rejected = 0;
  for (let round = 0; ; round++) {
    const replies = await Promise.all(b.rolloutRoles.map((role) => syncOne(b, role, version)));
    const behind = replies.findIndex((r) => r.verified && r.version < version);
    if (behind >= 0)
      throw new Error(
        `weight sync: ${b.rolloutRoles[behind]} reports version ${replies[behind]!.version}, below the ${version} it was asked for`,
      );
    const failed = replies.map((r, i) => ({ role: b.rolloutRoles[i]!, r })).filter((x) => !x.r.verified);
    if (failed.length === 0) return { seconds: (performance.now() - t0) / 1000, rejected };
    rejected += failed.length;
    reportRejectedSync(b, failed, version, round);
    // The learner still holds the adapter: write it again, then let the readers re-read it.
    await republish(b, version, `retry ${round + 1} of ${b.syncRetries}`);
  }
}

/** Name each actor that rejected `version`; past run.sync_retries rounds, abort the run. */
function reportRejectedSync(
  b: RoleBindings,
  failed: readonly { role: string; r: SyncReply }[],
  version: number,
  round: number,
): void {
  for (const f of failed)
    b.report(
      `weight sync: ${f.role} rejected version ${version} (${f.r.error ?? 'verification failed'}); it keeps serving version ${f.r.version}`,
    );
  if (round >= b.syncRetries)
    throw new Error(
      `weight sync: version ${version} failed verification ${round + 1} times on ${failed.map((f) => f.role).join(', ')}; aborting (run.sync_retries ${b.syncRetries})`,
    );
}

// Generation across the rollout actors (roles.ts is the entry; see its header): the step's prompts
// split evenly across the actors, each asked for G completions per prompt from exactly the loop's
// policy version; an actor whose copy of that version fails verification is asked again after a
// republish (run.sync_retries rounds); the completions come back with their provenance.
import { askRole } from '../runtime/ask-role.js';
import type { GenerateReply } from '../../protocols/training.js';
import { RolloutProtocol } from '../../protocols/handlers.js';
import { float32View, int32View, packSharedRows } from '../../protocols/shared-tensor.js';
import { rolloutSampling } from '../rl/consumers.js';
import type { CompletionRecord, PromptItem, RolloutPhase } from './loop-types.js';
import { republish } from './roles-sync.js';
import type { RoleBindings } from './roles-types.js';

/** One rollout actor's share of a step's prompts. */
type RolloutPart = ReturnType<typeof splitAcrossRollouts>[number];
/** One rollout actor asked for its part. */
type AskPart = (p: RolloutPart) => Promise<GenerateReply>;

export async function generateAcrossRollouts(
  b: RoleBindings,
  prompts: PromptItem[],
  step: number,
  policyVersion: number,
): Promise<RolloutPhase> {
  const sampling = rolloutSampling(b.grpo, step);
  const parts = splitAcrossRollouts(b, prompts);
  // Every actor generates from exactly `policyVersion` (the loop's choice: the run does not depend
  // on how the actors are timed). One whose copy of it fails verification generates nothing: the
  // learner writes the version again and that actor is asked again (run.sync_retries rounds).
  const ask: AskPart = (p) =>
    askRole(b.system, p.role, RolloutProtocol.generate, {
      step,
      prompts: p.prompts,
      n: b.grpo.config.num_generations,
      sampling,
      minPolicyVersion: policyVersion,
      policyVersion,
    });
  const results = await Promise.all(parts.map(ask));
  await retryRejectedParts(b, parts, results, ask, step, policyVersion);
  const rejected = await republishRejected(b, parts, results, step);
  const completions = withProvenance(parts, results);
  const tokens = completions.reduce((a, c) => a + c.tokenIds.length, 0);
  return {
    completions,
    engine: results[0]!.engine,
    policyVersion: Math.min(...results.map((r) => r.policyVersion)),
    tokensPerSecond: tokens / Math.max(...results.map((r) => r.seconds)),
    timeToFirstTokenS: results.reduce((a, r) => a + r.timeToFirstTokenS, 0) / results.length,
    ...(rejected ? { syncRejected: rejected } : {}),
  };
}

/** The prompts in one shared buffer, each with its global promptIndex, split across the rollout actors. */
function splitAcrossRollouts(b: RoleBindings, prompts: PromptItem[]) {
  const ids = packSharedRows(
    'i32',
    prompts.map((p) => p.ids),
  );
  const indexed = prompts.map((p, i) => ({
    ids: ids[i]!,
    promptIndex: i,
    ...(p.promptText !== undefined ? { text: p.promptText } : {}),
  }));
  // Contiguous, even split across the rollout actors (promptIndex stays global).
  const k = b.rolloutRoles.length;
  return b.rolloutRoles
    .map((role, a) => ({
      role,
      prompts: indexed.slice(Math.floor((a * indexed.length) / k), Math.floor(((a + 1) * indexed.length) / k)),
    }))
    .filter((p) => p.prompts.length > 0);
}

/** Ask again, after a republish, each actor that generated nothing because `policyVersion` failed verification. */
async function retryRejectedParts(
  b: RoleBindings,
  parts: readonly RolloutPart[],
  results: GenerateReply[],
  ask: AskPart,
  step: number,
  policyVersion: number,
): Promise<void> {
  for (let round = 0; results.some((r) => r.retry); round++) {
    const bad = results.map((r, i) => ({ r, i })).filter((x) => x.r.retry);
    for (const x of bad)
      b.report(
        `weight sync: ${parts[x.i]!.role} rejected version ${policyVersion} (${x.r.syncError}); asked again for step ${step} after a republish`,
      );
    if (round >= b.syncRetries)
      throw new Error(
        `weight sync: version ${policyVersion} failed verification ${round + 1} times on ${bad.map((x) => parts[x.i]!.role).join(', ')} generating step ${step}; aborting (run.sync_retries ${b.syncRetries})`,
      );
    await republish(b, policyVersion, `needed to generate step ${step}, retry ${round + 1} of ${b.syncRetries}`);
    await Promise.all(
      bad.map(async (x) => {
        results[x.i] = await ask(parts[x.i]!);
      }),
    );
  }
}

/** How many actors generated on their previous version (their newest rejected); that version is republished. */
async function republishRejected(
  b: RoleBindings,
  parts: readonly RolloutPart[],
  results: readonly GenerateReply[],
  step: number,
): Promise<number> {
  // An actor that generated on its previous version because the newest failed verification (allowed
  // within the staleness bound): have the learner write the version again for its next request.
  const rejected = results.map((r, i) => ({ role: parts[i]!.role, r })).filter((x) => x.r.syncError);
  for (const x of rejected)
    b.report(
      `weight sync: ${x.role} rejected version ${x.r.rejectedVersion} (${x.r.syncError}); it generated step ${step} on version ${x.r.policyVersion}`,
    );
  if (rejected.length)
    await republish(
      b,
      Math.max(...rejected.map((x) => x.r.rejectedVersion ?? 0)),
      'rejected by a rollout actor that generated on its previous version',
    );
  return rejected.length;
}

function withProvenance(parts: readonly RolloutPart[], results: readonly GenerateReply[]): CompletionRecord[] {
  // Provenance on every completion: which actor and engine made it, after how long a sync. Token ids
  // and log-probs stay views of the rollout's shared memory.
  return results
    .flatMap((r, i) =>
      r.completions.map(
        (c): CompletionRecord => ({
          promptIndex: c.promptIndex,
          sampleIndex: c.sampleIndex,
          tokenIds: int32View(c.tokenIds),
          logprobs: float32View(c.logprobs),
          text: c.text,
          finishReason: c.finishReason,
          policyVersion: c.policyVersion,
          actor: parts[i]!.role,
          engine: r.engine,
          syncLatencyMs: r.syncLatencyMs,
        }),
      ),
    )
    .sort((x, y) => x.promptIndex - y.promptIndex || x.sampleIndex - y.sampleIndex);
}

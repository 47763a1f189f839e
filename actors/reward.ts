// Reward actor: a stateless multi-thread role on the ActorSystem. Each message scores ONE completion
// with every configured function, so a per-item deadline can kill exactly the worker stuck on that
// item (a hung regex, CAS or custom module) while the others keep serving. Group-level rewards (length)
// need the whole group: this worker returns the per-item half (correctness, length) and the main
// thread applies the group formula (src/rewards/score-batch.ts).
import {
  resolveRewardFunc,
  rewardFuncName,
  type ResolvedRewardFunc,
  type RewardFuncSpec,
} from '../src/rewards/registry.js';
import { codePointLength } from '../src/rewards/text-scan.js';
import type { RewardContext, RewardKwargs } from '../src/rewards/types.js';
import { getEngine } from '../src/rewards/verifier/parse.js';
import type { ScoreItemMessage, ScoreItemResult } from '../protocols/reward.js';

// The math CAS loads on first use elsewhere (importing loractor stays cheap); a reward worker loads and
// builds it while the worker starts (~0.3 s of CPU), which is never charged to an item's deadline, so
// a fresh or replacement worker scores its first item as fast as the others.
getEngine();

export type { ScoreItemMessage, ScoreItemResult } from '../protocols/reward.js';

const resolved = new Map<string, ResolvedRewardFunc>();
/** Built-in functions that run the math verifier. */
const VERIFIER_FUNCS = new Set([
  'accuracy',
  'accuracy_open_r1',
  'length',
  'length_l1_exact',
  'length_l1_max',
  'cosine',
]);

async function funcFor(spec: RewardFuncSpec, kwargs: Partial<RewardKwargs> | undefined): Promise<ResolvedRewardFunc> {
  const key = JSON.stringify([spec, kwargs ?? {}]);
  let r = resolved.get(key);
  if (!r) {
    r = await resolveRewardFunc(spec, kwargs);
    resolved.set(key, r);
  }
  return r;
}

function validate(msg: ScoreItemMessage): void {
  if (msg === null || typeof msg !== 'object') throw new Error('scoreItem: message must be an object');
  if (typeof msg.completion !== 'string')
    throw new Error(`scoreItem: completion must be a string, got ${typeof msg.completion}`);
  if (typeof msg.solution !== 'string')
    throw new Error(`scoreItem: solution must be a string, got ${typeof msg.solution}`);
  if (!Array.isArray(msg.funcs) || msg.funcs.length === 0)
    throw new Error('scoreItem: funcs must be a non-empty array');
}

export async function scoreItem(msg: ScoreItemMessage): Promise<ScoreItemResult> {
  // The runtime has already sent the start signal (the deadline runs from here) and fired any fault drill.
  const t0 = performance.now();
  validate(msg);
  const ctx: RewardContext = { solution: [msg.solution] };
  if (msg.prompt !== undefined) ctx.prompt = [msg.prompt];
  for (const [col, v] of Object.entries(msg.columns ?? {})) {
    if (col !== 'solution' && col !== 'prompt') ctx[col] = [v];
  }
  const scores: Record<string, number | null> = {};
  let group: ScoreItemResult['group'];
  for (const spec of msg.funcs) {
    const f = await funcFor(spec, msg.kwargs);
    if (f.scope === 'group') {
      if (!group) {
        const { lengthStyleCorrect } = await import('../src/rewards/accuracy.js');
        group = {
          chars: codePointLength(msg.completion),
          lengthCorrect: lengthStyleCorrect(msg.completion, msg.solution).correct,
        };
      }
      continue;
    }
    const out = await Promise.resolve(f.fn([msg.completion], ctx));
    if (!Array.isArray(out) || out.length !== 1) {
      throw new Error(
        `reward function "${f.name}" returned ${Array.isArray(out) ? out.length + ' values' : typeof out} for 1 completion`,
      );
    }
    const v = out[0];
    if (v !== null && typeof v !== 'number')
      throw new Error(`reward function "${f.name}" returned a ${typeof v}, expected number or null`);
    scores[f.name] = v === null || Number.isNaN(v) ? null : v;
  }
  return { scores, ...(group ? { group } : {}), elapsedMs: performance.now() - t0 };
}

/** Load every function (verifier, custom modules) before the first deadline-bound task. */
export async function warmup(msg: {
  funcs: RewardFuncSpec[];
  kwargs?: Partial<RewardKwargs>;
}): Promise<{ names: string[]; threadId: number }> {
  const names: string[] = [];
  for (const spec of msg.funcs) {
    const f = await funcFor(spec, msg.kwargs);
    if (f.scope === 'group') await import('../src/rewards/accuracy.js');
    names.push(rewardFuncName(spec));
  }
  // The verifier's CAS is built on first use (~0.3 s, seconds on a busy machine): build it and run
  // one check now, so the first item's deadline measures scoring, not start-up.
  if (msg.funcs.some((s) => typeof s === 'string' && VERIFIER_FUNCS.has(s)))
    (await import('../src/rewards/verifier/index.js')).verify('$1$', '\\boxed{1}');
  const { threadId } = await import('node:worker_threads');
  return { names, threadId };
}

/**
 * Runtime hook (ActorSystem calls init(config) in every worker before its first task): preload the
 * configured functions so loading the verifier is not charged to the first item's deadline.
 */
export async function init(
  config: { funcs?: RewardFuncSpec[]; kwargs?: Partial<RewardKwargs> } | undefined,
): Promise<void> {
  if (config && Array.isArray(config.funcs) && config.funcs.length > 0) {
    await warmup({ funcs: config.funcs, ...(config.kwargs ? { kwargs: config.kwargs } : {}) });
  }
}

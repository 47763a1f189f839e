// The rollout side of remote roles (split from remote-roles.ts, which dispatches each ask): a generate
// request becomes work items (one per rollout actor's share by default, or prompts_per_item prompts
// each), each carrying the adapter version published for it, and the parts' replies are merged into
// the one reply a local rollout actor gives, each completion (prompt, sample) counted once.
import { isSharedTensor, tensorView, type SharedTensor } from '../../../protocols/shared-tensor.js';
import type { GenerateRequest } from '../../../protocols/training.js';
import type { WorkItem } from '../../../protocols/remote.js';
import type { RemoteAsks, RemoteRun } from './remote-roles-asks.js';

const ids = (x: unknown): number[] =>
  isSharedTensor(x) ? Array.from(tensorView(x as SharedTensor & { dtype: 'i32' })) : Array.from(x as ArrayLike<number>);

/** The rollout role's `generate` handler over the run's work queue. */
export function remoteGenerate(
  state: RemoteRun,
  submit: RemoteAsks['submit'],
): (msg: GenerateRequest) => Promise<Record<string, unknown>> {
  const { run, o, publisher } = state;
  const generate = async (msg: GenerateRequest): Promise<Record<string, unknown>> => {
    const adapter = await publisher.publishLatest(msg.minPolicyVersion, 30_000);
    const per = o.roles.rollout?.promptsPerItem || msg.prompts.length;
    const ask = state.nextAsk++;
    const prompts = msg.prompts.map((p) => ({
      ids: ids(p.ids),
      promptIndex: p.promptIndex,
      ...(p.text !== undefined ? { text: p.text } : {}),
    }));
    const items: WorkItem[] = [];
    for (let i = 0; i < prompts.length; i += per) {
      items.push({
        kind: 'generate',
        run,
        ask,
        part: items.length,
        adapterVersion: adapter.version,
        request: {
          step: msg.step,
          prompts: prompts.slice(i, i + per),
          n: msg.n,
          sampling: msg.sampling,
          minPolicyVersion: msg.minPolicyVersion,
        },
      });
    }
    return mergeGenerateReplies(
      msg,
      (await submit('rollout', items)).map((r) => r.reply as GenerateReply),
    );
  };
  return generate;
}

type GenerateReply = {
  completions: { promptIndex: number; sampleIndex: number }[];
  engine: string;
  policyVersion: number;
  seconds: number;
  syncLatencyMs: number;
  tokensPerSecond: number;
  timeToFirstTokenS: number;
  syncError?: string;
  rejectedVersion?: number;
  step: number;
};

/** One reply, as a local rollout actor gives it, from the parts' replies; each completion (prompt, sample) once. */
export function mergeGenerateReplies(msg: GenerateRequest, parts: GenerateReply[]): Record<string, unknown> {
  const seen = new Set<string>();
  const completions = parts
    .flatMap((p) => p.completions)
    .filter((c) => {
      const key = `${c.promptIndex}/${c.sampleIndex}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => a.promptIndex - b.promptIndex || a.sampleIndex - b.sampleIndex);
  const expected = msg.prompts.length * msg.n;
  if (completions.length !== expected)
    throw new Error(
      `remote rollout: step ${msg.step}: ${completions.length} distinct completions came back, ${expected} were asked for`,
    );
  const rejected = parts.find((p) => p.syncError);
  return {
    step: msg.step,
    engine: parts[0]!.engine,
    policyVersion: Math.min(...parts.map((p) => p.policyVersion)),
    syncLatencyMs: Math.max(...parts.map((p) => p.syncLatencyMs)),
    ...(rejected ? { syncError: rejected.syncError, rejectedVersion: rejected.rejectedVersion } : {}),
    tokensPerSecond: parts.reduce((a, p) => a + p.tokensPerSecond, 0),
    timeToFirstTokenS: parts.reduce((a, p) => a + p.timeToFirstTokenS, 0) / parts.length,
    seconds: Math.max(...parts.map((p) => p.seconds)),
    completions,
  };
}

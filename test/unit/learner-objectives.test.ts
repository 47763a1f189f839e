// The learner actor in a real worker thread on models/tiny, with rollouts from the builtin engine:
// old log-probs taken before a batch's first step make the ratio exactly 1 there (the same loss and
// adapter as without them: num_iterations 1 is today's learner), and the second pass over the batch
// is clipped; top-p log-probs make the behaviour importance ratio 1 on-policy (and far from 1 if the
// learner ignored the truncation); mask_truncated_completions leaves truncated completions out; a
// step with no trajectories publishes the unchanged adapter.
import t from 'tap';
import { join } from 'node:path';
import { ActorSystem } from '../../src/runtime/actor-system.js';
import { WeightStore } from '../../src/runtime/weight-store.js';
import { loadModel } from '../../src/model/load.js';
import { describeModel } from '../../src/model/weights.js';
import { loadTokenizer } from '../../src/model/tokenizer.js';
import { createLoraLayout } from '../../src/model/lora.js';
import { createBuiltinEngine } from '../../src/engines/builtin/index.js';
import { LearnerProtocol } from '../../protocols/handlers.js';
import { float32View } from '../../protocols/shared-tensor.js';
import { askRole } from '../../src/runtime/ask-role.js';
import { repoRoot } from '../../src/util/paths.js';
import type { LearnerInit } from '../../protocols/role-config.js';
import type { LoraSettings } from '../../src/model/adapter-layout.js';

const dir = join(repoRoot(), 'models/tiny');
type Reply = Record<string, number | string | boolean>;
interface TestTrajectory {
  promptIds: number[];
  completionIds: number[];
  behaviourLogprobs: number[];
  policyVersion: number;
  oldLogprobs?: number[];
}

/** The learner's request shape: prompts listed once, trajectories refer to them (here one prompt entry per trajectory). */
function request(trajectories: TestTrajectory[]) {
  return {
    prompts: trajectories.map((x) => x.promptIds),
    trajectories: trajectories.map(({ promptIds: _, ...x }, i) => ({ ...x, promptIndex: i })),
  };
}

t.test('learner objectives on the tiny model', async (t) => {
  const model = loadModel(dir);
  const tok = loadTokenizer(dir, model.config);
  const lora: LoraSettings = {
    r: 8,
    alpha: 32,
    dropout: 0,
    targetModules: ['q_proj', 'v_proj', 'up_proj', 'down_proj'],
  };
  const layout = createLoraLayout(model.config, lora);
  const eos = model.config.eosTokenIds;
  const engine = createBuiltinEngine({
    model,
    tokenizer: { decode: (ids) => tok.decode(ids, true), eosTokenIds: eos },
  });
  const questions = ['12+34=', '7+8=', '305+27=', '99+1='];
  const prompts = questions.map((q) => ({
    ids: Int32Array.from(
      tok.encode(tok.applyChatTemplate([{ role: 'user', content: q }], { addGenerationPrompt: true })),
    ),
  }));
  const rollout = async (topP: number, maxTokens = 24) =>
    (await engine.generate(prompts, 4, { temperature: 1, top_p: topP, top_k: 0, max_tokens: maxTokens, seed: 5 })).map(
      (c) => ({
        promptIds: Array.from(prompts[c.promptIndex]!.ids),
        completionIds: Array.from(c.tokenIds),
        behaviourLogprobs: Array.from(c.logprobs),
        policyVersion: 0,
        truncated: c.finishReason === 'length',
      }),
    );
  const advantages = (n: number) => Array.from({ length: n }, (_, i) => ((i * 7) % 5) - 2);

  const systems: ActorSystem[] = [];
  t.teardown(async () => {
    for (const s of systems) await s.shutdown({ drain: false });
  });
  const learner = async (over: Partial<LearnerInit> = {}) => {
    const store = WeightStore.create(layout.size);
    const init: LearnerInit = {
      model: describeModel(model),
      store: store.describe(),
      lora,
      seed: 3,
      eosTokenIds: eos,
      maxPromptLength: 0,
      maxCompletionLength: 24,
      objective: { lossType: 'grpo', beta: 0.04, epsilon: 0.2, epsilonHigh: 0.2 },
      correction: { mode: 'token_truncate', clipMin: null, clipMax: 2 },
      maskTruncatedCompletions: false,
      truncation: { topP: 1, topK: 0 },
      maxStaleness: 1,
      logprobTemperature: 1,
      gradientAccumulationSteps: 2,
      schedule: { type: 'constant', learningRate: 0.05, maxSteps: 10, warmupSteps: 0 },
      adamw: { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 },
      baseModelName: 'tiny',
      device: { device: 'cpu', weight_dtype: 'f32', recompute: false, gpu_memory_gib: null },
      ...over,
    };
    const system = await ActorSystem.start({ learner: { module: 'actors/learner.ts', retries: 0, config: init } });
    systems.push(system);
    // The reply's loss metrics flattened beside loss, kl, … (as they land in the step's metrics record).
    const train = async (
      step: number,
      trajectories: TestTrajectory[],
      adv: number[],
      microBatchSizes?: number[],
    ): Promise<Reply> => {
      const r = await askRole(system, 'learner', LearnerProtocol.trainStep, {
        step,
        ...request(trajectories),
        advantages: adv,
        ...(microBatchSizes ? { microBatchSizes } : {}),
      });
      return { ...r, ...r.metrics } as unknown as Reply;
    };
    const old = async (trajectories: TestTrajectory[], microBatchSizes?: number[]) =>
      (
        await askRole(system, 'learner', LearnerProtocol.oldLogprobs, {
          ...request(trajectories),
          ...(microBatchSizes ? { microBatchSizes } : {}),
        })
      ).logprobs.map((x) => Array.from(float32View(x)));
    const adapter = () => Float32Array.from(store.snapshot(new Float32Array(layout.size)).params);
    return { train, old, adapter, store };
  };

  const trajs = (await rollout(1)).map(({ truncated: _, ...x }) => x);
  const adv = advantages(trajs.length);

  await t.test(
    "num_iterations: old log-probs give ratio 1 on the first pass (today's loss), clipping on the second",
    async (t) => {
      const plain = await learner();
      const p1 = await plain.train(1, trajs, adv, [8, 8]);
      const mu2 = await learner();
      const old = await mu2.old(trajs, [8, 8]);
      const withOld = trajs.map((x, i) => ({ ...x, oldLogprobs: old[i]! }));
      const m1 = await mu2.train(1, withOld, adv, [8, 8]);
      t.equal(m1.loss, p1.loss, `first pass: loss ${m1.loss} equals the learner without old log-probs, bit for bit`);
      t.equal(m1['clip_ratio/region_mean'], 0, 'first pass: nothing clipped (ratio exactly 1)');
      t.same(
        Buffer.from(mu2.adapter().buffer),
        Buffer.from(plain.adapter().buffer),
        'same adapter after the first pass',
      );
      const m2 = await mu2.train(2, withOld, adv, [8, 8]);
      t.ok(
        (m2['clip_ratio/region_mean'] as number) > 0,
        `second pass over the same batch: clip_ratio/region_mean ${m2['clip_ratio/region_mean']} > 0`,
      );
      t.ok((m2['clip_ratio/low_mean'] as number) + (m2['clip_ratio/high_mean'] as number) > 0);
      t.ok(typeof m2.entropy === 'number' && (m2.entropy as number) > 0, `entropy ${m2.entropy}`);
      // Stale beyond the bound (max_staleness plus reuse) is refused by name.
      await t.rejects(
        mu2.train(3, withOld.map((x) => ({ ...x, policyVersion: 0 })).slice(0, 2), adv.slice(0, 2)),
        /2 versions behind.*allowed 1/,
      );
    },
  );

  await t.test(
    'top-p: the learner scores the truncated distribution, so the on-policy behaviour ratio is 1',
    async (t) => {
      const nucleus = (await rollout(0.6)).map(({ truncated: _, ...x }) => x);
      const right = await learner({ truncation: { topP: 0.6, topK: 0 } });
      const r = await right.train(1, nucleus, adv, [8, 8]);
      const lo = r['sampling/importance_sampling_ratio/min'] as number,
        hi = r['sampling/importance_sampling_ratio/max'] as number;
      t.ok(
        Math.abs(Math.log(lo)) < 1e-4 && Math.abs(Math.log(hi)) < 1e-4,
        `ratio in [${lo}, ${hi}], sampling/kl ${r['sampling/kl']}`,
      );
      t.equal(r['sampling/outside_truncation_frac'], 0);
      const wrong = await learner({ truncation: { topP: 1, topK: 0 } });
      const w = await wrong.train(1, nucleus, adv, [8, 8]);
      t.ok(
        (w['sampling/importance_sampling_ratio/min'] as number) < 0.9,
        `a full-vocabulary learner sees ratio min ${w['sampling/importance_sampling_ratio/min']} (the mass outside the nucleus)`,
      );
    },
  );

  await t.test('mask_truncated_completions: truncated completions do not move the adapter', async (t) => {
    const short = await rollout(1, 6);
    const cut = short.filter((x) => x.truncated).map(({ truncated: _, ...x }) => x);
    t.ok(cut.length >= 2, `${cut.length} truncated completions at max_tokens 6`);
    const masked = await learner({ maskTruncatedCompletions: true });
    const r = await masked.train(1, cut, advantages(cut.length));
    t.same([r.loss, r.grad_norm], [0, 0], 'no loss, no gradient');
    const untouched = await learner(); // the same initial adapter (same seed), published by an empty step
    await untouched.train(1, [], []);
    t.same(
      Buffer.from(masked.adapter().buffer),
      Buffer.from(untouched.adapter().buffer),
      'the adapter is the initial one',
    );
    const kept = await learner();
    const k = await kept.train(1, cut, advantages(cut.length));
    t.ok((k.grad_norm as number) > 0, 'without the knob they are trained on');
  });

  await t.test('an empty step publishes the unchanged adapter', async (t) => {
    const l = await learner();
    await l.train(1, trajs, adv);
    const before = l.adapter();
    const r = await l.train(2, [], []);
    t.same([r.version, r.empty, r.skipped], [2, true, '']);
    t.equal(l.store.version, 2);
    t.same(Buffer.from(l.adapter().buffer), Buffer.from(before.buffer));
  });
});

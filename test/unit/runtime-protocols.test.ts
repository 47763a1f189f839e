// Protocols: msgpackr codecs round-trip every message kind, shared buffers are referenced not
// copied, hot messages use the shared record structures, validation names the field, and askRole
// validates replies against their handler's `returns` declaration.
import t from 'tap';
import { pack } from 'msgpackr';
import { z } from 'zod';
import {
  Protocols,
  validateMessage,
  ProtocolError,
  encodeMessage,
  decodeMessage,
  makeEnvelope,
  openEnvelope,
  packSharedRows,
  describeShared,
  allocSharedTensor,
  tensorView,
  toSharedTensor,
  checkSharedTensor,
  defineHandler,
  LearnerProtocol,
  RolloutProtocol,
  type ProtocolDef,
  type GenerateRequest,
  type LearnerStepReply,
  type ProtocolName,
} from '../../protocols/index.js';
import { ActorSystem } from '../../src/runtime/actor-system.js';
import { askRole, ReplyProtocolError } from '../../src/runtime/ask-role.js';
import { WeightVersionProtocol } from '../runtime-actors/faulty.js';

const sampling = { temperature: 0.7, top_p: 1, top_k: 0, max_tokens: 64, seed: 5 };

t.test('encodeMessage returns bytes that own exactly their memory (not a view into the encoder buffer)', (t) => {
  const bytes = encodeMessage({ id: 1, work: 200 }, []);
  t.equal(bytes.buffer.byteLength, bytes.byteLength);
  t.same(decodeMessage(bytes), { id: 1, work: 200 });
  t.end();
});

t.test('generate request with SharedTensor prompt ids round-trips and shares memory', async (t) => {
  const ids = toSharedTensor(new Int32Array([151644, 872, 198]));
  const req: GenerateRequest = { step: 3, prompts: [{ ids, promptIndex: 0 }], n: 4, sampling, minPolicyVersion: 2 };
  const shared: SharedArrayBuffer[] = [];
  const bytes = encodeMessage(req, shared);
  t.equal(shared.length, 1, 'the SAB travels beside the bytes');
  t.ok(bytes.length < 200, `small encoding (${bytes.length} bytes)`);
  const back = validateMessage(Protocols.GenerateRequest, decodeMessage(bytes, shared));
  const view = tensorView(back.prompts[0]!.ids as typeof ids);
  t.same(Array.from(view), [151644, 872, 198]);
  view[0] = 7;
  t.equal(tensorView(ids)[0], 7, 'same memory, not a copy');
});

t.test('hot messages are smaller than plain msgpack (record structures)', async (t) => {
  const step: LearnerStepReply = {
    step: 1,
    version: 1,
    loss: 0.1,
    kl: 0.01,
    grad_norm: 1.2,
    learning_rate: 1e-5,
    tokens_per_s: 1000,
    metrics: { entropy: 0.3 },
    timings: { 'time/policy_s': 1 },
    skipped: '',
  };
  const rec = encodeMessage(step, []);
  const plain = pack(step);
  t.ok(rec.length < plain.length - 30, `record ${rec.length} B < plain ${plain.length} B`);
  t.same(decodeMessage(rec), step);
  t.same(validateMessage(Protocols.LearnerStepReply, decodeMessage(rec)), step);
});

t.test('every declared message kind validates a good example and rejects a bad field', async (t) => {
  const i32 = packSharedRows('i32', [[5, 6], [7]]);
  const f32 = packSharedRows('f32', [[-0.5, -1], [-2]]);
  const traj = { promptIndex: 0, completionIds: i32[0]!, behaviourLogprobs: f32[0]!, policyVersion: 0 };
  const reply = {
    step: 1,
    version: 1,
    loss: NaN,
    kl: 0,
    grad_norm: Infinity,
    learning_rate: 1e-6,
    tokens_per_s: 1,
    metrics: { entropy: 0.1 },
    timings: {},
    skipped: 'loss is NaN',
  };
  const completion = {
    promptIndex: 0,
    sampleIndex: 0,
    tokenIds: i32[1]!,
    logprobs: f32[1]!,
    text: 'x',
    finishReason: 'eos',
    policyVersion: 1,
  };
  const generated = {
    step: 1,
    engine: 'builtin',
    policyVersion: 1,
    syncLatencyMs: 0,
    tokensPerSecond: 10,
    timeToFirstTokenS: 0.1,
    seconds: 1,
    completions: [completion],
  };
  const pool = { rewards: [1, 0], groups: [[0, 0]], rounds: 1, drawnGroups: 1, zeroStdGroups: 0 };
  const advMetrics = {
    reward: 0.5,
    reward_std: 0.7,
    frac_reward_zero_std: 0,
    'advantage/mean': 0,
    'advantage/std': 1,
    'advantage/abs_max': 1,
    dropped_groups: 0,
    refill_groups: 0,
  };
  const rng = { s: [1, 2, 3, 4] };
  // [good example, bad example, the field the bad one is rejected for]
  const examples: Record<ProtocolName, [unknown, unknown, string]> = {
    LearnerStepRequest: [
      { step: 1, prompts: [[1, 2]], trajectories: [traj], advantages: toSharedTensor(new Float64Array([0.5])) },
      { step: 1, prompts: [[1, 2]], trajectories: [{ ...traj, promptIndex: 1 }], advantages: [0.5] },
      'trajectories.0.promptIndex',
    ],
    LearnerStepReply: [reply, { ...reply, metrics: { entropy: 'high' } }, 'metrics.entropy'],
    OldLogprobsRequest: [
      { prompts: [i32[1]!], trajectories: [traj] },
      { prompts: [[1]], trajectories: [{ ...traj, completionIds: f32[0]! }] },
      'trajectories.0.completionIds',
    ],
    OldLogprobsReply: [{ logprobs: f32 }, { logprobs: [i32[0]!] }, 'logprobs.0'],
    SaveAdapterRequest: [{ dir: '/tmp/a', step: 0 }, { dir: '', step: 0 }, 'dir'],
    SaveAdapterReply: [{ dir: '/tmp/a', step: 0 }, { dir: '/tmp/a' }, 'step'],
    SyncRequest: [{ minVersion: 1 }, { minVersion: -1 }, 'minVersion'],
    SyncReply: [
      { version: 1, latencyMs: 3, verified: true },
      { version: 1, latencyMs: 3, verified: 'yes' },
      'verified',
    ],
    GenerateRequest: [
      { step: 0, prompts: [{ ids: [1, 2], promptIndex: 0 }], n: 2, sampling, minPolicyVersion: 0 },
      { step: 0, prompts: [], n: 2, sampling, minPolicyVersion: 0 },
      'prompts',
    ],
    GenerateReply: [
      generated,
      { ...generated, completions: [{ ...completion, finishReason: 'done' }] },
      'completions.0.finishReason',
    ],
    CheckpointRequest: [{ dir: '/tmp/c', step: 2 }, { dir: '/tmp/c', step: 0 }, 'step'],
    CheckpointReply: [{ step: 2, dropoutRng: rng }, { step: 2, dropoutRng: { s: [1, 2, 3] } }, 'dropoutRng.s'],
    RestoreRequest: [{ dir: '/tmp/c', step: 2, dropoutRng: rng }, { dir: '/tmp/c', step: 2 }, 'dropoutRng'],
    RestoreReply: [{ step: 2, version: 2 }, { step: 2, version: -2 }, 'version'],
    RepublishRequest: [{ version: 3 }, { version: 1.5 }, 'version'],
    RepublishReply: [{ version: 3 }, {}, 'version'],
    ComputeAdvantagesRequest: [
      { rewards: [1, 0, NaN, 1], groupSize: 2 },
      { rewards: [1, '0'], groupSize: 2 },
      'rewards.1',
    ],
    ComputeAdvantagesResponse: [
      {
        advantages: [1, -1],
        groupStats: { mean: [0.5], std: [0.7], allEqual: [false] },
        zeroVarianceGroups: [],
        droppedGroups: [],
        keptCompletions: [0, 1],
        refillGroups: 0,
        appliedScale: 'group',
        metrics: advMetrics,
      },
      {
        advantages: [1, -1],
        groupStats: { mean: [0.5], std: [0.7], allEqual: [false] },
        zeroVarianceGroups: [],
        droppedGroups: [],
        keptCompletions: [0, 1],
        refillGroups: 0,
        appliedScale: 'groups',
        metrics: advMetrics,
      },
      'appliedScale',
    ],
    AdmitGroupsRequest: [
      { pool, rewards: [1, 0], groupSize: 2, targetGroups: 1, dynamic_sampling: 'refill', max_num_gen_batches: 0 },
      { rewards: [1, 0], groupSize: 2, targetGroups: 1, dynamic_sampling: 'always', max_num_gen_batches: 0 },
      'dynamic_sampling',
    ],
    AdmitGroupsResponse: [
      { pool, done: true, advantages: [1, -1], metrics: advMetrics, shortfall: 0 },
      { pool: { ...pool, groups: [[0]] }, done: true, shortfall: 0 },
      'pool.groups.0',
    ],
    RewardTotalsRequest: [{ perFunc: [[1, null]], weights: [1] }, { perFunc: [[1, 'x']], weights: [1] }, 'perFunc.0.1'],
    RewardTotalsReply: [{ totals: [1, 0] }, { totals: 1 }, 'totals'],
    EvalRequest: [
      { version: 1, benchmarks: ['aime24'], samplesPerProblem: 1, sampling },
      { version: 1, benchmarks: ['aime24'], samplesPerProblem: 1, sampling: { ...sampling, top_p: 0 } },
      'sampling.top_p',
    ],
    EvalReport: [
      { version: 1, results: [{ benchmark: 'aime24', pass_at_1: 0.3, problems: 30, samples: 30 }], timings: {} },
      { version: 1, results: [{ benchmark: 'aime24', pass_at_1: 1.3, problems: 30, samples: 30 }], timings: {} },
      'results.0.pass_at_1',
    ],
  };
  for (const [name, [good, bad, field]] of Object.entries(examples)) {
    const p = Protocols[name as ProtocolName] as ProtocolDef<unknown>;
    const shared: SharedArrayBuffer[] = [];
    t.doesNotThrow(
      () => validateMessage(p, decodeMessage(encodeMessage(good, shared), shared)),
      `${name}: good example valid after a codec round trip`,
    );
    const err = (() => {
      try {
        validateMessage(p, bad);
      } catch (e) {
        return e;
      }
    })();
    t.type(err, ProtocolError, `${name}: bad example rejected`);
    t.equal((err as ProtocolError).field, field, `${name}: names field ${field}`);
  }
});

t.test('SharedTensor descriptors are checked', async (t) => {
  const good = allocSharedTensor('f32', [2, 3]);
  t.equal(checkSharedTensor(good), null);
  t.match(checkSharedTensor({ ...good, shape: [100] }), /runs past the buffer end/);
  t.match(checkSharedTensor({ ...good, byteOffset: 2 }), /not aligned/);
  t.match(checkSharedTensor({ ...good, buffer: new ArrayBuffer(24) }), /buffer: expected SharedArrayBuffer/);
  t.match(checkSharedTensor({ ...good, dtype: 'f16' }), /dtype/);
  const traj = { promptIndex: 0, completionIds: [1], behaviourLogprobs: [-1], policyVersion: 0 };
  t.throws(
    () =>
      validateMessage(Protocols.LearnerStepRequest, {
        step: 1,
        prompts: [[1]],
        trajectories: [traj],
        advantages: { ...good, shape: [1], dtype: 'x' },
      }),
    /advantages/,
  );
  t.throws(
    () =>
      validateMessage(Protocols.LearnerStepRequest, {
        step: 1,
        prompts: [[1]],
        trajectories: [traj],
        advantages: { ...good, shape: [1], dtype: 'i32' },
      }),
    /advantages.*dtype: expected f32 or f64, got i32/,
    'a float field refuses an integer tensor',
  );
  t.throws(
    () =>
      validateMessage(Protocols.LearnerStepRequest, {
        step: 1,
        prompts: [[1]],
        trajectories: [traj],
        advantages: good,
      }),
    /advantages must have one entry per trajectory/,
    'a tensor of 6 advantages for 1 trajectory',
  );
});

t.test('envelopes: clone and msgpack carry the same message', async (t) => {
  const msg = { step: 0, advantages: allocSharedTensor('f32', [4]), groups: [0, 0, 1, 1], rewardMean: 0, rewardStd: 1 };
  for (const transport of ['clone', 'msgpack'] as const) {
    const env = makeEnvelope('train', msg, transport, 1);
    const back = openEnvelope(structuredClone(env)) as typeof msg;
    t.same(back.groups, msg.groups, transport);
    tensorView(back.advantages)[1] = 3;
    t.equal(tensorView(msg.advantages)[1], 3, `${transport}: shared across structuredClone`);
  }
  t.throws(
    () => decodeMessage(encodeMessage({ x: allocSharedTensor('u8', [1]) }, []), []),
    /references shared buffer #0, envelope carries 0/,
  );
});

t.test(
  'msgpack: plain data as msgpack maps (tagged), a message holding a Map as records; both come back as sent',
  async (t) => {
    class Point {
      constructor(
        public x: number,
        public y: number,
      ) {}
    }
    const plain = [
      { id: 1, work: 200 },
      [1, 'two', { three: [3] }],
      { when: new Date(0), ids: new Int32Array([1, 2]), nothing: null, missing: undefined },
      'text',
      7,
    ];
    for (const msg of plain) {
      const env = makeEnvelope('h', msg, 'msgpack');
      const bytes = env.p as Uint8Array;
      t.equal(bytes[env.o!], 0xc1, `${JSON.stringify(msg)}: plain encoding, tagged with a byte msgpack never uses`);
      t.same(openEnvelope(env), msg);
      t.same(decodeMessage(encodeMessage(msg, [])), msg, 'encodeMessage / decodeMessage too');
    }
    const deep = { deep: [{ in: { side: new Map([['x', 1]]) } }] };
    const withMap = [
      {
        m: new Map<unknown, unknown>([
          [1, 'one'],
          ['k', { v: 2 }],
        ]),
      },
      deep,
      { s: new Set([1, 2]), p: new Point(1, 2) },
    ];
    for (const msg of withMap) {
      const env = makeEnvelope('h', msg, 'msgpack');
      t.not((env.p as Uint8Array)[env.o!], 0xc1, 'records');
      t.same(openEnvelope(env), msg, 'Maps come back as Maps, every object as an object');
    }
    const m = openEnvelope(makeEnvelope('h', deep, 'msgpack')) as typeof deep;
    t.ok(m.deep[0]!.in.side instanceof Map, 'a nested Map is a Map');
    t.equal(m.deep[0]!.in.side.get('x'), 1);
    let nested: unknown = { leaf: 1 };
    for (let i = 0; i < 40; i++) nested = { next: nested };
    t.same(openEnvelope(makeEnvelope('h', nested, 'msgpack')), nested, 'past the scan depth: records, still exact');
  },
);

t.test('msgpack envelopes address their bytes in the encoder buffer; later packs leave them intact', async (t) => {
  const first = makeEnvelope('h', { id: 1, text: 'a'.repeat(100) }, 'msgpack');
  const bytes = (first.p as Uint8Array).slice(first.o, first.e);
  for (let i = 0; i < 2000; i++) makeEnvelope('h', { id: i, text: 'b'.repeat(100) }, 'msgpack');
  t.same((first.p as Uint8Array).slice(first.o, first.e), bytes, 'not overwritten by 2000 later packs (~250 KB)');
  t.same(openEnvelope(first), { id: 1, text: 'a'.repeat(100) });
});

t.test('packSharedRows: one buffer, one descriptor per row; describeShared reuses shared memory', async (t) => {
  const rows = packSharedRows('i32', [[1, 2, 3], [], [4]]);
  t.equal(new Set(rows.map((r) => r.buffer)).size, 1, 'one buffer');
  t.same(
    rows.map((r) => Array.from(tensorView(r))),
    [[1, 2, 3], [], [4]],
  );
  const view = tensorView(rows[2]!) as Int32Array;
  const d = describeShared(view);
  t.equal(d.buffer, rows[0]!.buffer, 'a view of shared memory is described, not copied');
  t.equal(d.byteOffset, 12);
  const copied = describeShared(Float32Array.of(1.5));
  t.type(copied.buffer, SharedArrayBuffer, 'a plain typed array is copied into shared memory');
  t.same(Array.from(tensorView(copied)), [1.5]);
});

t.test('askRole: typed request, the reply validated against the handler contract', async (t) => {
  const sys = await ActorSystem.start({ f: { module: 'test/runtime-actors/faulty.ts', retries: 0 } });
  t.teardown(() => sys.shutdown());
  // applyVersion accepts a WeightVersion and returns its version number.
  const asNumber = defineHandler('applyVersion', WeightVersionProtocol, {
    name: 'VersionNumber',
    version: 1,
    schema: z.number().int(),
  });
  t.equal(
    await askRole(sys, 'f', asNumber, { version: 7, step: 1, checksum: 1, size: 4 }),
    7,
    'a reply that matches its declaration',
  );
  const asText = defineHandler('applyVersion', WeightVersionProtocol, {
    name: 'VersionText',
    version: 1,
    schema: z.string(),
  });
  const err = await askRole(sys, 'f', asText, { version: 7, step: 1, checksum: 1, size: 4 }).catch((e: unknown) => e);
  t.type(err, ReplyProtocolError, 'a reply that drifted from its declaration is refused');
  t.match((err as Error).message, /f\.applyVersion replied with a malformed VersionText: \(message\): /);
  // echo returns the request: a learner reply missing its fields is named field by field.
  const echoAsStep = { ...LearnerProtocol.trainStep, handler: 'echo' };
  const bad = await askRole(
    sys,
    'f',
    echoAsStep as unknown as typeof LearnerProtocol.trainStep,
    { step: 1 } as never,
  ).catch((e: unknown) => e);
  t.type(bad, ReplyProtocolError);
  t.equal((bad as ReplyProtocolError).field, 'version', 'names the first missing field');
  t.ok(
    RolloutProtocol.generate.returns.name === 'GenerateReply' &&
      LearnerProtocol.oldLogprobs.accepts.name === 'OldLogprobsRequest',
    'contracts name their messages',
  );
});

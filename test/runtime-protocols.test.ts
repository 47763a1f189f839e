// Protocols: msgpackr codecs round-trip every message kind, shared buffers are referenced not
// copied, hot messages use the shared record structures, validation names the field.
import t from 'tap';
import { pack } from 'msgpackr';
import {
  Protocols, validateMessage, ProtocolError, encodeMessage, decodeMessage, makeEnvelope, openEnvelope,
  allocSharedTensor, tensorView, toSharedTensor, checkSharedTensor, type ProtocolDef, type RolloutRequest, type LearnerStepResult,
} from '../protocols/index.js';

const sampling = { temperature: 0.7, top_p: 1, top_k: 0, max_tokens: 64, seed: 5 };

t.test('rollout request with SharedTensor prompt ids round-trips and shares memory', async (t) => {
  const ids = toSharedTensor(new Int32Array([151644, 872, 198]));
  const req: RolloutRequest = { requestId: 'r1', step: 3, prompts: [{ ids, promptIndex: 0 }], n: 4, sampling, minPolicyVersion: 2 };
  const shared: SharedArrayBuffer[] = [];
  const bytes = encodeMessage(req, shared);
  t.equal(shared.length, 1, 'the SAB travels beside the bytes');
  t.ok(bytes.length < 200, `small encoding (${bytes.length} bytes)`);
  const back = validateMessage(Protocols.RolloutRequest, decodeMessage(bytes, shared));
  const view = tensorView(back.prompts[0]!.ids as typeof ids);
  t.same(Array.from(view), [151644, 872, 198]);
  view[0] = 7;
  t.equal(tensorView(ids)[0], 7, 'same memory, not a copy');
});

t.test('hot messages are smaller than plain msgpack (record structures)', async (t) => {
  const step: LearnerStepResult = { step: 1, loss: 0.1, kl: 0.01, grad_norm: 1.2, learning_rate: 1e-5, tokens_per_s: 1000, timings: { fwd: 1 }, version: 2 };
  const rec = encodeMessage(step, []);
  const plain = pack(step);
  t.ok(rec.length < plain.length - 30, `record ${rec.length} B < plain ${plain.length} B`);
  t.same(decodeMessage(rec), step);
  t.same(validateMessage(Protocols.LearnerStepResult, decodeMessage(rec)), step);
});

t.test('every declared message kind validates a good example and rejects a bad field', async (t) => {
  const examples: Record<keyof typeof Protocols, [unknown, unknown, string]> = {
    RolloutRequest: [{ requestId: 'a', step: 0, prompts: [{ ids: [1, 2], promptIndex: 0 }], n: 2, sampling, minPolicyVersion: 0 }, { requestId: 'a', step: 0, prompts: [], n: 2, sampling, minPolicyVersion: 0 }, 'prompts'],
    RolloutResult: [{ requestId: 'a', step: 0, completions: [{ promptIndex: 0, sampleIndex: 0, tokenIds: new Int32Array([1]), logprobs: new Float32Array([-0.5]), text: 'x', finishReason: 'eos', policyVersion: 1 }], engine: 'builtin', policyVersion: 1, timings: {} }, { requestId: 'a', step: 0, completions: [{ promptIndex: 0, sampleIndex: 0, tokenIds: [1], logprobs: [-0.5], text: 'x', finishReason: 'done', policyVersion: 1 }], engine: 'builtin', policyVersion: 1, timings: {} }, 'completions.0.finishReason'],
    ScoredBatch: [{ step: 1, rewards: { accuracy: [1, 0, null] }, total: [1, 0, 0], timings: {} }, { step: 1, rewards: { accuracy: ['1'] }, total: [1], timings: {} }, 'rewards.accuracy.0'],
    AdvantageBatch: [{ step: 1, advantages: [0.5, -0.5], groups: [0, 0], rewardMean: 0.5, rewardStd: 0.5 }, { step: 1, advantages: [0.5], groups: [0], rewardMean: 0.5 }, 'rewardStd'],
    LearnerStepResult: [{ step: 1, loss: 0, kl: 0, grad_norm: 0, learning_rate: 1e-6, tokens_per_s: 1, timings: {}, version: 1 }, { step: -1, loss: 0, kl: 0, grad_norm: 0, learning_rate: 1e-6, tokens_per_s: 1, timings: {}, version: 1 }, 'step'],
    WeightVersion: [{ version: 1, step: 1, checksum: 5, size: 10 }, { version: 1, step: 1, checksum: 5, size: 10.5 }, 'size'],
    EvalRequest: [{ version: 1, benchmarks: ['aime24'], samplesPerProblem: 1, sampling }, { version: 1, benchmarks: ['aime24'], samplesPerProblem: 1, sampling: { ...sampling, top_p: 0 } }, 'sampling.top_p'],
    EvalReport: [{ version: 1, results: [{ benchmark: 'aime24', pass_at_1: 0.3, problems: 30, samples: 30 }], timings: {} }, { version: 1, results: [{ benchmark: 'aime24', pass_at_1: 1.3, problems: 30, samples: 30 }], timings: {} }, 'results.0.pass_at_1'],
    Metrics: [{ source: 'learner', values: { loss: 1 } }, { source: 'learner', values: { loss: 'high' } }, 'values.loss'],
    ErrorReport: [{ role: 'reward', handler: 'score', name: 'Error', message: 'x' }, { role: 'reward', handler: 'score', name: 'Error' }, 'message'],
  };
  for (const [name, [good, bad, field]] of Object.entries(examples)) {
    const p = Protocols[name as keyof typeof Protocols] as ProtocolDef<unknown>;
    t.doesNotThrow(() => validateMessage(p, decodeMessage(encodeMessage(good, []))), `${name}: good example valid after a codec round trip`);
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
  t.throws(() => validateMessage(Protocols.AdvantageBatch, { step: 0, advantages: { ...good, dtype: 'x' }, groups: [0], rewardMean: 0, rewardStd: 1 }), /advantages/);
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
  t.throws(() => decodeMessage(encodeMessage({ x: allocSharedTensor('u8', [1]) }, []), []), /references shared buffer #0, envelope carries 0/);
});

// msgpackr codecs for control messages. SharedArrayBuffers are never serialised: a msgpackr
// extension swaps each one for an index into the envelope's `shared` list, and the list itself
// travels beside the bytes in the envelope (structured clone shares SABs between threads).
// The hot messages use fixed msgpackr record structures known to both sides, so their keys are not
// re-encoded in every message; no new structures are learned at run time (sender and receiver
// live in different threads and could not agree on them).
import { Packr, addExtension } from 'msgpackr';
import type { TaskEnvelope } from './envelope.js';

export type { TaskEnvelope } from './envelope.js';

export type Transport = TaskEnvelope['t'];

// Keys of the hot messages in the order producers build them (record structures match on key order).
const HOT_STRUCTURES: string[][] = [
  ['buffer', 'dtype', 'shape', 'byteOffset'],
  ['temperature', 'top_p', 'top_k', 'max_tokens', 'seed'],
  ['step', 'prompts', 'n', 'sampling', 'minPolicyVersion'],
  ['ids', 'promptIndex'],
  ['promptIndex', 'sampleIndex', 'tokenIds', 'logprobs', 'text', 'finishReason', 'policyVersion'],
  [
    'step',
    'engine',
    'policyVersion',
    'syncLatencyMs',
    'tokensPerSecond',
    'timeToFirstTokenS',
    'seconds',
    'completions',
  ],
  ['step', 'prompts', 'trajectories', 'advantages', 'microBatchSizes'],
  ['promptIndex', 'completionIds', 'behaviourLogprobs', 'policyVersion'],
  ['step', 'version', 'loss', 'kl', 'grad_norm', 'learning_rate', 'tokens_per_s', 'metrics', 'timings', 'skipped'],
  ['version', 'latencyMs', 'verified'],
];

// The shared-buffer list of the pack/unpack in progress (pack and unpack are synchronous, so a
// module-level slot is safe within one thread).
let currentShared: SharedArrayBuffer[] | null = null;

addExtension({
  Class: SharedArrayBuffer,
  type: 0x53,
  write(sab: SharedArrayBuffer) {
    if (!currentShared) throw new Error('codec: SharedArrayBuffer outside encodeMessage');
    let i = currentShared.indexOf(sab);
    if (i < 0) i = currentShared.push(sab) - 1;
    return i;
  },
  read(i: number) {
    const sab = currentShared?.[i];
    if (!sab)
      throw new Error(`codec: message references shared buffer #${i}, envelope carries ${currentShared?.length ?? 0}`);
    return sab;
  },
});

function makePackr(): Packr {
  return new Packr({
    structures: HOT_STRUCTURES.map((k) => [...k]),
    maxSharedStructures: HOT_STRUCTURES.length,
    shouldShareStructure: () => false,
    moreTypes: true,
    // Typed arrays come back as typed arrays (Int32Array ids, Float32Array logprobs).
  } as ConstructorParameters<typeof Packr>[0]);
}

const packr = makePackr();

/** Encode a message; SharedArrayBuffers inside it are appended to `shared` (returned bytes own their memory). */
export function encodeMessage(msg: unknown, shared: SharedArrayBuffer[]): Uint8Array {
  currentShared = shared;
  try {
    // A copy: msgpackr returns a view into its (8 KiB or larger) output buffer, and structured clone
    // of a view copies the whole backing buffer. (Buffer#slice would not do: it is a view too.)
    return new Uint8Array(packr.pack(msg));
  } finally {
    currentShared = null;
  }
}

export function decodeMessage(bytes: Uint8Array, shared: SharedArrayBuffer[] = []): unknown {
  currentShared = shared;
  try {
    return packr.unpack(bytes);
  } finally {
    currentShared = null;
  }
}

/** Build a task envelope for `msg` to handler `h`. */
export function makeEnvelope(h: string, msg: unknown, transport: Transport, version?: number): TaskEnvelope {
  if (transport === 'clone')
    return version === undefined ? { h, t: 'clone', p: msg } : { h, t: 'clone', p: msg, v: version };
  const s: SharedArrayBuffer[] = [];
  // p is a view into msgpackr's output buffer, which later packs never overwrite (they write after
  // it or into a new buffer), so a retry can send the same bytes again. It is not meant to be posted
  // alone (that would clone the whole backing buffer): the runtime gathers the payloads of a batch
  // into one transferred buffer (src/runtime/lane-bytes.ts).
  currentShared = s;
  let p: Uint8Array;
  try {
    p = packr.pack(msg);
  } finally {
    currentShared = null;
  }
  const env: TaskEnvelope = { h, t: 'msgpack', p };
  if (s.length) env.s = s;
  if (version !== undefined) env.v = version;
  return env;
}

/** Decode the message an envelope carries. */
export function openEnvelope(env: TaskEnvelope): unknown {
  if (env.t === 'clone') return env.p;
  if (env.p instanceof Uint8Array) return decodeMessage(env.p, env.s);
  throw new Error('envelope: p: expected msgpack bytes (a Uint8Array)');
}

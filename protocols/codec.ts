// msgpackr codecs for control messages. SharedArrayBuffers are never serialised: a msgpackr
// extension swaps each one for an index into the envelope's `shared` list, and the list itself
// travels beside the bytes in the envelope (structured clone shares SABs between threads).
// The hot messages use fixed msgpackr record structures known to both sides, so their keys are not
// re-encoded in every message; no new structures are learned at run time (sender and receiver
// live in different threads and could not agree on them).
import { Packr, RESERVE_START_SPACE, REUSE_BUFFER_MODE, addExtension } from 'msgpackr';
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

/** First keys of the hot structures: in plain encoding, only objects starting with one are records. */
const HOT_FIRST_KEYS = new Set(HOT_STRUCTURES.map((k) => k[0]!));

function isHotObject(o: object): boolean {
  for (const k in o) return HOT_FIRST_KEYS.has(k);
  return false;
}

/**
 * plain: objects other than the hot ones are written as msgpack maps and every msgpack map decodes
 * as a plain object. Otherwise every object is a record and a msgpack map decodes as a Map.
 */
function makePackr(plain: boolean): Packr {
  return new Packr({
    structures: HOT_STRUCTURES.map((k) => [...k]),
    maxSharedStructures: HOT_STRUCTURES.length,
    shouldShareStructure: () => false,
    moreTypes: true,
    // Typed arrays come back as typed arrays (Int32Array ids, Float32Array logprobs).
    ...(plain ? { useRecords: isHotObject, mapsAsObjects: true } : {}),
  } as ConstructorParameters<typeof Packr>[0]);
}

// Two encodings. A record whose structure is not shared (any object but the hot ones) carries its
// definition inline, which the receiver parses and builds a reader for in every message: as a plain
// msgpack map, a small object packs and unpacks about twice as fast (measured: 400 → 210 ns and
// 280 → 140 ns for two keys), a cost an ask chain pays at every hop. But msgpackr writes a Map as a
// msgpack map too, so a message holding a Map keeps records for its objects (and its maps decode as
// Maps). Plain bytes start with PLAIN_TAG, a byte msgpack never uses, so either decodes alone.
const recordPackr = makePackr(false);
const plainPackr = makePackr(true);
const PLAIN_TAG = 0xc1;
/** Deeper than this, holdsMap gives up (says yes): the record encoding, as before, for odd messages. */
const MAP_SCAN_DEPTH = 32;

/** Whether msgpackr would meet a Map (or an object it may not see through) while packing v. */
function holdsMap(v: unknown, depth: number): boolean {
  if (typeof v !== 'object' || v === null) return false;
  if (depth > MAP_SCAN_DEPTH) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (holdsMap(v[i], depth + 1)) return true;
    return false;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto === Object.prototype || proto === null) {
    for (const k in v) if (holdsMap((v as Record<string, unknown>)[k], depth + 1)) return true;
    return false;
  }
  // Leaves msgpackr writes through its extensions; anything else (a Map, a Set, a class instance
  // with a toJSON) takes the record encoding.
  return !(ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof SharedArrayBuffer || v instanceof Date);
}

/** msgpackr's output buffer in REUSE_BUFFER_MODE: the bytes just packed are [start, end). */
type PackTarget = Uint8Array & { start: number; end: number };

/**
 * Pack msg; its bytes are [start, end) of the returned buffer (the encoder's output buffer, which
 * later packs never overwrite: they write after these bytes, or into a new buffer).
 */
function pack(msg: unknown): PackTarget {
  if (holdsMap(msg, 0)) return recordPackr.pack(msg, REUSE_BUFFER_MODE) as unknown as PackTarget;
  const out = plainPackr.pack(msg, REUSE_BUFFER_MODE | RESERVE_START_SPACE | 1) as unknown as PackTarget;
  out[out.start] = PLAIN_TAG;
  return out;
}

function unpack(bytes: Uint8Array, start: number, end: number): unknown {
  if (bytes[start] === PLAIN_TAG) return plainPackr.unpack(bytes, { start: start + 1, end });
  return recordPackr.unpack(bytes, { start, end });
}

const NO_SHARED = Object.freeze([]) as unknown as SharedArrayBuffer[];

/** Encode a message; SharedArrayBuffers inside it are appended to `shared` (returned bytes own their memory). */
export function encodeMessage(msg: unknown, shared: SharedArrayBuffer[]): Uint8Array {
  currentShared = shared;
  try {
    // A copy: msgpackr returns a view into its (8 KiB or larger) output buffer, and structured clone
    // of a view copies the whole backing buffer. (Buffer#slice would not do: it is a view too.)
    const out = pack(msg);
    return new Uint8Array(out.subarray(out.start, out.end));
  } finally {
    currentShared = null;
  }
}

export function decodeMessage(
  bytes: Uint8Array,
  shared: SharedArrayBuffer[] = NO_SHARED,
  start = 0,
  end = bytes.length,
): unknown {
  currentShared = shared;
  try {
    return unpack(bytes, start, end);
  } finally {
    currentShared = null;
  }
}

/** Build a task envelope for `msg` to handler `h`. */
export function makeEnvelope(h: string, msg: unknown, transport: Transport, version?: number): TaskEnvelope {
  if (transport === 'clone')
    return version === undefined ? { h, t: 'clone', p: msg } : { h, t: 'clone', p: msg, v: version };
  const s: SharedArrayBuffer[] = [];
  // p is msgpackr's output buffer and [o, e) the message's bytes in it, which later packs never
  // overwrite (they write after them or into a new buffer), so a retry can send the same bytes again.
  // p is not meant to be posted (that would clone the whole buffer): the runtime gathers the payloads
  // of a batch into one transferred buffer (src/runtime/lane-bytes.ts).
  currentShared = s;
  let out: PackTarget;
  try {
    out = pack(msg);
  } finally {
    currentShared = null;
  }
  const env: TaskEnvelope = { h, t: 'msgpack', p: out, o: out.start, e: out.end };
  if (s.length) env.s = s;
  if (version !== undefined) env.v = version;
  return env;
}

/**
 * The msgpack bytes of an envelope as a buffer of their own (a copy): to post them alone, as a clone
 * of p would copy the whole encoder or batch buffer they are a range of.
 */
export function ownBytes(env: TaskEnvelope): Uint8Array {
  const p = env.p as Uint8Array;
  return new Uint8Array(p.subarray(env.o ?? 0, env.e ?? p.byteLength));
}

/** Decode the message an envelope carries. */
export function openEnvelope(env: TaskEnvelope): unknown {
  if (env.t === 'clone') return env.p;
  if (env.p instanceof Uint8Array) return decodeMessage(env.p, env.s, env.o, env.e);
  throw new Error('envelope: p: expected msgpack bytes (a Uint8Array)');
}

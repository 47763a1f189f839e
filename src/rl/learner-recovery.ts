// The learner's crash-recovery state in shared memory. After each step the learner commits its whole
// state — adapter, AdamW moments and step, dropout RNG, its step count and the step's reply — into a
// WeightStore the coordinator owns (a seqlocked double buffer with a checksum, so a crash mid-commit
// leaves the previous commit readable and a damaged one is detected). A replacement worker restores
// it and a retried step then computes exactly what the lost attempt would have.
//
// Layout (float32 words): params [n] | exp_avg [n] | exp_avg_sq [n] | meta [8] | reply [REPLY_WORDS]
//   meta: dropout RNG state (4 × u32), AdamW step, learner step, reply byte length, unused.
//   reply: the step's reply as UTF-8 JSON (metrics are float64; a float32 copy would change them).
import type { RngState } from '../util/rng.js';
import { WeightStore } from '../runtime/weight-store.js';

const META_WORDS = 8;
const REPLY_WORDS = 1024;
const M_RNG = 0,
  M_OPT_STEP = 4,
  M_STEP = 5,
  M_REPLY_BYTES = 6;

/** Floats a recovery store needs for an adapter of `n` values. */
export function learnerRecoverySize(n: number): number {
  return 3 * n + META_WORDS + REPLY_WORDS;
}

export interface LearnerRecoveryState {
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  optStep: number;
  rng: RngState;
  /** Steps completed; the commit is recovery version step + 1 (version 0 = nothing committed). */
  step: number;
  /** The reply of step `step`, so a retry whose first reply was lost gets it again. */
  reply: Record<string, unknown> | null;
}

/** Pack `st` into `scratch` (learnerRecoverySize floats) and commit it as version step + 1. */
export function commitLearnerState(store: WeightStore, scratch: Float32Array, st: LearnerRecoveryState): void {
  const n = st.params.length;
  scratch.set(st.params, 0);
  scratch.set(st.m, n);
  scratch.set(st.v, 2 * n);
  const meta = new Uint32Array(scratch.buffer, scratch.byteOffset + 3 * n * 4, META_WORDS);
  meta.set(st.rng.s, M_RNG);
  meta[M_OPT_STEP] = st.optStep;
  meta[M_STEP] = st.step;
  const replyBytes = new Uint8Array(scratch.buffer, scratch.byteOffset + (3 * n + META_WORDS) * 4, REPLY_WORDS * 4);
  let json = encodeReply(st.reply);
  // Only a free-text field can make a reply long (a skip reason quoting an error): shorten it to fit.
  if (json.length > replyBytes.length && st.reply) {
    const short = Object.fromEntries(
      Object.entries(st.reply).map(([k, v]) => [k, typeof v === 'string' ? v.slice(0, 256) : v]),
    );
    json = encodeReply(short);
  }
  if (json.length > replyBytes.length)
    throw new Error(
      `learner recovery: the step's reply needs ${json.length} bytes, the slot holds ${replyBytes.length}`,
    );
  replyBytes.fill(0);
  replyBytes.set(json);
  meta[M_REPLY_BYTES] = json.length;
  const version = st.step + 1;
  if (store.version === version) store.rewrite(scratch, st.step);
  else store.publish(scratch, st.step, version);
}

/** Read the committed state (checksum-verified) into `into`'s arrays; null when nothing is committed. */
export function restoreLearnerState(
  store: WeightStore,
  scratch: Float32Array,
  into: Pick<LearnerRecoveryState, 'params' | 'm' | 'v'>,
): LearnerRecoveryState | null {
  if (store.version === 0) return null;
  const snap = store.snapshot(scratch);
  if (!WeightStore.verify(snap))
    throw new Error(
      `learner: the recovery state of step ${snap.version - 1} fails its checksum; restart with --resume from the last checkpoint`,
    );
  const n = into.params.length;
  into.params.set(scratch.subarray(0, n));
  into.m.set(scratch.subarray(n, 2 * n));
  into.v.set(scratch.subarray(2 * n, 3 * n));
  const meta = new Uint32Array(scratch.buffer, scratch.byteOffset + 3 * n * 4, META_WORDS);
  const len = meta[M_REPLY_BYTES]!;
  const replyBytes = new Uint8Array(scratch.buffer, scratch.byteOffset + (3 * n + META_WORDS) * 4, len);
  return {
    params: into.params,
    m: into.m,
    v: into.v,
    optStep: meta[M_OPT_STEP]!,
    rng: { s: [meta[M_RNG]!, meta[M_RNG + 1]!, meta[M_RNG + 2]!, meta[M_RNG + 3]!] },
    step: meta[M_STEP]!,
    reply:
      len > 0
        ? (JSON.parse(new TextDecoder().decode(replyBytes), (_k, v) =>
            v && typeof v === 'object' && typeof v.$num === 'string' ? Number(v.$num) : v,
          ) as Record<string, unknown>)
        : null,
  };
}

/** JSON of a reply, keeping NaN and ±Infinity (a skipped step's grad_norm is NaN) as {"$num": "NaN"}. */
function encodeReply(reply: Record<string, unknown> | null): Uint8Array {
  if (!reply) return new Uint8Array(0);
  return new TextEncoder().encode(
    JSON.stringify(reply, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? { $num: String(v) } : v)),
  );
}

// The WeightStore's shared control block: which Int32 word holds what (weight-store.ts writes and
// reads the version slots, reader-acks.ts the reader slots), and the async wait both use.
export const MAGIC = 0x4c524157; // "LRAW"
export const C_MAGIC = 0,
  C_VERSION = 1,
  C_ACTIVE = 2,
  C_MAX_READERS = 3,
  C_READERS = 4,
  C_SIZE = 5;
export const C_WRITING = 6; // 1 while a publish is in progress (single-writer guard)
export const C_ACK_SEQ = 7; // bumped on every ack (waiters sleep on it)
export const C_SLOTS = 8; // number of version slots
export const C_STAMP = 9; // write counter: each committed slot gets the next stamp (newest copy of a version wins)
export const C_ACKS = 16; // maxReaders slots
// Per version slot, after the acks: sequence, version, checksum, step, stamp.
export const S_SEQ = 0,
  S_VERSION = 1,
  S_CHECKSUM = 2,
  S_STEP = 3,
  S_STAMP = 4,
  S_FIELDS = 5;
export const NAME_BYTES = 48;

// Atomics.waitAsync is in Node 16+ but only in TypeScript's ES2024 lib; the project targets ES2023.
type WaitAsyncResult = { async: false; value: string } | { async: true; value: Promise<string> };
const rawWaitAsync = (
  Atomics as unknown as { waitAsync: (a: Int32Array, i: number, v: number, t?: number) => WaitAsyncResult }
).waitAsync;

/** Atomics.waitAsync that keeps the event loop alive while waiting (a pending waitAsync alone does not). */
export async function waitAsync(a: Int32Array, i: number, v: number, timeoutMs: number): Promise<void> {
  const w = rawWaitAsync(a, i, v, timeoutMs);
  if (!w.async) return;
  const keepAlive = setTimeout(() => {}, timeoutMs + 5);
  try {
    await w.value;
  } finally {
    clearTimeout(keepAlive);
  }
}

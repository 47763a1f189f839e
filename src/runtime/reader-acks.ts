// The WeightStore's reader slots: each reader of the adapter (a rollout worker, an evaluator)
// registers by name and acknowledges every version it applies, so the learner can wait for all
// readers with a deadline and learn which one is late. Plain functions over the store's shared
// control block (the reader slots start at C_ACKS; -1 marks a free slot) and its name bytes.
import { C_ACK_SEQ, C_ACKS, C_READERS, NAME_BYTES, waitAsync } from './weight-store-layout.js';

/** The reader slots' shared memory, as one store instance sees it. */
export interface ReaderTable {
  ctl: Int32Array;
  names: Uint8Array;
  maxReaders: number;
}

export interface AckReport {
  ok: boolean;
  version: number;
  /** Readers that had not acknowledged `version` by the deadline. */
  late: { slot: number; name: string; acked: number }[];
  waitedMs: number;
}

/**
 * Take a reader slot (name shows up in late-reader reports). Returns the slot id. A name that
 * already holds a slot gets it back: a reader's replacement (after a worker crash) takes over its
 * predecessor's slot instead of leaving a dead reader that would be reported late forever.
 */
export function registerReader(t: ReaderTable, name: string): number {
  for (let slot = 0; slot < t.maxReaders; slot++) {
    if (Atomics.load(t.ctl, C_ACKS + slot) !== -1 && readerName(t, slot) === name) return slot;
  }
  for (let slot = 0; slot < t.maxReaders; slot++) {
    if (Atomics.compareExchange(t.ctl, C_ACKS + slot, -1, 0) === -1) {
      const bytes = new TextEncoder().encode(name).subarray(0, NAME_BYTES - 1);
      t.names.fill(0, slot * NAME_BYTES, (slot + 1) * NAME_BYTES);
      t.names.set(bytes, slot * NAME_BYTES);
      Atomics.add(t.ctl, C_READERS, 1);
      return slot;
    }
  }
  throw new Error(`WeightStore.registerReader: all ${t.maxReaders} reader slots taken`);
}

export function unregisterReader(t: ReaderTable, slot: number): void {
  checkSlot(t, slot);
  Atomics.store(t.ctl, C_ACKS + slot, -1);
  Atomics.sub(t.ctl, C_READERS, 1);
  bumpAcks(t);
}

/** Record that reader `slot` applied `version`. */
export function ackVersion(t: ReaderTable, slot: number, version: number): void {
  checkSlot(t, slot);
  Atomics.store(t.ctl, C_ACKS + slot, version);
  bumpAcks(t);
}

export function readerName(t: ReaderTable, slot: number): string {
  const b = t.names.subarray(slot * NAME_BYTES, (slot + 1) * NAME_BYTES);
  const end = b.indexOf(0);
  return new TextDecoder().decode(b.slice(0, end < 0 ? NAME_BYTES : end));
}

/** The registered readers that have not acknowledged `version` yet. */
export function lateReaders(t: ReaderTable, version: number): AckReport['late'] {
  const late: AckReport['late'] = [];
  for (let slot = 0; slot < t.maxReaders; slot++) {
    const acked = Atomics.load(t.ctl, C_ACKS + slot);
    if (acked !== -1 && acked < version) late.push({ slot, name: readerName(t, slot), acked });
  }
  return late;
}

/** Wait until every registered reader acknowledged `version`, or the deadline; reports who is late. */
export async function waitForAcks(t: ReaderTable, version: number, timeoutMs: number): Promise<AckReport> {
  const t0 = performance.now();
  for (;;) {
    const seq = Atomics.load(t.ctl, C_ACK_SEQ);
    const late = lateReaders(t, version);
    const waitedMs = performance.now() - t0;
    if (late.length === 0) return { ok: true, version, late, waitedMs };
    const left = timeoutMs - waitedMs;
    if (left <= 0) return { ok: false, version, late, waitedMs };
    await waitAsync(t.ctl, C_ACK_SEQ, seq, left);
  }
}

function bumpAcks(t: ReaderTable): void {
  Atomics.add(t.ctl, C_ACK_SEQ, 1);
  Atomics.notify(t.ctl, C_ACK_SEQ);
}

function checkSlot(t: ReaderTable, slot: number): void {
  if (!Number.isInteger(slot) || slot < 0 || slot >= t.maxReaders)
    throw new Error(`WeightStore: reader slot ${slot} out of range 0..${t.maxReaders - 1}`);
}

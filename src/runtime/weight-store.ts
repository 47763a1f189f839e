// WeightStore: the versioned LoRA adapter in shared memory, double-buffered.
//
// The learner writes a new version into the inactive half (one write, however many readers), then
// flips `active` and bumps `version` with Atomics and notifies waiters. Each half has a sequence
// counter (a seqlock): odd while that half is being written. A reader copies the active half and
// checks the counter did not move; if the writer lapped it (two publishes during one copy) it
// retries, so a snapshot is never torn. Every version carries an FNV-1a checksum of its bytes, and
// each reader has a slot where it acknowledges the version it applied, so the learner can wait for
// all readers with a deadline and learn which one is late.
import { checksumFloat32 } from './checksum.js';

const MAGIC = 0x4c524157; // "LRAW"
const C_MAGIC = 0, C_VERSION = 1, C_ACTIVE = 2, C_MAX_READERS = 3, C_READERS = 4, C_SIZE = 5;
const C_SEQ = 6; // 2 slots
const C_HALF_VERSION = 8; // 2 slots
const C_HALF_CHECKSUM = 10; // 2 slots
const C_WRITING = 12; // 1 while a publish is in progress (single-writer guard)
const C_ACK_SEQ = 13; // bumped on every ack (waiters sleep on it)
const C_HALF_STEP = 14; // 2 slots
const C_ACKS = 16; // maxReaders slots
const NAME_BYTES = 48;

// Atomics.waitAsync is in Node 16+ but only in TypeScript's ES2024 lib; the project targets ES2023.
type WaitAsyncResult = { async: false; value: string } | { async: true; value: Promise<string> };
const rawWaitAsync = (Atomics as unknown as { waitAsync: (a: Int32Array, i: number, v: number, t?: number) => WaitAsyncResult }).waitAsync;

/** Atomics.waitAsync that keeps the event loop alive while waiting (a pending waitAsync alone does not). */
async function waitAsync(a: Int32Array, i: number, v: number, timeoutMs: number): Promise<void> {
  const w = rawWaitAsync(a, i, v, timeoutMs);
  if (!w.async) return;
  const keepAlive = setTimeout(() => {}, timeoutMs + 5);
  try {
    await w.value;
  } finally {
    clearTimeout(keepAlive);
  }
}

/** Everything needed to attach to a store from another thread (structured-clone friendly). */
export interface WeightStoreDescription {
  control: SharedArrayBuffer;
  data: SharedArrayBuffer;
  names: SharedArrayBuffer;
  size: number;
  maxReaders: number;
}

export interface WeightSnapshot {
  version: number;
  step: number;
  checksum: number;
  params: Float32Array;
  /** How many times the copy was retried because a publish overlapped it. */
  retries: number;
}

export interface AckReport {
  ok: boolean;
  version: number;
  /** Readers that had not acknowledged `version` by the deadline. */
  late: { slot: number; name: string; acked: number }[];
  waitedMs: number;
}

export class WeightStore {
  private readonly ctl: Int32Array;
  private readonly halves: [Float32Array, Float32Array];
  private readonly nameBytes: Uint8Array;

  private constructor(readonly desc: WeightStoreDescription) {
    this.ctl = new Int32Array(desc.control);
    if (this.ctl[C_MAGIC] !== MAGIC) throw new Error('WeightStore.attach: control buffer is not a WeightStore (bad magic)');
    if (this.ctl[C_SIZE] !== desc.size) throw new Error(`WeightStore.attach: size ${desc.size} does not match the store's ${this.ctl[C_SIZE]}`);
    this.halves = [new Float32Array(desc.data, 0, desc.size), new Float32Array(desc.data, desc.size * 4, desc.size)];
    this.nameBytes = new Uint8Array(desc.names);
  }

  /** Allocate a store for an adapter of `size` float32 elements (version 0 = all zeros = base model). */
  static create(size: number, opts: { maxReaders?: number } = {}): WeightStore {
    if (!Number.isInteger(size) || size < 1) throw new Error(`WeightStore.create: size must be a positive integer (got ${size})`);
    const maxReaders = opts.maxReaders ?? 64;
    const control = new SharedArrayBuffer((C_ACKS + maxReaders) * 4);
    const ctl = new Int32Array(control);
    ctl[C_MAGIC] = MAGIC;
    ctl[C_SIZE] = size;
    ctl[C_MAX_READERS] = maxReaders;
    for (let i = 0; i < maxReaders; i++) ctl[C_ACKS + i] = -1;
    const zero = checksumFloat32(new Float32Array(size));
    ctl[C_HALF_CHECKSUM] = zero | 0;
    ctl[C_HALF_CHECKSUM + 1] = zero | 0;
    return new WeightStore({ control, data: new SharedArrayBuffer(size * 8), names: new SharedArrayBuffer(maxReaders * NAME_BYTES), size, maxReaders });
  }

  /** Attach to a store created in another thread. */
  static attach(desc: WeightStoreDescription): WeightStore {
    for (const k of ['control', 'data', 'names'] as const) {
      if (!(desc?.[k] instanceof SharedArrayBuffer)) throw new Error(`WeightStore.attach: ${k}: expected SharedArrayBuffer`);
    }
    return new WeightStore(desc);
  }

  describe(): WeightStoreDescription {
    return { ...this.desc };
  }

  get size(): number {
    return this.desc.size;
  }

  /** Latest published version (0 before the first publish). */
  get version(): number {
    return Atomics.load(this.ctl, C_VERSION);
  }

  /**
   * Copy `params` into the inactive half and publish it as the next version (or as `version`, which
   * must be higher than the current one: a resumed run continues its version numbering). Returns it.
   */
  publish(params: Float32Array, step = 0, version?: number): number {
    if (params.length !== this.desc.size) throw new Error(`WeightStore.publish: params has ${params.length} elements, store holds ${this.desc.size}`);
    const w = this.beginWrite();
    w.params.set(params);
    return w.commit(step, undefined, version);
  }

  /**
   * Write `params` again under the CURRENT version number (same step), e.g. after a reader found the
   * version's bytes corrupted: readers that have not applied it take the fresh copy; the version
   * sequence is unchanged. Returns the version.
   */
  rewrite(params: Float32Array, step = 0): number {
    if (params.length !== this.desc.size) throw new Error(`WeightStore.rewrite: params has ${params.length} elements, store holds ${this.desc.size}`);
    const w = this.beginWrite();
    w.params.set(params);
    return w.commit(step, undefined, Atomics.load(this.ctl, C_VERSION), true);
  }

  /**
   * A writer that died mid-publish leaves the single-writer flag set and its half's sequence odd.
   * The writer's replacement calls this once at start-up: the half stays inactive (never flipped
   * to), so the abandoned write is simply discarded. Returns whether there was one.
   */
  recoverAbandonedWrite(): boolean {
    if (Atomics.load(this.ctl, C_WRITING) === 0) return false;
    for (const h of [0, 1]) if (Atomics.load(this.ctl, C_SEQ + h) & 1) Atomics.add(this.ctl, C_SEQ + h, 1);
    Atomics.store(this.ctl, C_WRITING, 0);
    return true;
  }

  /**
   * Fault drill only: flip one bit of the active version's bytes without touching its checksum, as a
   * bad transfer or a stray write would, so readers must detect it.
   */
  corruptActiveForDrill(): void {
    const h = Atomics.load(this.ctl, C_ACTIVE);
    const bits = new Uint32Array(this.halves[h].buffer, this.halves[h].byteOffset, this.desc.size);
    const k = this.desc.size >>> 1;
    bits[k] = bits[k]! ^ 0x00400000;
  }

  /**
   * Zero-copy publishing: get the inactive half as a writable view (e.g. the optimizer writes the
   * new adapter straight into it), then commit. Only one write may be open at a time.
   */
  beginWrite(): { params: Float32Array; commit: (step?: number, checksum?: number, version?: number, sameVersion?: boolean) => number; abort: () => void } {
    if (Atomics.compareExchange(this.ctl, C_WRITING, 0, 1) !== 0) throw new Error('WeightStore: another publish is in progress (single writer)');
    const h = 1 - Atomics.load(this.ctl, C_ACTIVE);
    Atomics.add(this.ctl, C_SEQ + h, 1); // odd: half h is being written
    let done = false;
    const finish = (): void => {
      if (done) throw new Error('WeightStore: write already committed or aborted');
      done = true;
      Atomics.add(this.ctl, C_SEQ + h, 1); // even again
      Atomics.store(this.ctl, C_WRITING, 0);
    };
    return {
      params: this.halves[h],
      commit: (step = 0, checksum?: number, asVersion?: number, sameVersion = false) => {
        const current = Atomics.load(this.ctl, C_VERSION);
        if (asVersion !== undefined && !(Number.isInteger(asVersion) && (asVersion > current || (sameVersion && asVersion === current)))) {
          finish();
          throw new Error(`WeightStore.commit: version ${asVersion} must be an integer above the current version ${current}`);
        }
        const version = asVersion ?? current + 1;
        this.ctl[C_HALF_VERSION + h] = version;
        this.ctl[C_HALF_STEP + h] = step;
        this.ctl[C_HALF_CHECKSUM + h] = (checksum ?? checksumFloat32(this.halves[h])) | 0;
        finish();
        Atomics.store(this.ctl, C_ACTIVE, h);
        Atomics.store(this.ctl, C_VERSION, version);
        Atomics.notify(this.ctl, C_VERSION);
        return version;
      },
      abort: finish,
    };
  }

  /** A consistent copy of the latest version (into `dest` when given, else a new array). */
  snapshot(dest?: Float32Array): WeightSnapshot {
    const out = dest ?? new Float32Array(this.desc.size);
    if (out.length !== this.desc.size) throw new Error(`WeightStore.snapshot: dest has ${out.length} elements, store holds ${this.desc.size}`);
    for (let retries = 0; ; retries++) {
      const h = Atomics.load(this.ctl, C_ACTIVE);
      const s1 = Atomics.load(this.ctl, C_SEQ + h);
      if ((s1 & 1) === 0) {
        const version = this.ctl[C_HALF_VERSION + h]!;
        const step = this.ctl[C_HALF_STEP + h]!;
        const checksum = this.ctl[C_HALF_CHECKSUM + h]! >>> 0;
        out.set(this.halves[h]);
        if (Atomics.load(this.ctl, C_SEQ + h) === s1) return { version, step, checksum, params: out, retries };
      }
      if (retries > 1_000_000) throw new Error('WeightStore.snapshot: could not get a consistent copy (writer never idle)');
    }
  }

  /** Verify a snapshot's bytes against its version's checksum. */
  static verify(s: WeightSnapshot): boolean {
    return checksumFloat32(s.params) === s.checksum;
  }

  /** Block this thread (workers only; the main thread may not block) until version >= min or timeout. */
  waitForVersionSync(min: number, timeoutMs: number): number {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const v = Atomics.load(this.ctl, C_VERSION);
      if (v >= min) return v;
      const left = end - performance.now();
      if (left <= 0) return v;
      Atomics.wait(this.ctl, C_VERSION, v, left);
    }
  }

  /** Resolve when version >= min (or at the timeout) with the version seen; usable on any thread. */
  async waitForVersion(min: number, timeoutMs: number): Promise<number> {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const v = Atomics.load(this.ctl, C_VERSION);
      if (v >= min) return v;
      const left = end - performance.now();
      if (left <= 0) return v;
      await waitAsync(this.ctl, C_VERSION, v, left);
    }
  }

  /**
   * Take a reader slot (name shows up in late-reader reports). Returns the slot id. A name that
   * already holds a slot gets it back: a reader's replacement (after a worker crash) takes over its
   * predecessor's slot instead of leaving a dead reader that would be reported late forever.
   */
  registerReader(name: string): number {
    for (let slot = 0; slot < this.desc.maxReaders; slot++) {
      if (Atomics.load(this.ctl, C_ACKS + slot) !== -1 && this.readerName(slot) === name) return slot;
    }
    for (let slot = 0; slot < this.desc.maxReaders; slot++) {
      if (Atomics.compareExchange(this.ctl, C_ACKS + slot, -1, 0) === -1) {
        const bytes = new TextEncoder().encode(name).subarray(0, NAME_BYTES - 1);
        this.nameBytes.fill(0, slot * NAME_BYTES, (slot + 1) * NAME_BYTES);
        this.nameBytes.set(bytes, slot * NAME_BYTES);
        Atomics.add(this.ctl, C_READERS, 1);
        return slot;
      }
    }
    throw new Error(`WeightStore.registerReader: all ${this.desc.maxReaders} reader slots taken`);
  }

  unregisterReader(slot: number): void {
    this.checkSlot(slot);
    Atomics.store(this.ctl, C_ACKS + slot, -1);
    Atomics.sub(this.ctl, C_READERS, 1);
    this.bumpAcks();
  }

  /** Record that reader `slot` applied `version`. */
  ack(slot: number, version: number): void {
    this.checkSlot(slot);
    Atomics.store(this.ctl, C_ACKS + slot, version);
    this.bumpAcks();
  }

  readerName(slot: number): string {
    const b = this.nameBytes.subarray(slot * NAME_BYTES, (slot + 1) * NAME_BYTES);
    const end = b.indexOf(0);
    return new TextDecoder().decode(b.slice(0, end < 0 ? NAME_BYTES : end));
  }

  /** The registered readers that have not acknowledged `version` yet. */
  lateReaders(version: number): AckReport['late'] {
    const late: AckReport['late'] = [];
    for (let slot = 0; slot < this.desc.maxReaders; slot++) {
      const acked = Atomics.load(this.ctl, C_ACKS + slot);
      if (acked !== -1 && acked < version) late.push({ slot, name: this.readerName(slot), acked });
    }
    return late;
  }

  /** Wait until every registered reader acknowledged `version`, or the deadline; reports who is late. */
  async waitForAcks(version: number, timeoutMs: number): Promise<AckReport> {
    const t0 = performance.now();
    for (;;) {
      const seq = Atomics.load(this.ctl, C_ACK_SEQ);
      const late = this.lateReaders(version);
      const waitedMs = performance.now() - t0;
      if (late.length === 0) return { ok: true, version, late, waitedMs };
      const left = timeoutMs - waitedMs;
      if (left <= 0) return { ok: false, version, late, waitedMs };
      await waitAsync(this.ctl, C_ACK_SEQ, seq, left);
    }
  }

  private bumpAcks(): void {
    Atomics.add(this.ctl, C_ACK_SEQ, 1);
    Atomics.notify(this.ctl, C_ACK_SEQ);
  }

  private checkSlot(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.desc.maxReaders) throw new Error(`WeightStore: reader slot ${slot} out of range 0..${this.desc.maxReaders - 1}`);
  }
}

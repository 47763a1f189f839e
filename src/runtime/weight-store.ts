// WeightStore: the versioned LoRA adapter in shared memory, in a ring of version slots (two by default:
// double-buffered).
//
// The learner writes a new version into the slot holding the oldest version (one write, however many
// readers), then flips `active` and bumps `version` with Atomics and notifies waiters. Each slot has a
// sequence counter (a seqlock): odd while that slot is being written. A reader copies a slot and
// checks the counter did not move; if the writer lapped it (a publish into that slot during the copy)
// it retries, so a snapshot is never torn. The last `slots` versions stay resident: a reader may take
// the newest (`snapshot`) or an exact older one (`snapshotVersion`: async GRPO generates from the
// version the coordinator chose, which the learner may already have moved past). Every version
// carries an FNV-1a checksum of its bytes, and each reader has a slot where it acknowledges the
// version it applied, so the learner can wait for all readers with a deadline and learn which one is late
// (reader-acks.ts). The control block's word layout is in weight-store-layout.ts.
import { checksumFloat32 } from './checksum.js';
import {
  ackVersion,
  lateReaders,
  readerName,
  registerReader,
  unregisterReader,
  waitForAcks,
  type AckReport,
  type ReaderTable,
} from './reader-acks.js';
import {
  C_ACKS,
  C_ACTIVE,
  C_MAGIC,
  C_MAX_READERS,
  C_SIZE,
  C_SLOTS,
  C_STAMP,
  C_VERSION,
  C_WRITING,
  MAGIC,
  NAME_BYTES,
  S_CHECKSUM,
  S_FIELDS,
  S_SEQ,
  S_STAMP,
  S_STEP,
  S_VERSION,
  waitAsync,
} from './weight-store-layout.js';

export type { AckReport };

/** Everything needed to attach to a store from another thread (structured-clone friendly). */
export interface WeightStoreDescription {
  control: SharedArrayBuffer;
  data: SharedArrayBuffer;
  names: SharedArrayBuffer;
  size: number;
  maxReaders: number;
  /** Version slots (the last `slots` versions stay resident); 2 when absent. */
  slots?: number;
}

export interface WeightSnapshot {
  version: number;
  step: number;
  checksum: number;
  params: Float32Array;
  /** How many times the copy was retried because a publish overlapped it. */
  retries: number;
}

export class WeightStore {
  private readonly ctl: Int32Array;
  /** The version slots' bytes. */
  private readonly halves: Float32Array[];
  /** The reader slots (reader-acks.ts). */
  private readonly readers: ReaderTable;
  /** Index in `ctl` of the first version slot's fields. */
  private readonly slotBase: number;

  private constructor(readonly desc: WeightStoreDescription) {
    this.ctl = new Int32Array(desc.control);
    if (this.ctl[C_MAGIC] !== MAGIC)
      throw new Error('WeightStore.attach: control buffer is not a WeightStore (bad magic)');
    if (this.ctl[C_SIZE] !== desc.size)
      throw new Error(`WeightStore.attach: size ${desc.size} does not match the store's ${this.ctl[C_SIZE]}`);
    const slots = this.ctl[C_SLOTS]!;
    if (desc.data.byteLength < slots * desc.size * 4)
      throw new Error(
        `WeightStore.attach: data holds ${desc.data.byteLength} bytes, ${slots} slots of ${desc.size} values need ${slots * desc.size * 4}`,
      );
    this.halves = Array.from({ length: slots }, (_, h) => new Float32Array(desc.data, h * desc.size * 4, desc.size));
    this.readers = { ctl: this.ctl, names: new Uint8Array(desc.names), maxReaders: desc.maxReaders };
    this.slotBase = C_ACKS + this.ctl[C_MAX_READERS]!;
  }

  /**
   * Allocate a store for an adapter of `size` float32 elements (version 0 = all zeros = base model),
   * keeping the last `slots` versions resident (default 2; async GRPO uses 3: the newest, the one
   * before it that a rollout asked one step ahead may still want, and a spare for a republish).
   */
  static create(size: number, opts: { maxReaders?: number; slots?: number } = {}): WeightStore {
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`WeightStore.create: size must be a positive integer (got ${size})`);
    const maxReaders = opts.maxReaders ?? 64;
    const slots = opts.slots ?? 2;
    if (!Number.isInteger(slots) || slots < 2 || slots > 64)
      throw new Error(`WeightStore.create: slots must be an integer in 2..64 (got ${slots})`);
    const control = new SharedArrayBuffer((C_ACKS + maxReaders + slots * S_FIELDS) * 4);
    const ctl = new Int32Array(control);
    ctl[C_MAGIC] = MAGIC;
    ctl[C_SIZE] = size;
    ctl[C_MAX_READERS] = maxReaders;
    ctl[C_SLOTS] = slots;
    for (let i = 0; i < maxReaders; i++) ctl[C_ACKS + i] = -1;
    // Slot 0 is version 0 (zeros); the others hold no version yet (-1).
    const zero = checksumFloat32(new Float32Array(size));
    for (let h = 0; h < slots; h++) {
      const b = C_ACKS + maxReaders + h * S_FIELDS;
      ctl[b + S_VERSION] = h === 0 ? 0 : -1;
      ctl[b + S_CHECKSUM] = zero | 0;
    }
    return new WeightStore({
      control,
      data: new SharedArrayBuffer(size * 4 * slots),
      names: new SharedArrayBuffer(maxReaders * NAME_BYTES),
      size,
      maxReaders,
      slots,
    });
  }

  /** Attach to a store created in another thread. */
  static attach(desc: WeightStoreDescription): WeightStore {
    for (const k of ['control', 'data', 'names'] as const) {
      if (!(desc?.[k] instanceof SharedArrayBuffer))
        throw new Error(`WeightStore.attach: ${k}: expected SharedArrayBuffer`);
    }
    return new WeightStore(desc);
  }

  describe(): WeightStoreDescription {
    return { ...this.desc };
  }

  get size(): number {
    return this.desc.size;
  }

  /** How many versions stay resident. */
  get slots(): number {
    return this.halves.length;
  }

  /** The versions resident now, newest first (a version rewritten after a corruption appears once). */
  get residentVersions(): number[] {
    const vs = new Set<number>();
    for (const h of this.slotsNewestFirst()) if (this.slotVersion(h) >= 0) vs.add(this.slotVersion(h));
    return [...vs];
  }

  private f(h: number, field: number): number {
    return this.slotBase + h * S_FIELDS + field;
  }

  private slotVersion(h: number): number {
    return Atomics.load(this.ctl, this.f(h, S_VERSION));
  }

  /**
   * The slot the next write goes to: never the active one; first a slot holding nothing or a stale
   * copy of a version rewritten since (a republish), else the one holding the oldest version, so a
   * republish does not evict the previous version that a pending reader may still ask for.
   */
  private victimSlot(): number {
    const active = Atomics.load(this.ctl, C_ACTIVE);
    const order = this.slotsNewestFirst();
    const seen = new Set<number>();
    const dead: number[] = [];
    for (const h of order) {
      const v = this.slotVersion(h);
      if (v < 0 || seen.has(v)) dead.push(h);
      seen.add(v);
    }
    return dead.find((h) => h !== active) ?? order.filter((h) => h !== active).at(-1)!;
  }

  /** Slot indexes from the most recently written (the active one) to the oldest. */
  private slotsNewestFirst(): number[] {
    return this.halves
      .map((_, h) => h)
      .sort((a, b) => Atomics.load(this.ctl, this.f(b, S_STAMP)) - Atomics.load(this.ctl, this.f(a, S_STAMP)));
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
    if (params.length !== this.desc.size)
      throw new Error(`WeightStore.publish: params has ${params.length} elements, store holds ${this.desc.size}`);
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
    if (params.length !== this.desc.size)
      throw new Error(`WeightStore.rewrite: params has ${params.length} elements, store holds ${this.desc.size}`);
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
    for (let h = 0; h < this.halves.length; h++)
      if (Atomics.load(this.ctl, this.f(h, S_SEQ)) & 1) Atomics.add(this.ctl, this.f(h, S_SEQ), 1);
    Atomics.store(this.ctl, C_WRITING, 0);
    return true;
  }

  /**
   * Fault drill only: flip one bit of the active version's bytes without touching its checksum, as a
   * bad transfer or a stray write would, so readers must detect it.
   */
  corruptActiveForDrill(): void {
    const h = this.halves[Atomics.load(this.ctl, C_ACTIVE)]!;
    const bits = new Uint32Array(h.buffer, h.byteOffset, this.desc.size);
    const k = this.desc.size >>> 1;
    bits[k] = bits[k]! ^ 0x00400000;
  }

  /**
   * Zero-copy publishing: get the slot holding the oldest version as a writable view (e.g. the
   * optimizer writes the new adapter straight into it), then commit. Only one write may be open at a time.
   */
  beginWrite(): {
    params: Float32Array;
    commit: (step?: number, checksum?: number, version?: number, sameVersion?: boolean) => number;
    abort: () => void;
  } {
    if (Atomics.compareExchange(this.ctl, C_WRITING, 0, 1) !== 0)
      throw new Error('WeightStore: another publish is in progress (single writer)');
    const h = this.victimSlot();
    Atomics.add(this.ctl, this.f(h, S_SEQ), 1); // odd: slot h is being written
    let done = false;
    const finish = (): void => {
      if (done) throw new Error('WeightStore: write already committed or aborted');
      done = true;
      Atomics.add(this.ctl, this.f(h, S_SEQ), 1); // even again
      Atomics.store(this.ctl, C_WRITING, 0);
    };
    return {
      params: this.halves[h]!,
      commit: (step = 0, checksum?: number, asVersion?: number, sameVersion = false) => {
        const current = Atomics.load(this.ctl, C_VERSION);
        if (
          asVersion !== undefined &&
          !(Number.isInteger(asVersion) && (asVersion > current || (sameVersion && asVersion === current)))
        ) {
          finish();
          throw new Error(
            `WeightStore.commit: version ${asVersion} must be an integer above the current version ${current}`,
          );
        }
        const version = asVersion ?? current + 1;
        // The slot's version is set while its sequence is still odd: a reader never pairs it with old bytes.
        Atomics.store(this.ctl, this.f(h, S_VERSION), version);
        this.ctl[this.f(h, S_STEP)] = step;
        this.ctl[this.f(h, S_CHECKSUM)] = (checksum ?? checksumFloat32(this.halves[h]!)) | 0;
        Atomics.store(this.ctl, this.f(h, S_STAMP), Atomics.add(this.ctl, C_STAMP, 1) + 1);
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
    const out = this.dest(dest, 'snapshot');
    for (let retries = 0; ; retries++) {
      const got = this.copySlot(Atomics.load(this.ctl, C_ACTIVE), out, retries);
      if (got) return got;
      if (retries > 1_000_000)
        throw new Error('WeightStore.snapshot: could not get a consistent copy (writer never idle)');
    }
  }

  /**
   * A consistent copy of exactly `version`, or null when it is not resident (never published, or
   * evicted by newer ones: the store keeps the last `slots`). A version written twice (rewritten
   * after a corruption) is read from its newest copy.
   */
  snapshotVersion(version: number, dest?: Float32Array): WeightSnapshot | null {
    const out = this.dest(dest, 'snapshotVersion');
    for (let retries = 0; retries <= 1_000_000; retries++) {
      const h = this.slotsNewestFirst().find((x) => this.slotVersion(x) === version);
      if (h === undefined) return null;
      const got = this.copySlot(h, out, retries);
      if (got && got.version === version) return got;
    }
    throw new Error(
      `WeightStore.snapshotVersion: could not get a consistent copy of version ${version} (writer never idle)`,
    );
  }

  private dest(dest: Float32Array | undefined, who: string): Float32Array {
    const out = dest ?? new Float32Array(this.desc.size);
    if (out.length !== this.desc.size)
      throw new Error(`WeightStore.${who}: dest has ${out.length} elements, store holds ${this.desc.size}`);
    return out;
  }

  /** Seqlock read of slot h: null when a write overlapped (the caller retries). */
  private copySlot(h: number, out: Float32Array, retries: number): WeightSnapshot | null {
    const s1 = Atomics.load(this.ctl, this.f(h, S_SEQ));
    if (s1 & 1) return null;
    const version = this.slotVersion(h);
    const step = this.ctl[this.f(h, S_STEP)]!;
    const checksum = this.ctl[this.f(h, S_CHECKSUM)]! >>> 0;
    out.set(this.halves[h]!);
    return Atomics.load(this.ctl, this.f(h, S_SEQ)) === s1 ? { version, step, checksum, params: out, retries } : null;
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

  // Reader slots and acknowledgements: reader-acks.ts says what each one does.
  registerReader(name: string): number {
    return registerReader(this.readers, name);
  }

  unregisterReader(slot: number): void {
    unregisterReader(this.readers, slot);
  }

  ack(slot: number, version: number): void {
    ackVersion(this.readers, slot, version);
  }

  readerName(slot: number): string {
    return readerName(this.readers, slot);
  }

  lateReaders(version: number): AckReport['late'] {
    return lateReaders(this.readers, version);
  }

  waitForAcks(version: number, timeoutMs: number): Promise<AckReport> {
    return waitForAcks(this.readers, version, timeoutMs);
  }
}

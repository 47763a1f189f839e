// Adapter versions through the JetStream object store. The coordinator puts each version once, as
// float32 bytes with a description holding its version, step and the WeightStore's FNV-1a checksum
// (the store itself adds a SHA-256 digest, which the client checks on every get). A worker fetches a
// version once and writes it into its own WeightStore under the coordinator's checksum and version
// number, so the rollout actor's usual verified apply (snapshot, checksum, apply, acknowledge) runs
// unchanged on the worker's host: bytes damaged anywhere on the way are refused, not applied.
import type { NatsConnection } from '@nats-io/transport-node';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { WeightStore } from '../../runtime/weight-store.js';
import { adapterObjectSchema, type AdapterObject } from '../../../protocols/remote.js';
import { NAMES } from './connect.js';

/** Chunk size of adapter objects: larger chunks mean fewer messages per version (measured in bench:nats). */
export const ADAPTER_CHUNK_BYTES = 1 << 20;

export async function openAdapterBucket(nc: NatsConnection): Promise<ObjectStore> {
  const objm = new Objm(nc);
  try {
    return await objm.open(NAMES.adapters);
  } catch {
    return objm.create(NAMES.adapters, { description: 'loractor adapter versions (objects <run>/v<version>)' });
  }
}

/** Coordinator side: put the store's current version (once per version; `force` puts it again, a republish). */
export function adapterPublisher(os: ObjectStore, run: string, store: WeightStore) {
  const published = new Map<number, Promise<AdapterObject>>();
  const scratch = new Float32Array(store.size);
  const put = async (): Promise<AdapterObject> => {
    const snap = store.snapshot(scratch);
    if (!WeightStore.verify(snap))
      throw new Error(
        `adapter version ${snap.version}: the coordinator's copy fails its checksum; it is not published`,
      );
    const meta: AdapterObject = {
      version: snap.version,
      step: snap.step,
      checksum: snap.checksum,
      size: snap.params.length,
      dtype: 'f32',
    };
    const bytes = new Uint8Array(snap.params.buffer, snap.params.byteOffset, snap.params.byteLength);
    await os.putBlob(
      {
        name: NAMES.adapterObject(run, snap.version),
        description: JSON.stringify(meta),
        options: { max_chunk_size: ADAPTER_CHUNK_BYTES },
      },
      bytes,
    );
    return meta;
  };
  return {
    /** Publish the newest version in the store (≥ minVersion, waiting up to timeoutMs for it). */
    async publishLatest(minVersion: number, timeoutMs: number, force = false): Promise<AdapterObject> {
      if (store.version < minVersion) await store.waitForVersion(minVersion, timeoutMs);
      const v = store.version;
      if (v < minVersion)
        throw new Error(
          `adapter version ${minVersion} was not published by the learner within ${timeoutMs} ms (latest ${v})`,
        );
      let p = force ? undefined : published.get(v);
      if (!p) {
        p = put();
        published.set(v, p);
        p.catch(() => published.delete(v));
      }
      return p;
    },
    versions: (): number[] => [...published.keys()],
    /** A worker rejected `version` and the learner rewrote it: the next publish puts it again. */
    invalidate(version: number): void {
      published.delete(version);
    },
    /** Delete this run's objects (at the end of the run). */
    async removeAll(): Promise<void> {
      for (const v of published.keys()) await os.delete(NAMES.adapterObject(run, v)).catch(() => {});
      published.clear();
    },
  };
}
export type AdapterPublisher = ReturnType<typeof adapterPublisher>;

/** Worker side: fetch a version into the local store, once per version (again after a rejection). */
export function adapterFetcher(os: ObjectStore, run: string, store: WeightStore) {
  const fetched = new Map<number, Promise<{ ms: number; bytes: number }>>();
  const fetchOne = async (version: number): Promise<{ ms: number; bytes: number }> => {
    const t0 = performance.now();
    const name = NAMES.adapterObject(run, version);
    const info = await os.info(name);
    if (!info) throw new Error(`adapter version ${version}: no object ${name} in bucket ${NAMES.adapters}`);
    const meta = adapterObjectSchema.parse(JSON.parse(info.description ?? '{}'));
    // getBlob checks the object store's SHA-256 digest and rejects a corrupt transfer.
    const bytes = await os.getBlob(name);
    if (!bytes) throw new Error(`adapter version ${version}: object ${name} disappeared`);
    if (bytes.byteLength !== meta.size * 4 || meta.size !== store.size)
      throw new Error(
        `adapter version ${version}: ${bytes.byteLength} bytes, expected ${meta.size * 4} (this worker's adapter holds ${store.size} values)`,
      );
    const current = store.version;
    if (current > meta.version) return { ms: performance.now() - t0, bytes: bytes.byteLength }; // a newer one is already applied
    const w = store.beginWrite();
    w.params.set(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
    // The coordinator's checksum, not one computed here: the rollout actor verifies the bytes against it.
    w.commit(meta.step, meta.checksum, meta.version, current === meta.version);
    return { ms: performance.now() - t0, bytes: bytes.byteLength };
  };
  return {
    /** Make the local store hold at least `version`. */
    ensure(version: number): Promise<{ ms: number; bytes: number }> {
      // Version 0 is the base model (all zeros) in every store; a version already fetched needs nothing.
      if ((version === 0 && store.version === 0) || (store.version >= version && fetched.has(store.version)))
        return Promise.resolve({ ms: 0, bytes: 0 });
      let p = fetched.get(version);
      if (!p) {
        p = fetchOne(version);
        fetched.set(version, p);
        p.catch(() => fetched.delete(version));
      }
      return p;
    },
    /** The version failed verification: fetch it again next time. */
    forget(version: number): void {
      fetched.delete(version);
    },
  };
}

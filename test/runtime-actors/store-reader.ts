// Worker for the WeightStore hammer test: attaches to the store and takes snapshots as fast as it
// can while the main thread publishes. Each version v is published filled with the value v, so a
// torn snapshot (two versions mixed) or a stale checksum is detectable element by element.
import { parentPort, workerData } from 'node:worker_threads';
import { WeightStore, type WeightStoreDescription } from '../../src/runtime/weight-store.js';

const {
  desc,
  durationMs,
  name,
  unsafe,
  minVersions = 0,
} = workerData as {
  desc: WeightStoreDescription;
  durationMs: number;
  name: string;
  unsafe: boolean;
  /** Keep reading past durationMs (up to 30 s) until this many versions have been seen. */
  minVersions?: number;
};
const store = WeightStore.attach(desc);
const slot = store.registerReader(name);
const buf = new Float32Array(store.size);
let snapshots = 0,
  torn = 0,
  badChecksum = 0,
  retries = 0,
  lastVersion = 0,
  versionsSeen = 0,
  backwards = 0;
parentPort!.postMessage({ ready: true });
// Read for durationMs, and on past it (up to 30 s) until minVersions versions have arrived: on a loaded
// machine the writer may get little CPU time during the reader's window, and a reader that saw no new
// version proves nothing. A writer that never reaches the readers still fails the hammer test.
const end = performance.now() + durationMs;
const hardEnd = performance.now() + Math.max(durationMs, 30_000);
const reading = (): boolean => {
  const now = performance.now();
  return now < end || (versionsSeen < minVersions && now < hardEnd);
};
while (reading()) {
  let version: number;
  if (unsafe) {
    // Deliberately wrong: read the active half without the seqlock (shows the hammer can catch tears).
    const ctl = new Int32Array(desc.control);
    const h = Atomics.load(ctl, 2);
    version = Atomics.load(ctl, 1);
    buf.set(new Float32Array(desc.data, h * store.size * 4, store.size));
  } else {
    const s = store.snapshot(buf);
    version = s.version;
    retries += s.retries;
    if (!WeightStore.verify(s)) badChecksum++;
  }
  snapshots++;
  const first = buf[0]!;
  let ok = first === (unsafe ? first : version);
  for (let i = 1; i < buf.length && ok; i++) if (buf[i] !== first) ok = false;
  if (!ok) torn++;
  if (version < lastVersion) backwards++;
  if (version !== lastVersion) versionsSeen++;
  lastVersion = version;
  if (!unsafe) store.ack(slot, version);
}
parentPort!.postMessage({ snapshots, torn, badChecksum, retries, versionsSeen, backwards, slot });

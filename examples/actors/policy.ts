// Example stateful actor: holds a copy of the adapter from the shared WeightStore and acknowledges
// each version it applies (how a rollout engine follows the learner).
import { WeightStore, type WeightStoreDescription } from '../../src/runtime/weight-store.js';
import type { ActorContext } from '../../src/runtime/context.js';

let store: WeightStore | null = null;
let slot = -1;
let params: Float32Array | null = null;
let applied = 0;

export function init(config: { store: WeightStoreDescription }, ctx: ActorContext): void {
  store = WeightStore.attach(config.store);
  slot = store.registerReader(`${ctx.role}#${ctx.threadId}`);
  params = new Float32Array(store.size);
}

/** Apply the newest adapter version (at least minVersion), acknowledge it, return what was applied. */
export async function sync(msg: {
  minVersion: number;
}): Promise<{ version: number; checksumOk: boolean; sum: number }> {
  if (!store || !params) throw new Error('policy: not initialised');
  store.waitForVersionSync(msg.minVersion, 1000);
  const snap = store.snapshot(params);
  const checksumOk = WeightStore.verify(snap);
  if (!checksumOk) throw new Error(`policy: checksum mismatch on version ${snap.version}`);
  applied = snap.version;
  store.ack(slot, applied);
  let sum = 0;
  for (let i = 0; i < params.length; i++) sum += params[i]!;
  return { version: applied, checksumOk, sum };
}

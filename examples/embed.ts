// Embedding loractor's actor runtime in an application:
//   node dist/examples/embed.js                  spawn actors, ask/tell, publish weights, watch events
//   node dist/examples/embed.js --record FILE --count N
//                                                accept N slow messages and wait; SIGINT/SIGTERM
//                                                drains them all before exiting
import { parseArgs } from 'node:util';
import { ActorSystem, WeightStore, type ActorEvent } from '../src/index.js';

const { values } = parseArgs({ options: { record: { type: 'string' }, count: { type: 'string', default: '50' } } });

if (values.record) {
  const sys = await ActorSystem.start({
    recorder: { module: 'examples/actors/recorder.ts', threads: 2, maxQueue: 1000 },
  });
  sys.events$.subscribe((e) => {
    if (e.type === 'shutdown' && e.phase === 'drained') console.log(`shutdown drained (pending ${e.pending})`);
  });
  sys.installSignalHandlers();
  const n = Number(values.count);
  for (let id = 0; id < n; id++) await sys.tell('recorder', 'record', { id, file: values.record, ms: 25 });
  console.log(`accepted ${n}`);
  setInterval(() => {}, 1 << 30); // stay alive until a signal arrives
} else {
  const store = WeightStore.create(1024, { maxReaders: 8 });
  const sys = await ActorSystem.start({
    policy: { module: 'examples/actors/policy.ts', config: { store: store.describe() } },
    scorer: { module: 'examples/actors/scorer.ts', threads: 2, maxQueue: 16 },
  });
  const seen: string[] = [];
  sys.events$.subscribe((e: ActorEvent) => seen.push(e.type));
  let settled = 0;
  sys.metrics$.subscribe(() => settled++);

  const rewards = await Promise.all(
    ['\\boxed{4}', '\\boxed{5}', 'no answer'].map((completion) =>
      sys.ask<{ reward: number }>('scorer', 'score', { completion, answer: '4' }),
    ),
  );
  console.log('rewards', rewards.map((r) => r.reward).join(','));

  const params = new Float32Array(store.size).fill(0.5);
  const version = store.publish(params, 1);
  const applied = await sys.ask<{ version: number; checksumOk: boolean; sum: number }>('policy', 'sync', {
    minVersion: version,
  });
  const acks = await store.waitForAcks(version, 2000);
  console.log(
    `published v${version}; policy applied v${applied.version} (checksum ok ${applied.checksumOk}, sum ${applied.sum}); all acked ${acks.ok}`,
  );
  await sys.shutdown();
  console.log(`messages settled ${settled}; events ${[...new Set(seen)].join(',')}`);
}

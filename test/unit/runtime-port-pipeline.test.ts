// PortPipeline: batches pass through every stage worker-to-worker, in order, none lost.
import t from 'tap';
import { PortPipeline } from '../../src/runtime/index.js';

t.test('3-stage port pipeline delivers every message in order', async (t) => {
  const p = await PortPipeline.start(
    [0, 1, 2].map(() => ({ module: 'examples/actors/synthetic.ts', handler: 'stage' })),
  );
  t.teardown(() => p.close());
  const one = await p.run<{ id: number }>([{ id: 7, work: 10 }]);
  t.same(
    one.map((r) => r.id),
    [7],
  );
  const batches = Array.from({ length: 30 }, (_, k) =>
    Array.from({ length: 50 }, (_, i) => ({ id: k * 50 + i, work: 10 })),
  );
  t.equal(await p.stream(batches, 4), 1500);
  await t.rejects(
    PortPipeline.start([{ module: 'examples/actors/synthetic.ts', handler: 'nope' }]),
    /no handler 'nope'/,
  );
});

t.test('send without waiting: every batch reaches the results listener, in the order sent', async (t) => {
  const p = await PortPipeline.start([0, 1].map(() => ({ module: 'examples/actors/synthetic.ts', handler: 'stage' })));
  t.teardown(() => p.close());
  const seen: number[][] = [];
  const all = new Promise<void>((resolve) =>
    p.onResults((results) => {
      seen.push(results.map((r) => (r as { id: number }).id));
      if (seen.length === 3) resolve();
    }),
  );
  for (const ids of [[1, 2], [3], [4, 5, 6]]) p.send(ids.map((id) => ({ id, work: 10 })));
  await all;
  t.same(seen, [[1, 2], [3], [4, 5, 6]]);
});

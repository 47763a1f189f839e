// The delivery layer under ask (src/runtime/lanes.ts): many messages batched on one worker come back
// matched and in order; a crash under pipelined messages costs an attempt only to the message that
// was running (the others never started and are delivered on the replacement); transfer lists; the
// start signal and deadlines counted from it.
import t from 'tap';
import { MessageChannel } from 'node:worker_threads';
import { ActorSystem, ActorTimeoutError, type ActorEvent } from '../../src/runtime/index.js';
import { allocSharedTensor, tensorView } from '../../protocols/index.js';

const MODULE = 'test/runtime-actors/faulty.ts';

t.test('hundreds of concurrent asks to one worker: every reply matched, handled in order', async (t) => {
  const sys = await ActorSystem.start({ f: { module: MODULE, maxQueue: 1000 } });
  t.teardown(() => sys.shutdown());
  const base = await sys.ask<number>('f', 'increment', {});
  const counts = await Promise.all(Array.from({ length: 300 }, () => sys.ask<number>('f', 'increment', {})));
  t.same(
    counts,
    Array.from({ length: 300 }, (_, i) => base + 1 + i),
    'FIFO on the worker, each reply to its own ask',
  );
  const echoes = await Promise.all(
    Array.from({ length: 300 }, (_, i) =>
      sys.ask('f', 'echo', { i, s: `m${i}` }, { transport: i % 2 ? 'clone' : 'msgpack' }),
    ),
  );
  t.same(
    echoes,
    Array.from({ length: 300 }, (_, i) => ({ i, s: `m${i}` })),
  );
});

t.test(
  'a crash under pipelined messages: only the running message is charged; the rest run on the replacement',
  async (t) => {
    const sys = await ActorSystem.start({ f: { module: MODULE, retries: 0 } });
    t.teardown(() => sys.shutdown());
    const events: ActorEvent[] = [];
    sys.events$.subscribe((e) => events.push(e));
    const counter = allocSharedTensor('i32', [1]);
    const crashing = sys.ask('f', 'flaky', { counter, failTimes: 1, mode: 'exit' }).catch((e: unknown) => e);
    const behind = Array.from({ length: 20 }, (_, i) => sys.ask('f', 'echo', i));
    t.match(((await crashing) as Error).message, /dead-lettered after 1 attempts: worker exited with code: 3/);
    t.same(
      await Promise.all(behind),
      Array.from({ length: 20 }, (_, i) => i),
      'the messages behind it were delivered',
    );
    t.equal(events.filter((e) => e.type === 'crash').length, 1, 'one crash');
    t.ok(
      events.some((e) => e.type === 'worker-created'),
      'the worker was replaced',
    );
  },
);

t.test('transfer lists: a MessagePort travels to the handler', async (t) => {
  const sys = await ActorSystem.start({ f: { module: MODULE } });
  t.teardown(() => sys.shutdown());
  const { port1, port2 } = new MessageChannel();
  const pong = new Promise((res) => port1.once('message', res));
  t.equal(await sys.ask('f', 'ping', { port: port2, text: 'hi' }, { transfer: [port2] }), 'sent');
  t.equal(await pong, 'pong hi');
  port1.close();
});

t.test("deadlines from the start signal do not count the wait for a busy worker; from 'send' they do", async (t) => {
  const sys = await ActorSystem.start({ f: { module: MODULE } });
  t.teardown(() => sys.shutdown());
  const starts: number[] = [];
  const fromStart = await Promise.all(
    [0, 1, 2].map((id) =>
      sys.ask(
        'f',
        'slow',
        { ms: 400, id },
        { deadlineMs: 700, deadlineFrom: 'start', onStart: (attempt) => starts.push(attempt) },
      ),
    ),
  );
  t.same(fromStart, [0, 1, 2], 'three 400 ms items in a row, each within 700 ms of its start');
  t.same(starts, [1, 1, 1], 'one start signal per item (first attempt)');
  const fromSend = await Promise.allSettled(
    [0, 1, 2].map((id) => sys.ask('f', 'slow', { ms: 400, id }, { deadlineMs: 700 })),
  );
  t.equal(fromSend[0]!.status, 'fulfilled');
  t.ok(
    fromSend[2]!.status === 'rejected' && fromSend[2]!.reason instanceof ActorTimeoutError,
    'the third waited 800 ms before starting: timed out',
  );
});

t.test('msgpack payloads of one batch share one transferred buffer; each message keeps its own bytes', async (t) => {
  const sys = await ActorSystem.start({ f: { module: MODULE } });
  t.teardown(() => sys.shutdown());
  const shared = allocSharedTensor('f32', [3]);
  const msg = { n: 1, xs: new Float32Array([1.5, 2.5]), shared, s: 'é→✓' };
  // All sent in one turn, so they travel in one batch: msgpack and clone messages mixed, and one that
  // cannot be cloned (a function), which must fail alone.
  const asks = [
    sys.ask('f', 'echo', msg),
    sys.ask('f', 'echo', { n: 2 }, { transport: 'clone' }),
    sys.ask('f', 'echo', { n: 3, f: () => 0 }, { transport: 'clone' }).catch((e: Error) => e),
    sys.ask('f', 'echo', 'four'),
    sys.ask('f', 'echo', [5, { six: 6 }]),
  ];
  msg.n = 99; // msgpack captures the message when ask is called
  const [one, two, three, four, five] = await Promise.all(asks);
  const back = one as typeof msg;
  t.equal(back.n, 1, 'the bytes are the message as it was when asked');
  t.same(Array.from(back.xs), [1.5, 2.5], 'typed array intact');
  t.equal(back.s, 'é→✓');
  tensorView(back.shared)[1] = 42;
  t.equal(tensorView(shared)[1], 42, 'a shared buffer travels as itself (same memory)');
  t.same(two, { n: 2 });
  t.match(three, { name: 'MessageRejectedError' }, 'the uncloneable message is rejected');
  t.equal(four, 'four');
  t.same(five, [5, { six: 6 }]);
});

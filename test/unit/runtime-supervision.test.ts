// Supervision: crashed workers are replaced and the message retried; after the retry limit the
// message is dead-lettered with the original error; a deadline expiry is a timeout and the actor
// keeps serving; malformed messages are rejected naming the field.
import t from 'tap';
import {
  ActorSystem,
  DeadLetterError,
  ActorTimeoutError,
  MessageRejectedError,
  type ActorEvent,
} from '../../src/runtime/index.js';
import { allocSharedTensor, tensorView } from '../../protocols/index.js';
import { WeightVersionProtocol } from '../runtime-actors/faulty.js';

const sys = await ActorSystem.start({
  f: { module: 'test/runtime-actors/faulty.ts', retries: 2, config: { tag: 'sup' } },
});
const events: ActorEvent[] = [];
sys.events$.subscribe((e) => events.push(e));
t.teardown(() => sys.shutdown());

t.test('init receives the role config', async (t) => {
  const r = await sys.ask<{ role: string; config: unknown }>('f', 'whoami', {});
  t.equal(r.role, 'f');
  t.same(r.config, { tag: 'sup' });
});

for (const mode of ['throw', 'exit', 'uncaught'] as const) {
  t.test(`worker that fails by ${mode}: retried, then succeeds`, async (t) => {
    const counter = allocSharedTensor('i32', [1]);
    events.length = 0;
    const attempt = await sys.ask<number>('f', 'flaky', { counter, failTimes: 2, mode });
    t.equal(attempt, 3, 'third attempt succeeded');
    t.equal(tensorView(counter)[0], 3);
    t.equal(events.filter((e) => e.type === 'retry').length, 2, 'two retries');
    if (mode !== 'throw')
      t.ok(
        events.some((e) => e.type === 'worker-destroyed'),
        'crashed worker was replaced',
      );
    t.equal(await sys.ask('f', 'echo', 'still alive'), 'still alive');
  });

  t.test(`worker that fails by ${mode}: dead-lettered after the limit with the original error`, async (t) => {
    const counter = allocSharedTensor('i32', [1]);
    events.length = 0;
    const err = await sys.ask('f', 'flaky', { counter, failTimes: 99, mode }).catch((e: unknown) => e);
    t.type(err, DeadLetterError);
    const dl = err as DeadLetterError;
    t.equal(dl.attempts, 3, '1 try + 2 retries');
    t.equal(tensorView(counter)[0], 3, 'handler ran exactly 3 times');
    const original = mode === 'exit' ? /exited with code: 3/ : /boom on attempt 3/;
    t.match((dl.cause as Error).message, original, 'original error kept as cause');
    const ev = events.find((e) => e.type === 'dead-letter');
    t.ok(ev, 'dead-letter event surfaced');
    t.match((ev as { error: Error }).error.message, original);
    t.equal(await sys.ask('f', 'echo', 1), 1, 'actor keeps serving');
  });
}

t.test('deadline expiry: timeout error, worker replaced, actor keeps serving', async (t) => {
  events.length = 0;
  const t0 = performance.now();
  const err = await sys.ask('f', 'spin', { ms: 60_000 }, { deadlineMs: 150 }).catch((e: unknown) => e);
  t.type(err, ActorTimeoutError);
  t.match((err as Error).message, /timed out after 150 ms/);
  t.ok(performance.now() - t0 < 20_000, 'did not wait for the hung handler (60 s)');
  t.ok(events.some((e) => e.type === 'timeout'));
  t.notOk(
    events.some((e) => e.type === 'retry'),
    'timeouts are not retried',
  );
  t.equal(await sys.ask('f', 'echo', 'after'), 'after');
  t.equal(
    await sys.ask('f', 'spin', { ms: 5 }, { deadlineMs: 2000 }),
    'finished',
    'a call within its deadline completes',
  );
});

t.test('stateful actor keeps module state between messages', async (t) => {
  const a = await sys.ask<number>('f', 'increment', {});
  const b = await sys.ask<number>('f', 'increment', {});
  t.equal(b, a + 1);
});

t.test('malformed messages are rejected naming the field, never retried, actor unharmed', async (t) => {
  events.length = 0;
  const bad = { version: 'seven', step: 0, checksum: 1, size: 4 };
  const err = await sys.ask('f', 'applyVersion', bad, { protocol: WeightVersionProtocol }).catch((e: unknown) => e);
  t.type(err, MessageRejectedError);
  t.equal((err as MessageRejectedError).field, 'version');
  t.match((err as Error).message, /WeightVersion: version: .*expected number/);
  const extra = await sys
    .ask('f', 'applyVersion', { version: 1, step: 0, checksum: 1, size: 4, bogus: 1 })
    .catch((e: unknown) => e);
  t.type(extra, MessageRejectedError);
  t.match((extra as Error).message, /bogus/);
  const missing = await sys.ask('f', 'applyVersion', { version: 1, step: 0, size: 4 }).catch((e: unknown) => e);
  t.equal((missing as MessageRejectedError).field, 'checksum');
  const wrongVersion = await sys
    .ask(
      'f',
      'applyVersion',
      { version: 1, step: 0, checksum: 1, size: 4 },
      { protocol: { ...WeightVersionProtocol, version: 9 } },
    )
    .catch((e: unknown) => e);
  t.match((wrongVersion as Error).message, /protocol version 9 not supported \(expected 1\)/);
  const noHandler = await sys.ask('f', 'doesNotExist', {}).catch((e: unknown) => e);
  t.match((noHandler as Error).message, /no handler 'doesNotExist'/);
  t.notOk(events.some((e) => e.type === 'retry' || e.type === 'crash'));
  t.equal(
    await sys.ask(
      'f',
      'applyVersion',
      { version: 7, step: 1, checksum: 123, size: 4 },
      { protocol: WeightVersionProtocol },
    ),
    7,
  );
});

t.test('both transports carry shared buffers without copying', async (t) => {
  for (const transport of ['msgpack', 'clone'] as const) {
    const tensor = allocSharedTensor('f32', [4]);
    const back = await sys.ask<{ x: typeof tensor }>('f', 'echo', { x: tensor }, { transport });
    tensorView(back.x)[2] = 42;
    t.equal(tensorView(tensor)[2], 42, `${transport}: same memory after a round trip`);
  }
});

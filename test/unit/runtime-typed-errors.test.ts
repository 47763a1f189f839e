// Typed errors survive the thread boundary: callers branch on the error's type (isOrCausedBy), never
// on its message text, so a plain error that only says "checksum" is not taken for a checksum failure.
import t from 'tap';
import { ActorSystem, DeadLetterError, WeightChecksumError, isOrCausedBy } from '../../src/runtime/index.js';

t.test('isOrCausedBy walks the cause chain and knows the type by instance or by name', async (t) => {
  const direct = new WeightChecksumError('x');
  t.ok(isOrCausedBy(direct, WeightChecksumError));
  t.ok(isOrCausedBy(new Error('outer', { cause: new Error('mid', { cause: direct }) }), WeightChecksumError));
  const rebuilt = Object.assign(new Error('from a worker'), { name: 'WeightChecksumError' });
  t.ok(isOrCausedBy(rebuilt, WeightChecksumError), 'an error rebuilt from a worker keeps its name');
  t.notOk(isOrCausedBy(new Error('failed its checksum'), WeightChecksumError), 'the message text does not count');
  t.notOk(isOrCausedBy('WeightChecksumError', WeightChecksumError), 'a string is not an error');
});

t.test('a WeightChecksumError thrown in a worker is recognised by the caller', async (t) => {
  const sys = await ActorSystem.start({ e: { module: 'test/runtime-actors/typed-errors.ts', retries: 0 } });
  t.teardown(() => sys.shutdown());
  const typed = await sys.ask('e', 'badChecksum', {}).then(
    () => null,
    (err: unknown) => err,
  );
  t.type(typed, DeadLetterError);
  t.ok(isOrCausedBy(typed, WeightChecksumError), 'the dead letter is caused by the checksum error');
  const plain = await sys.ask('e', 'mentionsChecksum', {}).then(
    () => null,
    (err: unknown) => err,
  );
  t.type(plain, DeadLetterError);
  t.notOk(isOrCausedBy(plain, WeightChecksumError), 'a plain error with the same words is not a checksum error');
});

// Bounded mailboxes apply backpressure (wait or reject); shutdown drains every accepted message,
// both when called directly and on SIGTERM in a real process.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ActorSystem, MailboxFullError, ShuttingDownError } from '../../src/runtime/index.js';
import { repoRoot } from '../../src/util/paths.js';

const MODULE = 'test/runtime-actors/faulty.ts';

t.test('full mailbox, onFull=reject: rejects clearly, accepts again once drained', async (t) => {
  const sys = await ActorSystem.start({ f: { module: MODULE, maxQueue: 3, onFull: 'reject' } });
  t.teardown(() => sys.shutdown());
  const accepted = [0, 1, 2, 3].map((id) => sys.ask('f', 'slow', { ms: 100, id })); // 1 running + 3 queued
  t.equal(sys.pending('f'), 4);
  const err = await sys.ask('f', 'slow', { ms: 1, id: 99 }).catch((e: unknown) => e);
  t.type(err, MailboxFullError);
  t.match((err as Error).message, /mailbox of 'f' is full \(4 messages, capacity 4\)/);
  t.same(await Promise.all(accepted), [0, 1, 2, 3]);
  t.equal(await sys.ask('f', 'slow', { ms: 1, id: 5 }), 5);
});

t.test('full mailbox, onFull=wait: sender waits, memory stays bounded, nothing lost', async (t) => {
  const sys = await ActorSystem.start({ f: { module: MODULE, maxQueue: 2, onFull: 'wait' } });
  t.teardown(() => sys.shutdown());
  let maxPending = 0;
  let backpressure = 0;
  sys.events$.subscribe((e) => e.type === 'backpressure' && backpressure++);
  const t0 = performance.now();
  for (let id = 0; id < 12; id++) {
    await sys.tell('f', 'slow', { ms: 20, id }); // resolves when accepted
    maxPending = Math.max(maxPending, sys.pending('f'));
  }
  t.ok(maxPending <= 3, `pending never above capacity 3 (max ${maxPending})`);
  t.ok(backpressure > 0, 'senders were held back');
  t.ok(performance.now() - t0 >= 9 * 20 - 5, 'the sender was paced by the consumer');
  await sys.shutdown();
  t.equal(sys.pending('f'), 0);
});

t.test('shutdown drains every accepted message and refuses new ones', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loractor-drain-'));
  const file = join(dir, 'done.txt');
  const sys = await ActorSystem.start({ f: { module: MODULE, threads: 2, maxQueue: 100 } });
  for (let id = 0; id < 40; id++) await sys.tell('f', 'record', { id, file, ms: 5 });
  const closing = sys.shutdown();
  const refused = await sys.tell('f', 'record', { id: 999, file, ms: 0 }).catch((e: unknown) => e);
  t.type(refused, ShuttingDownError);
  await closing;
  const ids = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map(Number)
    .sort((a, b) => a - b);
  t.same(
    ids,
    Array.from({ length: 40 }, (_, i) => i),
    'all 40 accepted messages processed, the refused one not',
  );
});

t.test('SIGTERM in a real process: in-flight work drained before exit', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loractor-sigterm-'));
  const file = join(dir, 'done.txt');
  const script = join(repoRoot(), 'dist', 'examples', 'embed.js');
  t.ok(existsSync(script), 'examples/embed built');
  const child = spawn(process.execPath, [script, '--record', file, '--count', '60'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let killed = false;
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (!killed && out.includes('accepted 60')) killed = child.kill('SIGTERM');
  });
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  t.equal(code, 143, 'exited via the SIGTERM handler after draining');
  t.match(out, /shutdown drained/);
  const ids = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map(Number)
    .sort((a, b) => a - b);
  t.same(
    ids,
    Array.from({ length: 60 }, (_, i) => i),
    'every accepted message processed: ' + out.slice(-300),
  );
});

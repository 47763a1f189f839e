// Rollout and reward roles on other processes over NATS JetStream (src/transport/nats/), against a
// real nats-server: the default config run as a coordinator plus two rollout workers and one reward
// worker, all separate processes, gives the same seeded metrics and the same final adapter (bytes) as
// the single-process run, even though a rollout worker is killed with kill -9 in the middle of a step
// (its item is redelivered to the other after the ack deadline); wrong credentials are refused with a
// clear message. (configs/default.json with run.max_steps 2 and no evaluation, to keep CI time down:
// evaluation runs on the coordinator in both set-ups.)
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, mainJs, writeJson } from '../helpers/cli-run.js';
import { jetstream } from '@nats-io/jetstream';
import { startNatsServer } from '../../src/transport/nats/local-server.js';
import { connectionOptions, connectNats, NAMES, redactUrl } from '../../src/transport/nats/connect.js';
import {
  decodeWire,
  encodeWire,
  protocolTable,
  RemoteProtocols,
  type RunAnnouncement,
  type WorkerRefusal,
} from '../../protocols/remote.js';
import { openRemoteRoles, type RemoteEvent, type RemoteRoleSettings } from '../../src/transport/nats/remote-roles.js';
import { WeightStore } from '../../src/runtime/weight-store.js';

interface Proc {
  p: ChildProcess;
  out: () => string;
  exit: Promise<number | null>;
  waitFor(re: RegExp, ms: number): Promise<RegExpMatchArray>;
}

function start(args: string[]): Proc {
  const p = spawn(process.execPath, [mainJs, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LORACTOR_DEBUG: '' },
  });
  let text = '';
  const waiters: (() => void)[] = [];
  const onData = (d: Buffer): void => {
    text += d;
    for (const w of waiters.splice(0)) w();
  };
  p.stdout!.on('data', onData);
  p.stderr!.on('data', onData);
  const exit = new Promise<number | null>((resolve) =>
    p.on('close', (code) => {
      for (const w of waiters.splice(0)) w();
      resolve(code);
    }),
  );
  return {
    p,
    exit,
    out: () => text,
    async waitFor(re, ms) {
      const end = Date.now() + ms;
      for (;;) {
        const m = text.match(re);
        if (m) return m;
        if (p.exitCode !== null || p.signalCode !== null || Date.now() > end)
          throw new Error(
            `no ${re} in the output of ${args.slice(0, 3).join(' ')} (${p.exitCode !== null ? `exited ${p.exitCode}` : 'timed out'}):\n${text.slice(-2000)}`,
          );
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
  };
}

const TIMING = /^(time\/|elapsed_s$|.*tokens_per_s$|.*time_to_first_token_s$|sync\/latency_s$)/;
const metricsOf = (dir: string): Record<string, unknown>[] =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) =>
      Object.fromEntries(Object.entries(JSON.parse(l) as Record<string, unknown>).filter(([k]) => !TIMING.test(k))),
    );

t.test(
  'coordinator + 2 rollout workers + 1 reward worker = the single-process run, through a kill -9 mid-step',
  async (t) => {
    const server = await startNatsServer();
    const dir = mkdtempSync(join(tmpdir(), 'loractor-nats-run-'));
    const procs: Proc[] = [];
    t.teardown(async () => {
      for (const x of procs) if (x.p.exitCode === null && x.p.signalCode === null) x.p.kill('SIGKILL');
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    });
    const c = defaultConfig();
    c.run = { ...c.run, max_steps: 2, checkpoint_every: 2 };
    c.eval = { ...c.eval, eval_steps: 0, eval_before_training: false };
    // Generous scoring deadlines (as test/helpers/cli-run.ts's smallConfig): the check is the results, and a loaded
    // CI machine must not turn a slow item into a scoring failure in one run and not the other.
    c.rewards = { ...c.rewards, reward_timeout_s: 120 };
    const cfg = writeJson(join(dir, 'config.json'), c);
    // The same config with rollout on workers (reward goes remote with --remote below); a short ack
    // deadline, so the killed worker's item is redelivered within seconds.
    const remoteCfg = writeJson(join(dir, 'remote.json'), {
      ...c,
      roles: { rollout: { transport: 'nats', ack_wait_s: 3 } },
    });

    // The single-process reference runs alongside the remote run.
    const local = start([`--actors=${cfg}`, '--out', join(dir, 'local')]);
    procs.push(local);
    const w1 = start(['worker', '--nats', server.url, '--role', 'rollout']);
    const w2 = start(['worker', '--nats', server.url, '--role', 'rollout']);
    const w3 = start(['worker', '--nats', server.url, '--role', 'reward', '--threads', '2']);
    procs.push(w1, w2, w3);
    for (const w of [w1, w2, w3]) await w.waitFor(/serving (rollout|reward) on/, 30_000);
    const remote = start([
      `--actors=${remoteCfg}`,
      '--out',
      join(dir, 'remote'),
      '--nats',
      server.url,
      '--remote',
      'reward',
    ]);
    procs.push(remote);

    // Whichever worker takes step 2's rollout item is killed while it generates.
    const taken = await Promise.race(
      [w1, w2].map((w) => w.waitFor(/took rollout item \S+ \(step 2, [^)]*delivery 1\)/, 240_000).then(() => w)),
    );
    const survivor = taken === w1 ? w2 : w1;
    taken.p.kill('SIGKILL');
    t.equal(await remote.exit, 0, `remote run completes:\n${remote.out().slice(-1500)}`);
    t.equal(await local.exit, 0, `local run completes:\n${local.out().slice(-1500)}`);
    t.match(
      survivor.out(),
      /took rollout item \S+ \(step 2, [^)]*delivery 2\)/,
      "the killed worker's item was redelivered to the other rollout worker",
    );
    t.match(
      remote.out(),
      /remote rollout: rollout item step 2 prompts 0\.\.15 redelivered \(delivery 2\)/,
      'the coordinator logs the redelivery',
    );
    t.equal(
      (remote.out().match(/remote (rollout|reward): worker \S+ on \S+ joined run/g) ?? []).length,
      3,
      'three workers joined the run (heartbeats)',
    );

    t.same(
      metricsOf(join(dir, 'remote')),
      metricsOf(join(dir, 'local')),
      "seeded metrics equal the single-process run's",
    );
    const adapter = (d: string) => readFileSync(join(dir, d, 'checkpoint-2', 'adapter_model.safetensors'));
    t.ok(adapter('remote').equals(adapter('local')), 'final adapter: the same bytes');

    for (const w of [survivor, w3]) w.p.kill('SIGTERM');
    t.same(await Promise.all([survivor.exit, w3.exit]), [0, 0], 'workers stop cleanly on SIGTERM');
  },
);

t.test('wrong credentials are refused with a clear message', async (t) => {
  const server = await startNatsServer({ user: 'loractor', pass: 'right-password' });
  t.teardown(() => server.stop());
  const wrong = server.url.replace('right-password', 'wrong-password');
  const w = start(['worker', '--nats', wrong, '--role', 'rollout']);
  t.equal(await w.exit, 1, 'the worker exits 1');
  t.match(
    w.out(),
    /NATS server nats:\/\/loractor:\*\*\*@127\.0\.0\.1:\d+ refused the credentials \(.*\): check the user\/password in the URL or --nats-creds/,
    'it says the credentials were refused, password redacted',
  );
  t.notMatch(w.out(), /wrong-password|\n\s+at /, 'no password, no stack trace');
  const ok = start(['worker', '--nats', server.url, '--role', 'reward']);
  await ok.waitFor(/serving reward on/, 30_000);

  // The same worker refuses a run whose protocol versions differ from its own, and says so to the run.
  const nc = await connectNats({ url: server.url });
  const refusal = new Promise<WorkerRefusal>((resolve) => {
    nc.subscribe(NAMES.refusalSubject('other-build'), {
      max: 1,
      callback: (_e, m) => resolve(decodeWire(RemoteProtocols.WorkerRefusal, m.data)),
    });
  });
  await nc.flush();
  const ann: RunAnnouncement = {
    run: 'other-build',
    protocols: { ...protocolTable(), GenerateRequest: 999 },
    package: '0.0.0',
    roles: ['reward'],
    adapterBucket: NAMES.adapters,
    reward: { funcs: ['format'], timeoutMs: 1000 },
  };
  await jetstream(nc).publish(NAMES.runSubject('other-build'), encodeWire(RemoteProtocols.RunAnnouncement, ann));
  const r = await refusal;
  t.match(r.reason, /^protocol versions differ: GenerateRequest v999 in the run, v\d+ here$/, `refused: ${r.reason}`);
  await ok.waitFor(/refusing run other-build: protocol versions differ/, 10_000);
  await nc.close();
  ok.p.kill('SIGTERM');
  t.equal(await ok.exit, 0, 'the right credentials are accepted');
});

t.test('NATS URLs: credentials, TLS and several servers', async (t) => {
  t.same(connectionOptions({ url: 'nats://u:p%40ss@h1:4333,nats://h2' }), {
    servers: ['h1:4333', 'h2:4222'],
    name: 'loractor',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    user: 'u',
    pass: 'p@ss',
  });
  t.same(connectionOptions({ url: 'tls://h:4222' }).tls, {}, 'tls:// turns TLS on');
  t.same(
    connectionOptions({ url: 'h', caFile: '/ca.pem' }).tls,
    { caFile: '/ca.pem' },
    '--nats-ca turns TLS on with that CA',
  );
  t.throws(() => connectionOptions({ url: 'http://h:4222' }), /scheme must be nats:\/\/ or tls:\/\//);
  t.equal(redactUrl('nats://u:secret@h:1,nats://v:x@k'), 'nats://u:***@h:1,nats://v:***@k');
});

/** A coordinator's remote roles with only reward remote (this file's tests play its workers on the wire). */
function openRewardRun(url: string, runName: string, reward: RemoteRoleSettings, heartbeatMs?: number) {
  return openRemoteRoles({
    nats: { url },
    runName,
    roles: { reward },
    packageVersion: '0.1.0',
    store: WeightStore.create(4),
    syncRetries: 1,
    reward: { funcs: ['format'], timeoutMs: 1000 },
    ...(heartbeatMs ? { heartbeatMs } : {}),
  });
}

t.test('a result that comes twice (a redelivered item finished by two workers) counts once', async (t) => {
  const server = await startNatsServer();
  t.teardown(() => server.stop());
  const remote = await openRewardRun(server.url, 'dedup', { ackWaitMs: 60_000, maxDeliver: 5 });
  const events: RemoteEvent[] = [];
  remote.events$.subscribe((e) => events.push(e));
  const answer = remote.ask<{ scores: Record<string, number> }>('reward', 'scoreItem', {
    completion: 'x',
    solution: 'y',
    funcs: ['format'],
  });
  // This test plays two workers: it takes the item from the run's queue and answers it twice.
  const nc = await connectNats({ url: server.url });
  const js = jetstream(nc);
  const consumer = await js.consumers.get(NAMES.work, NAMES.consumer(remote.run, 'reward'));
  const m = (await consumer.next({ expires: 5000 }))!;
  const item = decodeWire(RemoteProtocols.WorkItem, m.data);
  t.equal(item.kind, 'score');
  for (const [worker, score] of [
    ['first', 1],
    ['second', 0],
  ] as const) {
    await js.publish(
      NAMES.resultSubject(remote.run),
      encodeWire(RemoteProtocols.WorkResult, {
        run: remote.run,
        ask: item.ask,
        part: item.part,
        worker,
        host: 'h',
        delivery: worker === 'first' ? 1 : 2,
        ok: true,
        reply: { scores: { format: score } },
      }),
    );
  }
  m.ack();
  t.same((await answer).scores, { format: 1 }, 'the first result is the answer');
  for (let i = 0; i < 50 && !events.some((e) => e.type === 'duplicate'); i++)
    await new Promise((r) => setTimeout(r, 100));
  t.ok(
    events.some((e) => e.type === 'duplicate' && e.worker === 'second'),
    'the second is dropped as a duplicate',
  );
  await nc.close();
  await remote.close();
});

t.test(
  'the worker watch: joined and lost by heartbeats (by arrival time); max deliveries and a refusal fail the asks',
  async (t) => {
    const server = await startNatsServer();
    t.teardown(() => server.stop());
    // One delivery with a 1 s ack deadline: an item a worker takes and never acknowledges is given up fast.
    const remote = await openRewardRun(server.url, 'watch', { ackWaitMs: 1000, maxDeliver: 1 }, 100);
    const events: RemoteEvent[] = [];
    remote.events$.subscribe((e) => events.push(e));
    const until = async (what: string, ok: () => boolean): Promise<void> => {
      for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 100));
      t.ok(ok(), what);
    };
    // This test plays the workers, on the wire.
    const nc = await connectNats({ url: server.url });
    const js = jetstream(nc);
    const beat = {
      run: remote.run,
      worker: 'w1',
      host: 'h1',
      pid: 1,
      role: 'reward' as const,
      versionApplied: -1,
      queueDepth: 0,
      ackPending: 0,
      inFlight: 0,
      served: 0,
      threads: 1,
      time: Date.now(),
    };
    nc.publish(NAMES.heartbeatSubject(remote.run), encodeWire(RemoteProtocols.WorkerHeartbeat, beat));
    await until('a first heartbeat: worker joined', () => events.some((e) => e.type === 'worker-joined'));
    t.same(
      remote.workers().map((h) => h.worker),
      ['w1'],
      'its heartbeat is the worker list',
    );
    await until('silent for three periods: worker lost', () =>
      events.some((e) => e.type === 'worker-lost' && e.worker === 'w1'),
    );

    // An item taken and never acknowledged: the server's max-deliveries advisory fails the ask, naming it.
    const given = t.rejects(
      remote.ask('reward', 'scoreItem', { completion: 'x', solution: 'y', funcs: ['format'] }),
      /remote reward: reward item 0 was delivered 1 times and never acknowledged .*roles\.reward\.max_deliver 1/,
    );
    const consumer = await js.consumers.get(NAMES.work, NAMES.consumer(remote.run, 'reward'));
    t.ok(await consumer.next({ expires: 5000 }), 'the item was queued and taken');
    // A worker still pulling is what makes the server find the item out of deliveries (and say so).
    t.equal(await consumer.next({ expires: 4000 }), null, 'never delivered again');
    await given;

    // A refusal while no worker of the role is alive: the role's next ask fails with the worker's reason.
    const refusal = { run: remote.run, worker: 'w2', host: 'h2', role: 'reward', reason: 'protocol versions differ' };
    nc.publish(NAMES.refusalSubject(remote.run), encodeWire(RemoteProtocols.WorkerRefusal, refusal));
    await until('the refusal is reported', () => events.some((e) => e.type === 'worker-refused' && e.worker === 'w2'));
    await t.rejects(
      remote.ask('reward', 'scoreItem', { completion: 'x', solution: 'y', funcs: ['format'] }),
      /worker w2 on h2 refused it: protocol versions differ/,
    );
    // w1 beats again: asks wait for it. When it goes silent, the only worker left refused: they fail.
    nc.publish(
      NAMES.heartbeatSubject(remote.run),
      encodeWire(RemoteProtocols.WorkerHeartbeat, { ...beat, time: Date.now() }),
    );
    await until('w1 is back', () => remote.workers().some((h) => h.worker === 'w1' && h.time > beat.time));
    await t.rejects(
      remote.ask('reward', 'scoreItem', { completion: 'x', solution: 'y', funcs: ['format'] }),
      /no reward worker serves run .*: worker w2 on h2 refused it/,
      'an ask waiting on a worker that is then lost fails with the refusal',
    );
    // A worker whose clock is a minute behind is alive while it beats: arrival time counts, not its clock.
    const skewed = { ...beat, worker: 'w3', time: Date.now() - 60_000 };
    for (let i = 0; i < 6; i++) {
      nc.publish(NAMES.heartbeatSubject(remote.run), encodeWire(RemoteProtocols.WorkerHeartbeat, skewed));
      await new Promise((r) => setTimeout(r, 100));
    }
    t.notOk(
      events.some((e) => e.type === 'worker-lost' && e.worker === 'w3'),
      'a beating worker with a skewed clock is not lost',
    );
    await nc.close();
    await remote.close();
  },
);

// The run-folder guard and the record logs, directly (no training): the lock (live, dead, reused pid,
// other host, torn), the non-empty and --overwrite rules, folder creation on procfs, and the
// append-only logs' reading (last record of a key wins, torn lines skipped and terminated).
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCK_FILE, makeFolders, openRunFolder, RunFolderError } from '../../src/coordinator/run-folder.js';
import { readLatestRecords, readStepMetrics, recordKeys, terminateTornRecords } from '../../src/report/records.js';

const work = mkdtempSync(join(tmpdir(), 'loractor-rf-unit-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

const lock = (dir: string, over: Record<string, unknown>) =>
  writeFileSync(
    join(dir, LOCK_FILE),
    JSON.stringify({ pid: process.pid, host: hostname(), started: 'then', proc_start: null, argv: [], ...over }),
  );

t.test('a fresh folder is created and locked; a live lock refuses a second opener; release removes it', async (t) => {
  const dir = join(work, 'a', 'b', 'run');
  const f = openRunFolder(dir, { resume: false, overwrite: false });
  t.ok(f.fresh);
  const held = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'));
  t.equal(held.pid, process.pid);
  t.equal(held.host, hostname());
  t.type(held.started, 'string');
  t.throws(() => openRunFolder(dir, { resume: true, overwrite: false }), {
    name: 'RunFolderError',
    message: new RegExp(`in use by another run \\(pid ${process.pid} on host `),
  });
  f.release();
  t.notOk(existsSync(join(dir, LOCK_FILE)));
  f.release({ removeIfEmpty: true });
  t.ok(existsSync(dir), 'release is idempotent (the second call does nothing)');
});

t.test(
  "a lock whose holder is dead, or whose pid was reused, is stale and taken over; another host's is not",
  async (t) => {
    const dir = join(work, 'stale');
    mkdirSync(dir);
    lock(dir, { pid: 2 ** 22 + 12345 }); // above Linux's pid_max: never alive
    const f = openRunFolder(dir, { resume: true, overwrite: false });
    t.equal(f.staleLock?.pid, 2 ** 22 + 12345);
    t.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
    f.release();
    lock(dir, { proc_start: 1 }); // this very pid, but a process started at another time
    const g = openRunFolder(dir, { resume: true, overwrite: false });
    t.equal(g.staleLock?.proc_start, 1, 'a reused pid is told apart by its start time');
    g.release();
    lock(dir, { host: 'elsewhere', pid: 1 });
    t.throws(() => openRunFolder(dir, { resume: true, overwrite: false }), {
      message: /pid 1 on host elsewhere.*remove the lock file \.loractor\.lock/,
    });
    writeFileSync(join(dir, LOCK_FILE), '{"pid": 12'); // torn by a crash mid-write
    const h = openRunFolder(dir, { resume: true, overwrite: false });
    t.ok(h.staleLock, 'a torn lock has no provable owner');
    h.release();
    t.same(
      readdirSync(dir).filter((n) => n.includes('lock')),
      [],
      'no lock or temp files left',
    );
  },
);

t.test(
  'a non-empty folder: refused for a new run; --overwrite moves only a run folder aside; stale temps removed',
  async (t) => {
    const dir = join(work, 'used');
    mkdirSync(join(dir, 'checkpoint-4'), { recursive: true });
    mkdirSync(join(dir, '.checkpoint-5.tmp-777'));
    writeFileSync(join(dir, 'metrics.jsonl'), '{"step":1}\n{"step":2}\n');
    t.throws(() => openRunFolder(dir, { resume: false, overwrite: false }), {
      message:
        /not empty \(1 checkpoint\(s\), newest checkpoint-4, metrics\.jsonl with 2 record\(s\)\); pass --resume .* --overwrite/,
    });
    const r = openRunFolder(dir, { resume: true, overwrite: false });
    t.same(r.removedTemps, [join(dir, '.checkpoint-5.tmp-777')]);
    t.notOk(existsSync(join(dir, '.checkpoint-5.tmp-777')));
    r.release();
    const o = openRunFolder(dir, { resume: false, overwrite: true });
    t.match(o.movedAside!, /used\.old-\d{8}-\d{6}$/);
    t.ok(existsSync(join(o.movedAside!, 'metrics.jsonl')), 'the old run is intact where it was moved');
    t.same(readdirSync(dir), [LOCK_FILE], 'the folder starts empty');
    o.release();
    const notRun = join(work, 'home');
    mkdirSync(notRun);
    writeFileSync(join(notRun, 'thesis.tex'), 'x');
    t.throws(() => openRunFolder(notRun, { resume: false, overwrite: true }), {
      message: /moves aside only a loractor run folder/,
    });
    t.ok(existsSync(join(notRun, 'thesis.tex')));
  },
);

t.test('folders that cannot be made fail at once with the reason', async (t) => {
  t.throws(() => makeFolders('/proc/loractor-test/x'), RunFolderError);
  writeFileSync(join(work, 'file'), '');
  t.throws(() => makeFolders(join(work, 'file', 'x')), { message: /is a file, not a folder/ });
});

t.test('logs: the last record of a key wins, torn lines are skipped and terminated before appending', async (t) => {
  const dir = join(work, 'logs');
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'metrics.jsonl'),
    '{"step":1,"loss":1}\n{"step":2,"loss":2}\n{"step":3,"loss":3}\n{"step":2,"loss":2.5}\n{"step":3,"lo',
  );
  t.same(terminateTornRecords(dir), ['metrics.jsonl']);
  t.ok(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').endsWith('"lo\n'), 'the torn line is ended, not removed');
  t.same(terminateTornRecords(dir), [], 'idempotent');
  t.same(
    readStepMetrics(dir).map((m) => [m.step, m.loss]),
    [
      [1, 1],
      [2, 2.5],
      [3, 3],
    ],
  );
  writeFileSync(
    join(dir, 'rollouts.jsonl'),
    '{"step":1,"prompt_index":0,"sample_index":0,"r":1}\n{"step":1,"prompt_index":0,"sample_index":0,"r":2}\n',
  );
  t.same(
    readLatestRecords(join(dir, 'rollouts.jsonl'), recordKeys.rollouts).map((r) => r.r),
    [2],
  );
});

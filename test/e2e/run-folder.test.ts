// Never lose a run (issue 17, items 1, 4, 5, 8, 9), through the real CLI on the tiny model:
// a run folder is never clobbered (a new run into a non-empty folder is refused; --overwrite moves the
// old run aside; records are only appended), a refused resume writes nothing, relative paths resolve
// where a user expects, stale checkpoint temp folders are removed, and an impossible --out fails at
// once. (Items 2 and 10, the lock and interrupted runs: test/e2e/run-lock.test.ts.)
// One finished run (3 steps, checkpoints 2 and 3) is trained once and copied for the items that
// only need a finished run folder to act on.
import t from 'tap';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { cli, lines, root, smallConfig, writeJson } from '../helpers/cli-run.js';

const work = mkdtempSync(join(tmpdir(), 'loractor-runfolder-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

/** The shared run's config (3 steps, a checkpoint every 2) and its folder, trained by item 1. */
const config3 = writeJson(
  join(work, 'c1.json'),
  smallConfig((c) => {
    c.run.max_steps = 3;
    c.run.checkpoint_every = 2;
  }),
);
const finished = join(work, 'finished');
let finishedStatus: number | null | undefined;
/** A private copy of the finished run, trained on first use. */
function finishedRun(name: string): { status: number | null; out: string } {
  if (finishedStatus === undefined) {
    const r = cli([`--actors=${config3}`, '--out', finished]);
    finishedStatus = r.status;
    if (r.status !== 0) process.stderr.write(r.stderr.slice(-500));
  }
  const out = join(work, name);
  if (existsSync(finished)) cpSync(finished, out, { recursive: true });
  return { status: finishedStatus, out };
}

t.test(
  '1. a new run into a non-empty run folder is refused; --overwrite moves the old run aside; resume only appends; 8. stale checkpoint temp folders are removed',
  async (t) => {
    const config = config3;
    const { status, out } = finishedRun('run1');
    t.equal(status, 0, 'the first run completes');
    const metrics = readFileSync(join(out, 'metrics.jsonl'));
    const rollouts = readFileSync(join(out, 'rollouts.jsonl'));
    t.equal(lines(join(out, 'metrics.jsonl')).length, 3);

    const again = cli([`--actors=${config}`, '--out', out]);
    t.equal(again.status, 2, 'refused with exit code 2');
    t.match(
      again.stderr,
      /not empty \(2 checkpoint\(s\), newest checkpoint-3, metrics\.jsonl with 3 record\(s\)\).*--resume .*--overwrite/,
    );
    t.ok(readFileSync(join(out, 'metrics.jsonl')).equals(metrics), 'metrics.jsonl untouched');
    t.ok(readFileSync(join(out, 'rollouts.jsonl')).equals(rollouts), 'rollouts.jsonl untouched');

    const over = cli([`--actors=${config}`, '--out', out, '--max-steps', '1', '--overwrite']);
    t.equal(over.status, 0, over.stderr.slice(-500));
    const aside = readdirSync(work).filter((n) => n.startsWith('run1.old-'));
    t.equal(aside.length, 1, 'the old run was moved aside, not deleted');
    t.match(over.stderr, new RegExp(`moved to .*${aside[0]}`));
    t.ok(
      readFileSync(join(work, aside[0]!, 'metrics.jsonl')).equals(metrics),
      'the old records are intact in the moved folder',
    );
    t.ok(existsSync(join(work, aside[0]!, 'checkpoint-3', 'manifest.json')), 'and its checkpoints');
    t.equal(lines(join(out, 'metrics.jsonl')).length, 1, 'the new run starts afresh');

    // Records are only appended: a run whose newest checkpoint was lost redoes its last step and appends.
    // Item 8 rides on the same resume: a stale checkpoint temp folder (a checkpoint write interrupted
    // by a crash) is removed when the run folder is opened.
    const out2 = finishedRun('run1b').out;
    rmSync(join(out2, 'checkpoint-3'), { recursive: true });
    const stale = join(out2, '.checkpoint-7.tmp-99999');
    mkdirSync(stale);
    writeFileSync(join(stale, 'adapter_model.safetensors'), Buffer.alloc(4096));
    const before = readFileSync(join(out2, 'metrics.jsonl'));
    const resumed = cli([`--actors=${config}`, '--resume', out2]);
    t.equal(resumed.status, 0, resumed.stderr.slice(-500));
    t.notOk(existsSync(stale), '8. the stale checkpoint temp folder is removed');
    t.match(resumed.stderr, /removed the stale checkpoint temp folder .*\.checkpoint-7\.tmp-99999/, '8. and named');
    const after = readFileSync(join(out2, 'metrics.jsonl'));
    t.ok(after.subarray(0, before.length).equals(before), 'the earlier records are kept byte for byte');
    t.same(
      lines(join(out2, 'metrics.jsonl')).map((l) => JSON.parse(l).step),
      [1, 2, 3, 3],
      'step 3 redone and appended',
    );
  },
);

t.test("4. a refused resume writes nothing: config.resolved.json keeps the run's config", async (t) => {
  const config = config3;
  const { status, out } = finishedRun('run4');
  t.equal(status, 0);
  const resolved = readFileSync(join(out, 'config.resolved.json'));
  const other = cli([`--actors=${config}`, '--resume', out, '--max-steps', '4', '--seed', '7']);
  t.not(other.status, 0, 'resume under another seed is refused');
  t.match(other.stderr, /different config/);
  t.ok(readFileSync(join(out, 'config.resolved.json')).equals(resolved), 'config.resolved.json unchanged');
});

t.test(
  '5. --out resolves against the current directory, run.out_dir against the config file\'s folder; --out "" is refused',
  async (t) => {
    const cwd = join(work, 'cwd5');
    const cfgDir = join(work, 'cfgdir5');
    mkdirSync(cwd);
    mkdirSync(cfgDir);
    const name = `rel-out-${process.pid}`;
    const config = writeJson(
      join(cfgDir, 'c.json'),
      smallConfig((c) => {
        c.run.max_steps = 1;
        c.run.out_dir = 'from-config';
      }),
    );
    t.teardown(() => rmSync(join(root, name), { recursive: true, force: true }));
    const r = cli([`--actors=${config}`, '--out', name], { cwd });
    t.equal(r.status, 0, r.stderr.slice(-500));
    t.ok(existsSync(join(cwd, name, 'metrics.jsonl')), 'the run is in <cwd>/<--out>');
    t.notOk(existsSync(join(root, name)), 'not in the package root');
    const byConfig = cli([`--actors=${basename(config)}`], { cwd: cfgDir });
    t.equal(byConfig.status, 0, byConfig.stderr.slice(-500));
    t.ok(
      existsSync(join(cfgDir, 'from-config', 'metrics.jsonl')),
      "run.out_dir is taken from the config file's folder",
    );
    const empty = cli([`--actors=${config}`, '--out', ''], { cwd });
    t.equal(empty.status, 2);
    t.match(empty.stderr, /--out: empty path/);
  },
);

t.test('9. an --out that cannot hold a folder fails at once, naming it', async (t) => {
  const config = writeJson(join(work, 'c9.json'), smallConfig());
  const r = cli([`--actors=${config}`, '--out', '/proc/loractor-x/run'], { timeoutMs: 60_000 });
  t.equal(r.signal, null, 'did not hang');
  t.equal(r.status, 2);
  t.match(r.stderr, /--out \/proc\/loractor-x\/run: cannot create folder \/proc\/loractor-x/);
  const file = join(work, 'a-file');
  writeFileSync(file, 'x');
  const under = cli([`--actors=${config}`, '--out', join(file, 'run')], { timeoutMs: 60_000 });
  t.equal(under.status, 2);
  t.match(under.stderr, /a-file is a file, not a folder/);
});

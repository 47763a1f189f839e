// One run at a time, and runs that stop say so (issue 17, items 2 and 10), through the real CLI on the
// tiny model: a second run on a held run folder is refused naming the holder, a dead holder's lock is
// taken over, and a run stopped by SIGINT / SIGTERM checkpoints, prints how to continue and exits
// 130 / 143 instead of 0 with "done".
import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, cliBackground, smallConfig, waitFor, writeJson } from '../helpers/cli-run.js';

const work = mkdtempSync(join(tmpdir(), 'loractor-runlock-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

/** Stop a background run with `signal` once it has checkpointed; it must exit `code`, naming a checkpointed step and how to continue. */
async function interrupt(
  t: Test,
  bg: ReturnType<typeof cliBackground>,
  out: string,
  signal: NodeJS.Signals,
  code: number,
  ready: () => boolean,
): Promise<void> {
  await waitFor(ready, 240_000, 'a checkpoint');
  bg.child.kill(signal);
  const { code: status } = await bg.exit;
  t.equal(status, code, `${signal}: exit code ${code}`);
  const m = /interrupted at step (\d+) by \w+; --resume (\S+) continues/.exec(bg.stderr());
  t.ok(m, `${signal}: says where it stopped and how to continue: ${bg.stderr().slice(-300)}`);
  t.notMatch(bg.stderr(), /\bdone in\b/, `${signal}: does not claim to be done`);
  if (m) {
    t.ok(existsSync(join(out, `checkpoint-${m[1]}`, 'manifest.json')), `${signal}: the step it names is checkpointed`);
    t.equal(m[2], out);
  }
}

const newestCheckpoint = (out: string): number =>
  Math.max(
    0,
    ...readdirSync(out)
      .filter((n) => /^checkpoint-\d+$/.test(n))
      .map((n) => Number(n.slice(11))),
  );

// Item 10 for SIGINT runs on the run that took over the lock (one run fewer to start).
t.test(
  "2. one run at a time holds a run folder; a dead holder's lock is taken over; 10. a run stopped by SIGINT checkpoints, says how to continue and exits 130",
  async (t) => {
    const config = writeJson(
      join(work, 'c2.json'),
      smallConfig((c) => {
        c.run.max_steps = 500;
      }),
    );
    const out = join(work, 'run2');
    const bg = cliBackground([`--actors=${config}`, '--out', out]);
    await waitFor(() => existsSync(join(out, 'checkpoint-1', 'manifest.json')), 240_000, 'the first checkpoint');
    const second = cli([`--actors=${config}`, '--resume', out, '--max-steps', '3']);
    t.equal(second.status, 2, 'a second run on the same folder is refused');
    t.match(second.stderr, new RegExp(`in use by another run \\(pid ${bg.child.pid} on host `));
    bg.child.kill('SIGKILL');
    await bg.exit;
    const ckpt = newestCheckpoint(out);
    const resumed = cliBackground([`--actors=${config}`, '--resume', out]);
    await interrupt(
      t,
      resumed,
      out,
      'SIGINT',
      130,
      () =>
        /took over the lock/.test(resumed.stderr()) && existsSync(join(out, `checkpoint-${ckpt + 1}`, 'manifest.json')),
    );
    t.match(resumed.stderr(), new RegExp(`took over the lock of pid ${bg.child.pid} .*no longer running`));
    t.notOk(
      readdirSync(out).some((n) => n.includes('lock')),
      'the lock is released at the end',
    );
  },
);

t.test('10. a run stopped by SIGTERM checkpoints, says how to continue and exits 143', async (t) => {
  const config = writeJson(
    join(work, 'c10-SIGTERM.json'),
    smallConfig((c) => {
      c.run.max_steps = 500;
    }),
  );
  const out = join(work, 'run10-SIGTERM');
  const bg = cliBackground([`--actors=${config}`, '--out', out]);
  await interrupt(t, bg, out, 'SIGTERM', 143, () => existsSync(join(out, 'checkpoint-1', 'manifest.json')));
});

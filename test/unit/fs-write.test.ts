// buildFolderOnce: a folder built at most once, renamed into place whole, with the loser of a race
// between two builders discarding its copy (the WebLLM fixtures share one cache across test files).
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFolderOnce } from '../../src/util/fs-write.js';

const work = mkdtempSync(join(tmpdir(), 'loractor-fs-write-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

const fill = (dir: string, text: string): void => {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'a.txt'), text);
};

t.test('builds an absent folder, then leaves it as it is', async (t) => {
  const dir = join(work, 'once');
  let builds = 0;
  const build = (tmp: string): void => {
    builds++;
    t.not(tmp, dir, 'the build writes a temp folder, not the target');
    fill(tmp, `build ${builds}`);
  };
  t.equal(buildFolderOnce(dir, build), dir);
  t.equal(buildFolderOnce(dir, build), dir);
  t.equal(builds, 1, 'the second call finds the folder and builds nothing');
  t.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), 'build 1');
  t.same(
    readdirSync(work).filter((n) => n.startsWith('once')),
    ['once'],
    'no temp folder is left',
  );
});

t.test('a failed build leaves neither the folder nor its temp folder', async (t) => {
  const dir = join(work, 'failed');
  t.throws(
    () =>
      buildFolderOnce(dir, (tmp) => {
        fill(tmp, 'half');
        throw new Error('disk full');
      }),
    /disk full/,
  );
  t.notOk(existsSync(dir));
  t.same(
    readdirSync(work).filter((n) => n.startsWith('failed')),
    [],
  );
});

t.test('when another builder renames its copy in first, that copy is kept and this one discarded', async (t) => {
  const dir = join(work, 'raced');
  const got = buildFolderOnce(dir, (tmp) => {
    fill(tmp, 'mine');
    fill(dir, 'theirs'); // the other process finishes while this one is still building
  });
  t.equal(got, dir);
  t.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), 'theirs');
  t.same(
    readdirSync(work).filter((n) => n.startsWith('raced')),
    ['raced'],
    'no temp folder is left',
  );
});

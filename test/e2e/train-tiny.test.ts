// tools/train-tiny is reproducible: re-running its first steps gives the losses its card's run logged
// (models/tiny/training-log.json), within 2 %.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';

const root = repoRoot();
const log = join(root, 'models/tiny/training-log.json');

t.test("first 15 steps reproduce the shipped run's loss log", async (t) => {
  t.ok(existsSync(log), `${log} is shipped`);
  const r = spawnSync(
    process.execPath,
    [join(root, 'dist/tools/train-tiny.js'), '--verify', 'models/tiny', '--steps', '15', '--log-every', '100'],
    { cwd: root, encoding: 'utf8', timeout: 300_000 },
  );
  t.equal(r.status, 0, `exit 0 (stderr tail: ${r.stderr.slice(-500)})`);
  const result = JSON.parse(r.stdout.trim().split('\n').pop()!);
  t.ok(result.ok, `worst relative loss difference ${result.worstRelativeLossDiff} ≤ 0.02`);
  t.equal(result.steps, 15);
});

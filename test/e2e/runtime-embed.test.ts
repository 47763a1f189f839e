// The embedding example runs end to end: actors spawned from examples/actors, ask/tell, a weight
// version published, applied by an actor and acknowledged.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';

t.test('examples/embed runs', async (t) => {
  const r = spawnSync(process.execPath, [join(repoRoot(), 'dist', 'examples', 'embed.js')], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /rewards 1,0,0/);
  t.match(r.stdout, /published v1; policy applied v1 \(checksum ok true, sum 512\); all acked true/);
  t.match(r.stdout, /messages settled 4/);
});

// TensorBoard event files read back by the independent reader (test/fixtures/read_tfevents.py,
// standard-library Python written from event.proto), for the tests that check what the writer wrote.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';

const READER = join(repoRoot(), 'test', 'fixtures', 'read_tfevents.py');

/** Every event of a TensorBoard event file, one object per event. */
export function readEvents(file: string): Record<string, unknown>[] {
  const r = spawnSync('python3', [READER, file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`read_tfevents.py failed: ${r.stderr}`);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

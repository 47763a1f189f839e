// Where things are on disk, independent of whether code runs from src (ts) or dist (js).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository (package) root: the nearest folder above this file holding package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('loractor: cannot locate package root from ' + fileURLToPath(import.meta.url));
}

/** Folder of the project's shared data (benchmarks, references): $LORACTOR_SHARED or ../shared. */
export function sharedDir(): string {
  return process.env.LORACTOR_SHARED ? resolve(process.env.LORACTOR_SHARED) : resolve(repoRoot(), '..', 'shared');
}

/** Folder holding the evaluation benchmark JSONL files used by tests and benchmarks. */
export function benchmarksDir(): string {
  return join(sharedDir(), 'benchmarks');
}

// Where things are on disk, independent of whether code runs from src (ts) or dist (js).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

/**
 * Folder of the evaluation sets shipped with the package (benchmarks/, MIT-licensed, sources in
 * benchmarks/SOURCES.md). Nothing outside the package is read unless a user names it
 * (eval.benchmarks_dir, --benchmarks-dir, --gpqa-path).
 */
export function benchmarksDir(): string {
  return join(repoRoot(), 'benchmarks');
}

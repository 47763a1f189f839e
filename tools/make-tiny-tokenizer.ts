// Writes models/tiny/tokenizer.json and models/tiny/tokenizer_config.json from the definition in
// src/data/tasks/tiny-tokenizer.ts. Run after a build: node dist/tools/make-tiny-tokenizer.js [OUT_DIR]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repoRoot } from '../src/util/paths.js';
import { tinyTokenizerConfig, tinyTokenizerJson } from '../src/data/tasks/tiny-tokenizer.js';

/** Serialises the tokenizer files into dir; returns the paths written. */
export function writeTinyTokenizer(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const files: [string, unknown][] = [['tokenizer.json', tinyTokenizerJson()], ['tokenizer_config.json', tinyTokenizerConfig()]];
  return files.map(([name, obj]) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(obj, null, 2) + '\n');
    return path;
  });
}

// Run as a script (not when imported by a test).
if (process.argv[1] && resolve(process.argv[1]).endsWith(join('tools', 'make-tiny-tokenizer.js'))) {
  const out = process.argv[2] ? resolve(process.argv[2]) : join(repoRoot(), 'models', 'tiny');
  for (const p of writeTinyTokenizer(out)) console.log('wrote', p);
}

// Writes models/tiny/tokenizer.json and models/tiny/tokenizer_config.json from the definition in
// src/data/tasks/tiny-tokenizer.ts. Run after a build: node dist/tools/make-tiny-tokenizer.js [OUT_DIR]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repoRoot } from '../src/util/paths.js';
import { tinyTokenizerConfig, tinyTokenizerJson } from '../src/data/tasks/tiny-tokenizer.js';
import { isMainScript, scriptOptions } from '../src/cli/standard-flags.js';

const USAGE = `usage: node dist/tools/make-tiny-tokenizer.js [OUT_DIR]

Writes tokenizer.json and tokenizer_config.json of the tiny model (defined in
src/data/tasks/tiny-tokenizer.ts) into OUT_DIR (default models/tiny).`;

/** Serialises the tokenizer files into dir; returns the paths written. */
export function writeTinyTokenizer(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const files: [string, unknown][] = [
    ['tokenizer.json', tinyTokenizerJson()],
    ['tokenizer_config.json', tinyTokenizerConfig()],
  ];
  return files.map(([name, obj]) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(obj, null, 2) + '\n');
    return path;
  });
}

// Run as a script (not when imported by a test).
if (isMainScript(import.meta.url)) {
  const { positionals } = scriptOptions({
    name: 'make-tiny-tokenizer',
    help: USAGE,
    options: {},
    allowPositionals: true,
  });
  const out = positionals[0] ? resolve(positionals[0]) : join(repoRoot(), 'models', 'tiny');
  for (const p of writeTinyTokenizer(out)) console.log('wrote', p);
}

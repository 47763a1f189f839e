// npm run schema: write configs/loractor.schema.json (JSON Schema of the run config) from the zod
// root schema, so editors validate and complete config files ("$schema": "./loractor.schema.json").
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { rootConfigSchema } from '../src/config/schema.js';
import { repoRoot } from '../src/util/paths.js';
import { isMainScript, scriptOptions } from '../src/cli/standard-flags.js';

const USAGE = `usage: node dist/tools/schema.js [--out FILE] [--check]   (npm run schema)

Writes the JSON Schema of the run config, generated from the zod schemas, to configs/loractor.schema.json
(or --out FILE). --check writes nothing: exit 1 when the file differs from the zod source.`;

/** The JSON Schema text of the run config, exactly as configs/loractor.schema.json must hold it. */
export function configSchemaText(): string {
  const schema = z.toJSONSchema(rootConfigSchema, { io: 'input', unrepresentable: 'any' });
  return JSON.stringify({ title: 'loractor run config', ...schema }, null, 2) + '\n';
}

if (isMainScript(import.meta.url)) {
  const { values } = scriptOptions({
    name: 'schema',
    help: USAGE,
    options: { out: { type: 'string' }, check: { type: 'boolean', default: false } },
  });
  const out = resolve(values.out ?? join(repoRoot(), 'configs', 'loractor.schema.json'));
  const text = configSchemaText();
  if (values.check) {
    const same = existsSync(out) && readFileSync(out, 'utf8') === text;
    console.log(same ? `${out} matches the zod schemas` : `${out} is stale: run npm run schema`);
    process.exitCode = same ? 0 : 1;
  } else {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, text);
    console.log(`wrote ${out}`);
  }
}

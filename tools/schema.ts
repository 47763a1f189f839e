// npm run schema: write configs/loractor.schema.json (JSON Schema of the run config) from the zod
// root schema, so editors validate and complete config files ("$schema": "./loractor.schema.json").
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { rootConfigSchema } from '../src/config/schema.js';
import { repoRoot } from '../src/util/paths.js';

const schema = z.toJSONSchema(rootConfigSchema, { io: 'input', unrepresentable: 'any' });
const out = join(repoRoot(), 'configs', 'loractor.schema.json');
mkdirSync(join(repoRoot(), 'configs'), { recursive: true });
writeFileSync(out, JSON.stringify({ title: 'loractor run config', ...schema }, null, 2) + '\n');
console.log(`wrote ${out}`);

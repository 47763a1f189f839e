// Reading and validating a config file. Every failure is one line naming the file and the JSON
// path of the bad field (or line/column of a JSON syntax error), so a CLI can print it as is.
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { rootConfigSchema, type LoractorConfig } from './schema.js';
import { grpoKeyRefusal } from '../rl/trl-knobs.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    message: string,
    readonly file: string,
    /** Dotted JSON path of the bad field ('' for file-level problems). */
    readonly path: string,
  ) {
    super(message);
  }
}

/** Read `file`, parse JSON, validate against the root schema (or `schema`), fill defaults. Throws ConfigError. */
export function loadConfig(file: string): LoractorConfig;
export function loadConfig<S extends z.ZodType>(file: string, schema: S): z.infer<S>;
export function loadConfig(file: string, schema: z.ZodType = rootConfigSchema): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'it is a directory, not a JSON file'
          : code === 'EACCES'
            ? 'permission denied'
            : (code ?? String(err));
    throw new ConfigError(`config ${file}: cannot read file (${why})`, file, '');
  }
  // A UTF-8 byte-order mark (some Windows editors write one) is invisible in error messages, so it is
  // dropped rather than reported as an "unexpected token" at column 1.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') throw new ConfigError(`config ${file}: the file is empty (expected a JSON object)`, file, '');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config ${file}: invalid JSON ${jsonErrorLocation(text, err as Error)}`, file, '');
  }
  return validateConfig(json, file, schema);
}

/** Validate an already-parsed config object; `source` names it in errors. */
export function validateConfig(json: unknown, source = '(inline)', schema: z.ZodType = rootConfigSchema): unknown {
  const r = schema.safeParse(json);
  if (r.success) return r.data;
  const iss = r.error.issues[0]!;
  let path = iss.path.map(String).join('.');
  let what = iss.message;
  if (iss.code === 'unrecognized_keys') {
    const keys = (iss as { keys: string[] }).keys;
    path = [path, keys[0]].filter(Boolean).join('.');
    what = `unknown key${keys.length > 1 ? 's ' + keys.map((k) => `'${k}'`).join(', ') : ''} (not allowed here)`;
    // A TRL GRPOConfig knob in the grpo section: say what loractor does with it (src/rl/trl-knobs.ts).
    const refusal = iss.path.length === 1 && iss.path[0] === 'grpo' ? grpoKeyRefusal(keys[0]!) : null;
    if (refusal) what = refusal;
  }
  throw new ConfigError(`config ${source}: ${path || '(root)'}: ${what}`, source, path);
}

/** "at line L column C: <reason>" from a JSON.parse error (Node reports a character position). */
function jsonErrorLocation(text: string, err: Error): string {
  const m = /position (\d+)/.exec(err.message);
  const reason = err.message.replace(/\s*in JSON at position \d+.*$/, '').replace(/ \(line \d+ column \d+\)$/, '');
  if (!m) return `(${err.message})`;
  const pos = Number(m[1]);
  let line = 1;
  let col = 1;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      col = 1;
    } else col++;
  }
  return `at line ${line} column ${col}: ${reason}`;
}

// JSON Lines reader: one JSON object per line, streamed. A malformed line is reported with its
// 1-based line number and skipped, or (strict) fails the read naming file and line.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

export type Row = Record<string, unknown>;

export interface RowError {
  file: string;
  line: number;
  message: string;
}

export interface ReadJsonlOptions {
  /** Throw on the first malformed line instead of skipping it. Default false. */
  strict?: boolean;
  /** Called for each skipped line (default: collected only). */
  onError?: (e: RowError) => void;
}

export interface ReadResult {
  rows: Row[];
  errors: RowError[];
}

export async function readJsonl(file: string, opts: ReadJsonlOptions = {}): Promise<ReadResult> {
  const rows: Row[] = [];
  const errors: RowError[] = [];
  const rl = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const raw of rl) {
      line++;
      const text = line === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw; // tolerate a UTF-8 BOM
      if (text.trim() === '') continue;
      let value: unknown;
      let problem: string | null = null;
      try {
        value = JSON.parse(text);
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
          problem = `expected a JSON object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`;
        }
      } catch (err) {
        problem = `invalid JSON: ${(err as Error).message}`;
      }
      if (problem !== null) {
        const e: RowError = { file, line, message: problem };
        if (opts.strict) throw new Error(`${file}:${line}: ${problem}`);
        errors.push(e);
        opts.onError?.(e);
        continue;
      }
      rows.push(value as Row);
    }
  } finally {
    rl.close();
  }
  return { rows, errors };
}

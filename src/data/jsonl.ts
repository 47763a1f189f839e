// JSON Lines reader: one JSON object per line, streamed. A malformed line (not JSON, not an object,
// invalid UTF-8, a string with a lone UTF-16 surrogate) is reported with its 1-based line number and
// skipped, or (strict) fails the read naming file and line. A file that cannot be read at all is an
// error naming the file. Lines are split on raw bytes and decoded strictly, so invalid UTF-8 is
// caught instead of silently becoming U+FFFD (Python's datasets fails on such bytes too).
import { createReadStream } from 'node:fs';
import { setRowOrigin } from './provenance.js';
import type { Row } from './row.js';

export type { Row };

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

/** Raw lines (without the newline) of a file, as byte buffers. */
async function* byteLines(file: string): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  const stream = createReadStream(file);
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a, start); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      yield pending.length ? Buffer.concat([...pending, piece]) : piece;
      pending = [];
      start = nl + 1;
    }
    if (start < chunk.length) pending.push(chunk.subarray(start));
  }
  if (pending.length) yield Buffer.concat(pending);
}

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const wellFormed = (s: string): boolean => !LONE_SURROGATE.test(s);

const MAX_DEPTH = 512;

/** What is wrong with a parsed row's strings: a lone surrogate (with its path, like `.problem`), or nesting past MAX_DEPTH. */
function textProblem(v: unknown, path = '', depth = 0): string | null {
  if (typeof v === 'string')
    return wellFormed(v) ? null : `field ${path || '(value)'} holds a lone UTF-16 surrogate (not valid Unicode text)`;
  if (v === null || typeof v !== 'object') return null;
  if (depth > MAX_DEPTH) return `nested deeper than ${MAX_DEPTH} levels`;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = textProblem(v[i], `${path}[${i}]`, depth + 1);
      if (p) return p;
    }
  } else {
    for (const [k, x] of Object.entries(v)) {
      if (!wellFormed(k)) return `a key in ${path || 'the row'} holds a lone UTF-16 surrogate (not valid Unicode text)`;
      const p = textProblem(x, `${path}.${k}`, depth + 1);
      if (p) return p;
    }
  }
  return null;
}

const MAX_SHOWN = 120;

export async function readJsonl(file: string, opts: ReadJsonlOptions = {}): Promise<ReadResult> {
  const rows: Row[] = [];
  const errors: RowError[] = [];
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let line = 0;
  try {
    for await (const bytes of byteLines(file)) {
      line++;
      let problem: string | null = null;
      let value: unknown;
      let text = '';
      try {
        text = decoder.decode(bytes);
      } catch {
        problem = 'invalid UTF-8 bytes (the file must be UTF-8 encoded)';
      }
      if (problem === null) {
        if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1); // tolerate a UTF-8 BOM
        if (text.endsWith('\r')) text = text.slice(0, -1);
        if (text.trim() === '') continue;
        try {
          value = JSON.parse(text);
          if (value === null || typeof value !== 'object' || Array.isArray(value)) {
            problem = `expected a JSON object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`;
          } else {
            problem = textProblem(value);
          }
        } catch (err) {
          const msg = (err as Error).message;
          problem = `invalid JSON: ${msg.length > MAX_SHOWN ? msg.slice(0, MAX_SHOWN) + '…' : msg}`;
        }
      }
      if (problem !== null) {
        const e: RowError = { file, line, message: problem };
        if (opts.strict) throw new Error(`${file}:${line}: ${problem}`);
        errors.push(e);
        opts.onError?.(e);
        continue;
      }
      setRowOrigin(value as Row, `${file}:${line}`);
      rows.push(value as Row);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code)
      throw new Error(
        `${file}: cannot read JSONL file (${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code})`,
      );
    throw err;
  }
  return { rows, errors };
}

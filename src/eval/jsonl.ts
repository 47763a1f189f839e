// JSONL reading for benchmark files: every malformed line is reported with its 1-based line
// number; it is skipped, or (strict) the whole load fails on the first one.
import { existsSync } from 'node:fs';
import { INVALID_UTF8, readUtf8Lines } from '../util/utf8.js';

export interface JsonlRow {
  /** 1-based line number in the file. */
  line: number;
  value: Record<string, unknown>;
}

export interface JsonlIssue {
  file: string;
  line: number;
  message: string;
}

export function readJsonl(path: string, opts: { strict?: boolean } = {}): { rows: JsonlRow[]; issues: JsonlIssue[] } {
  if (!existsSync(path)) throw new Error(`benchmark file not found: ${path}`);
  const rows: JsonlRow[] = [];
  const issues: JsonlIssue[] = [];
  const lines = readUtf8Lines(path);
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!.text;
    const raw = text === null ? null : text.trim();
    if (raw === '') continue; // blank lines (and the final newline) are not rows
    let message: string | null = null;
    let value: unknown;
    if (raw === null) message = INVALID_UTF8;
    else
      try {
        value = JSON.parse(raw);
        if (value === null || typeof value !== 'object' || Array.isArray(value)) message = 'not a JSON object';
      } catch (err) {
        message = `invalid JSON (${(err as Error).message})`;
      }
    if (message !== null) {
      const issue = { file: path, line: i + 1, message };
      if (opts.strict) throw new Error(`${path}:${issue.line}: ${message}`);
      issues.push(issue);
      continue;
    }
    rows.push({ line: i + 1, value: value as Record<string, unknown> });
  }
  return { rows, issues };
}

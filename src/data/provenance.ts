// Where a dataset row came from ("file:line" for JSONL, "file row N" for Parquet / JSON arrays), kept
// beside the row (a WeakMap, so rows stay plain objects and nothing leaks into their keys) for error
// messages of later stages such as Tina's column mapping.
import type { Row } from './row.js';

const origins = new WeakMap<object, string>();

export function setRowOrigin(row: Row, origin: string): void {
  origins.set(row, origin);
}

/** "file:line" / "file row N" of a row a reader produced, or undefined for rows made elsewhere. */
export function rowOrigin(row: Row): string | undefined {
  return origins.get(row);
}

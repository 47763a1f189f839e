// metrics.csv: the metrics records as one table for spreadsheets and plotting tools. Columns are the
// union of the records' keys in order of first appearance (taken from the records, so renamed or new
// metrics need no change here); a record without a column leaves its cell empty. The file is
// rewritten whole (atomically) after each step: a metric that first appears late still gets a column.
import { renameSync, writeFileSync } from 'node:fs';

function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'number' ? String(v) : typeof v === 'string' ? v : JSON.stringify(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** RFC 4180 CSV text of the records (header line first, CRLF-free). */
export function metricsCsv(records: readonly Record<string, unknown>[]): string {
  const cols: string[] = [];
  const seen = new Set<string>();
  for (const r of records)
    for (const k of Object.keys(r))
      if (!seen.has(k)) {
        seen.add(k);
        cols.push(k);
      }
  const lines = [cols.map(cell).join(','), ...records.map((r) => cols.map((c) => cell(r[c])).join(','))];
  return lines.join('\n') + '\n';
}

export function writeMetricsCsv(file: string, records: readonly Record<string, unknown>[]): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, metricsCsv(records));
  renameSync(tmp, file);
}

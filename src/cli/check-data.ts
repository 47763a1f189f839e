// `check` for a dataset source (split from check.ts, which runs every section in order): the files
// exist and have the columns Tina's mapping needs, read from a sample (a Parquet footer, the first
// JSONL line, or the JSON array) rather than the whole file; the row count sizes max_steps -1.
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { parquetMetadata, parquetSchema } from 'hyparquet';
import type { DataSection } from '../coordinator/config.js';
import { datasetFiles } from '../data/hf-dataset.js';
import { mapTinaRow } from '../data/tina-columns.js';
import { resolvePath, type CheckReport } from './check-report.js';

/** Column names of a data file without reading it all (Parquet footer, first JSONL line, or the JSON array). */
function sampleColumns(file: string): { columns: string[]; row?: Record<string, unknown>; rows?: number } {
  if (/\.parquet$/i.test(file)) {
    const fd = openSync(file, 'r');
    try {
      const size = fstatSync(fd).size;
      const tail = Buffer.alloc(8);
      if (size < 12) throw new Error(`${file}: not a Parquet file (${size} bytes)`);
      readSync(fd, tail, 0, 8, size - 8);
      const metaLen = tail.readUInt32LE(0);
      if (tail.toString('latin1', 4) !== 'PAR1' || metaLen + 8 > size)
        throw new Error(`${file}: not a Parquet file (bad footer)`);
      const buf = Buffer.alloc(metaLen + 8);
      readSync(fd, buf, 0, metaLen + 8, size - metaLen - 8);
      const meta = parquetMetadata(new Uint8Array(buf));
      return { columns: parquetSchema(meta).children.map((c) => c.element.name), rows: Number(meta.num_rows) };
    } finally {
      closeSync(fd);
    }
  }
  const text = readFileSync(file, 'utf8');
  if (/\.json$/i.test(file) && text.trimStart().startsWith('[')) {
    const arr = JSON.parse(text) as Record<string, unknown>[];
    return { columns: Object.keys(arr[0] ?? {}), row: arr[0], rows: arr.length };
  }
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (!lines.length) throw new Error(`${file}: no rows`);
  let row: Record<string, unknown>;
  try {
    row = JSON.parse(lines[0]!) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${file}:1: invalid JSON (${(err as Error).message})`);
  }
  return { columns: Object.keys(row), row, rows: lines.length };
}

export async function checkDataset(
  data: Extract<DataSection, { source: 'dataset' }>,
  configFile: string,
  rep: CheckReport,
): Promise<number | undefined> {
  const path = resolvePath(data.path, configFile);
  const id = data.dataset_id ?? data.path;
  let files: string[];
  try {
    files = datasetFiles(path);
  } catch (err) {
    rep.problems.push(
      `data.path: ${(err as Error).message} (expected a local copy of the Hugging Face dataset ${id}: a .jsonl/.parquet file, or its folder with e.g. data/train-00000-of-00001.parquet)`,
    );
    return undefined;
  }
  let rows = 0;
  for (const f of files) {
    try {
      const s = sampleColumns(f);
      rows += s.rows ?? 0;
      // Tina's mapping on a sample row names what is missing; for Parquet (no row read) a stand-in
      // row with the file's column names and string values.
      mapTinaRow(s.row ?? Object.fromEntries(s.columns.map((c) => [c, 'x'])), id, 0, {
        mapping: data.column_mapping,
        promptColumn: data.prompt_column,
      });
    } catch (err) {
      rep.problems.push(`data: ${f}: ${(err as Error).message}`);
      return undefined;
    }
  }
  rep.passed.push(`data: ${files.length} file(s), ${rows} rows, Tina columns present (${id})`);
  return rows;
}

// Parquet reader over hyparquet (pure JS) with hyparquet-compressors, so files written with any
// standard codec (snappy — the HF default — gzip, zstd, brotli, lz4) load without native code.
import { readFile } from 'node:fs/promises';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import type { Row } from './jsonl.js';

/** INT64 columns decode as bigint; datasets use them for small ids/levels, so narrow when exact. */
function normalizeValue(v: unknown): unknown {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  if (Array.isArray(v)) return v.map(normalizeValue);
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array) && !(v instanceof Date)) {
    const out: Row = {};
    for (const [k, x] of Object.entries(v as Row)) out[k] = normalizeValue(x);
    return out;
  }
  return v;
}

export async function readParquet(file: string, opts: { columns?: string[] } = {}): Promise<Row[]> {
  const buf = await readFile(file);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  let rows: Row[];
  try {
    rows = (await parquetReadObjects({ file: ab, compressors, ...(opts.columns ? { columns: opts.columns } : {}) })) as Row[];
  } catch (err) {
    throw new Error(`${file}: cannot read Parquet: ${(err as Error).message}`);
  }
  return rows.map((r) => normalizeValue(r) as Row);
}

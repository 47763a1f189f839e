// Parquet reader over hyparquet (pure JS) with hyparquet-compressors, so files written with any
// standard codec (snappy — the HF default — gzip, zstd, brotli, lz4) load without native code.
// A file that is not Parquet (no PAR1 magic at both ends, truncated, corrupt footer) is one error
// naming the file.
import { readFile } from 'node:fs/promises';
import type { Row } from './jsonl.js';
import { setRowOrigin } from './provenance.js';

/** INT64 columns decode as bigint; datasets use them for small ids/levels, so narrow when exact. */
function normalizeValue(v: unknown): unknown {
  if (typeof v === 'bigint')
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  if (Array.isArray(v)) return v.map(normalizeValue);
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array) && !(v instanceof Date)) {
    const out: Row = {};
    for (const [k, x] of Object.entries(v as Row)) out[k] = normalizeValue(x);
    return out;
  }
  return v;
}

const MAGIC = 'PAR1';

export async function readParquet(file: string, opts: { columns?: string[] } = {}): Promise<Row[]> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      `${file}: cannot read Parquet file (${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (code ?? (err as Error).message)})`,
    );
  }
  // Parquet = "PAR1" data… footer, u32 footer length, "PAR1". Checked here so a truncated or foreign
  // file gets a plain message rather than a DataView bounds error from inside the decoder.
  if (buf.length < 12 || buf.toString('latin1', 0, 4) !== MAGIC || buf.toString('latin1', buf.length - 4) !== MAGIC) {
    throw new Error(
      `${file}: cannot read Parquet: not a Parquet file or truncated (${buf.length} bytes; expected the "PAR1" magic at its start and end)`,
    );
  }
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  let rows: Row[];
  // Loaded on first use: most runs read JSONL or generated tasks, and importing loractor stays cheap.
  const [{ parquetReadObjects }, { compressors }] = await Promise.all([
    import('hyparquet'),
    import('hyparquet-compressors'),
  ]);
  try {
    rows = (await parquetReadObjects({
      file: ab,
      compressors,
      ...(opts.columns ? { columns: opts.columns } : {}),
    })) as Row[];
  } catch (err) {
    throw new Error(`${file}: cannot read Parquet (corrupt file?): ${(err as Error).message}`);
  }
  return rows.map((r, i) => {
    const row = normalizeValue(r) as Row;
    setRowOrigin(row, `${file} row ${i}`);
    return row;
  });
}

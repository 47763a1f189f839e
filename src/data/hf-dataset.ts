// Hugging Face dataset folders as they come from the hub (or `datasets.save_to_disk`-free exports):
// a file, or a folder with data/<split>-*.parquet, <split>.jsonl, <config>/<split>-*.parquet, ...
// Files of the requested split are read in name order and concatenated.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { readJsonl, type Row, type RowError } from './jsonl.js';
import { readParquet } from './parquet.js';
import { setRowOrigin } from './provenance.js';

const DATA_EXT = /\.(jsonl|json|parquet)$/i;

export interface LoadDatasetOptions {
  split?: string;
  /** Sub-folder of a multi-config dataset (e.g. "OpenThoughts-114k-math-default"). */
  config?: string;
  strict?: boolean;
}

export interface LoadedDataset {
  rows: Row[];
  files: string[];
  errors: RowError[];
}

function listFiles(dir: string, depth: number): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory() && depth > 0) out.push(...listFiles(p, depth - 1));
    else if (st.isFile() && DATA_EXT.test(name)) out.push(p);
  }
  return out;
}

/** Does this file (path relative to the dataset root) belong to `split`? HF names: train-00000-of-00002.parquet, train.jsonl, train/xxx.parquet. */
function inSplit(rel: string, split: string): boolean {
  const parts = rel.split(/[\\/]/);
  if (parts.slice(0, -1).includes(split)) return true;
  const stem = basename(rel).replace(DATA_EXT, '');
  return stem === split || stem.startsWith(split + '-') || stem.startsWith(split + '_') || stem.startsWith(split + '.');
}

/** The data files a dataset location stands for, for one split. */
export function datasetFiles(location: string, opts: LoadDatasetOptions = {}): string[] {
  if (!existsSync(location)) throw new Error(`dataset: ${location} does not exist`);
  if (statSync(location).isFile()) return [location];
  const split = opts.split ?? 'train';
  const root = opts.config ? join(location, opts.config) : location;
  if (!existsSync(root)) throw new Error(`dataset: config folder ${root} does not exist`);
  const all = listFiles(root, 3);
  const matching = all.filter((f) => inSplit(relative(root, f), split));
  if (matching.length > 0) return matching;
  // A lone data file (or lone data/ folder of files) with no split in its name is the train split.
  if (
    split === 'train' &&
    all.length > 0 &&
    all.every((f) => !['test', 'validation', 'valid', 'dev'].some((s) => inSplit(relative(root, f), s)))
  )
    return all;
  throw new Error(
    `dataset: no ${split} split files under ${root} (found: ${all.map((f) => relative(root, f)).join(', ') || 'no data files'})`,
  );
}

export async function loadDataset(location: string, opts: LoadDatasetOptions = {}): Promise<LoadedDataset> {
  const files = datasetFiles(location, opts);
  const rows: Row[] = [];
  const errors: RowError[] = [];
  for (const f of files) {
    if (/\.parquet$/i.test(f)) rows.push(...(await readParquet(f)));
    else if (/\.json$/i.test(f) && (await isJsonArrayFile(f))) rows.push(...(await readJsonArray(f)));
    else {
      const r = await readJsonl(f, { strict: opts.strict ?? false });
      rows.push(...r.rows);
      errors.push(...r.errors);
    }
  }
  // Every line malformed is not a dataset with a few bad records but the wrong file (or encoding).
  if (rows.length === 0 && errors.length > 0) {
    const e = errors[0]!;
    throw new Error(
      `dataset ${location}: no valid rows: all ${errors.length} non-empty line(s) are malformed (first: ${e.file}:${e.line}: ${e.message})`,
    );
  }
  return { rows, files, errors };
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

async function isJsonArrayFile(file: string): Promise<boolean> {
  const head = (await readText(file))
    .slice(0, 4096)
    .replace(/^\uFEFF/, '')
    .trimStart();
  return head.startsWith('[');
}

/** A .json file holding one array of row objects (e.g. GAIR/LIMR's limr.json). */
async function readJsonArray(file: string): Promise<Row[]> {
  let value: unknown;
  try {
    value = JSON.parse((await readText(file)).replace(/^\uFEFF/, ''));
  } catch (err) {
    const msg = (err as Error).message;
    throw new Error(`${file}: invalid JSON: ${msg.length > 160 ? msg.slice(0, 160) + '…' : msg}`);
  }
  if (!Array.isArray(value)) throw new Error(`${file}: expected a JSON array of objects`);
  value.forEach((r, i) => {
    if (r === null || typeof r !== 'object' || Array.isArray(r))
      throw new Error(
        `${file}: element ${i} is not an object (got ${r === null ? 'null' : Array.isArray(r) ? 'an array' : typeof r})`,
      );
    setRowOrigin(r as Row, `${file} element ${i}`);
  });
  return value as Row[];
}

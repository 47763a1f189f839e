// Malformed dataset files, generated with a seeded Rng around a few good rows: JSONL lines that are
// not JSON objects / not UTF-8 / hold lone surrogates / are huge (skipped and counted, as the readers
// document), rows whose columns do not fit Tina's mapping (an error naming file:line), and files that
// are not data at all (empty, garbage, truncated or corrupt Parquet, a JSON array of non-objects, a
// folder without a train split: an error naming the file).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { Rng } from '../../src/util/rng.js';
import type { FuzzCase } from './types.js';

type Row = Record<string, unknown>;
const GOOD = 6;

function goodRows(rng: Rng): Row[] {
  return Array.from({ length: GOOD }, () => {
    const a = rng.int(100),
      b = rng.int(100);
    return { problem: `What is ${a}+${b}?`, solution: String(a + b) };
  });
}

const randomBytes = (rng: Rng, n: number, lo = 0): Buffer =>
  Buffer.from(Array.from({ length: n }, () => lo + rng.int(256 - lo)));

export function dataCases(dir: string, seed: number, nextId: () => number): FuzzCase[] {
  mkdirSync(dir, { recursive: true });
  const rng = Rng.derive(seed, 'fuzz-data');
  const cases: FuzzCase[] = [];
  const file = (id: number, ext: string): string => join(dir, `d${id}.${ext}`);

  /** GOOD good rows with `bad` (raw line bytes) inserted at random positions; expects those lines skipped. */
  const skipCase = (name: string, bad: Buffer[]): void => {
    const id = nextId();
    const f = file(id, 'jsonl');
    const lines: Buffer[] = goodRows(rng).map((r) => Buffer.from(JSON.stringify(r)));
    for (const b of bad) lines.splice(rng.int(lines.length + 1), 0, b);
    writeFileSync(f, Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])));
    cases.push({
      id,
      category: 'dataset row (JSONL, skipped)',
      name,
      target: 'dataset',
      input: f,
      expect: 'skip',
      mustName: [f],
      goodRows: GOOD,
    });
  };
  /** GOOD good rows, one of them replaced by `row`; expects an error naming file:line. */
  const columnCase = (name: string, row: Row | string, datasetId?: string): void => {
    const id = nextId();
    const f = file(id, 'jsonl');
    const deepscaler = datasetId?.toLowerCase().includes('deepscaler');
    const rows: (Row | string)[] = goodRows(rng).map((r) => (deepscaler ? { ...r, answer: r.solution } : r));
    const at = rng.int(rows.length);
    rows[at] = row;
    writeFileSync(f, rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n');
    cases.push({
      id,
      category: 'dataset row (columns, error)',
      name,
      target: 'dataset',
      input: f,
      expect: 'error',
      mustName: [`${f}:${at + 1}`],
      ...(datasetId ? { datasetId } : {}),
    });
  };
  const fileCase = (name: string, ext: string, content: Buffer | string, mustName: string[] = []): void => {
    const id = nextId();
    const f = file(id, ext);
    writeFileSync(f, content);
    cases.push({
      id,
      category: 'dataset file',
      name,
      target: 'dataset',
      input: f,
      expect: 'error',
      mustName: [f, ...mustName],
    });
  };

  // Lines the reader skips and counts.
  const good = JSON.stringify({ problem: 'What is 1+1?', solution: '2' });
  skipCase('garbage text line', [Buffer.from('this is not json at all')]);
  skipCase('truncated JSON object', [Buffer.from(good.slice(0, 1 + rng.int(good.length - 2)))]);
  skipCase('trailing comma', [Buffer.from(good.replace(/}$/, ',}'))]);
  skipCase('JSON array line', [Buffer.from('["What is 1+1?", "2"]')]);
  skipCase('number / null / string lines', [Buffer.from('42'), Buffer.from('null'), Buffer.from('"problem"')]);
  skipCase('invalid UTF-8 in a string', [
    Buffer.concat([
      Buffer.from('{"problem": "What is '),
      randomBytes(rng, 6, 0x80),
      Buffer.from('?", "solution": "2"}'),
    ]),
  ]);
  skipCase('overlong UTF-8 encoding', [
    Buffer.from([...Buffer.from('{"problem": "a'), 0xc0, 0xaf, ...Buffer.from('", "solution": "1"}')]),
  ]);
  skipCase('lone high surrogate in problem', [Buffer.from('{"problem": "What is \\ud800 1+1?", "solution": "2"}')]);
  skipCase('lone low surrogate in a key', [Buffer.from('{"problem": "p", "solution": "2", "\\udc00x": 1}')]);
  skipCase('huge garbage line (3 MB)', [Buffer.from('x'.repeat(3_000_000))]);
  skipCase('line of NUL bytes', [Buffer.alloc(40)]);
  skipCase('row nested 100k levels deep', [
    Buffer.from('{"problem": "p", "solution": "s", "x": ' + '['.repeat(100_000) + ']'.repeat(100_000) + '}'),
  ]);
  skipCase('random bytes line', [Buffer.from(randomBytes(rng, 200).map((b) => (b === 0x0a ? 0x20 : b)))]);
  skipCase('three different bad lines', [
    Buffer.from('{'),
    Buffer.from('[]'),
    Buffer.from('{"problem": "x" "solution": "y"}'),
  ]);
  skipCase('Windows line ending + garbage', [Buffer.from('garbage\r')]);

  // Rows whose columns do not fit Tina's mapping.
  columnCase('missing problem', { solution: '2' });
  columnCase('missing solution', { problem: 'What is 1+1?' });
  columnCase('problem is a number', { problem: 12, solution: '2' });
  columnCase('problem is null', { problem: null, solution: '2' });
  columnCase('problem is an empty string', { problem: '', solution: '2' });
  columnCase('problem is an array', { problem: ['What', 'is'], solution: '2' });
  columnCase('solution is an object', { problem: 'What is 1+1?', solution: { value: 2 } });
  columnCase('solution is null', { problem: 'What is 1+1?', solution: null });
  columnCase('solution is an empty string', { problem: 'What is 1+1?', solution: '  ' });
  columnCase('answer is an object (no solution)', { question: 'What is 1+1?', answer: { v: 2 } });
  columnCase('question is a boolean', { question: true, answer: '2' });
  columnCase(
    'DeepScaleR row without answer',
    { problem: 'What is 1+1?', solution: 'worked' },
    'agentica-org/DeepScaleR-Preview-Dataset',
  );
  columnCase('only unrelated columns', { title: 'x', body: 'y' });

  // Files that are not data.
  fileCase('empty JSONL file', 'jsonl', '', ['no rows']);
  fileCase('only bad lines', 'jsonl', 'nope\n{\n[1]\n', [':1:']);
  fileCase('binary garbage .jsonl', 'jsonl', randomBytes(rng, 4096), ['malformed']);
  fileCase('JSON array of numbers', 'json', '[1, 2, 3]', ['element 0']);
  fileCase('JSON array truncated', 'json', JSON.stringify(goodRows(rng)).slice(0, 40));
  fileCase('empty JSON array', 'json', '[]', ['no rows']);
  fileCase('JSON array of rows without problem', 'json', JSON.stringify([{ q: 1 }]), ['element 0']);
  const pq = (rows: Row[]): Buffer => {
    const cols = Object.keys(rows[0]!);
    return Buffer.from(
      parquetWriteBuffer({
        columnData: cols.map((c) => ({
          name: c,
          data: rows.map((r) => r[c]) as string[],
          type: typeof rows[0]![c] === 'number' ? 'DOUBLE' : 'STRING',
        })),
      } as Parameters<typeof parquetWriteBuffer>[0]),
    );
  };
  const goodPq = pq(goodRows(rng));
  for (let i = 0; i < 3; i++) {
    const cut = 1 + rng.int(goodPq.length - 2);
    fileCase(`Parquet truncated at ${cut}/${goodPq.length}`, 'parquet', goodPq.subarray(0, cut));
  }
  {
    const b = Buffer.from(goodPq);
    b.writeUInt32LE(0x7fffffff, b.length - 8);
    fileCase('Parquet footer length overflow', 'parquet', b);
  }
  {
    const b = Buffer.from(goodPq);
    randomBytes(rng, 24).copy(b, b.length - 8 - 24);
    fileCase('Parquet garbage footer', 'parquet', b);
  }
  {
    const b = Buffer.from(goodPq);
    b.write('PAR0', 0, 'latin1');
    fileCase('Parquet bad leading magic', 'parquet', b);
  }
  fileCase('Parquet empty file', 'parquet', Buffer.alloc(0));
  fileCase('text file named .parquet', 'parquet', 'problem,solution\n1+1,2\n');
  fileCase(
    'Parquet without a solution column',
    'parquet',
    pq([{ problem: 'What is 1+1?' }, { problem: 'What is 2+2?' }]),
    ['row 0'],
  );
  fileCase('Parquet with a numeric problem column', 'parquet', pq([{ problem: 3, solution: '3' }]), ['row 0']);
  // Folders.
  {
    const id = nextId();
    const d = join(dir, `d${id}`);
    mkdirSync(join(d, 'data'), { recursive: true });
    writeFileSync(join(d, 'data', 'test-00000-of-00001.jsonl'), good + '\n');
    cases.push({
      id,
      category: 'dataset file',
      name: 'folder with only a test split',
      target: 'dataset',
      input: d,
      expect: 'error',
      mustName: [d, 'train'],
    });
  }
  {
    const id = nextId();
    const d = join(dir, `d${id}`);
    mkdirSync(d);
    writeFileSync(join(d, 'README.md'), '# x');
    cases.push({
      id,
      category: 'dataset file',
      name: 'folder without data files',
      target: 'dataset',
      input: d,
      expect: 'error',
      mustName: [d],
    });
  }
  {
    const id = nextId();
    const f = join(dir, `d${id}-missing.jsonl`);
    cases.push({
      id,
      category: 'dataset file',
      name: 'nonexistent file',
      target: 'dataset',
      input: f,
      expect: 'error',
      mustName: [f],
    });
  }
  return cases;
}

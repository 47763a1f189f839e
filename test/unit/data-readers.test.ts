// Data readers on real files: JSONL with malformed lines (line numbers), Parquet written here with
// hyparquet-writer in snappy, gzip and uncompressed form, HF folder layouts, Tina's column mapping.
import t from 'tap';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { parquetMetadata } from 'hyparquet';
import { readJsonl } from '../../src/data/jsonl.js';
import { readParquet } from '../../src/data/parquet.js';
import { datasetFiles, loadDataset } from '../../src/data/hf-dataset.js';
import { mapTinaColumns, mapTinaRow } from '../../src/data/tina-columns.js';
import { benchmarksDir } from '../../src/util/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'loractor-data-'));

t.test('JSONL: malformed lines reported with line numbers and skipped; strict fails naming file:line', async (tt) => {
  const f = join(dir, 'mixed.jsonl');
  writeFileSync(
    f,
    [
      '{"problem":"1+1","answer":"2"}',
      '',
      '{"problem": broken',
      '[1,2]',
      '{"problem":"2+2","answer":4}',
      '"str"',
      '{"problem":"x"}',
    ].join('\n') + '\n',
  );
  const r = await readJsonl(f);
  tt.equal(r.rows.length, 3);
  tt.same(
    r.errors.map((e) => e.line),
    [3, 4, 6],
  );
  tt.match(r.errors[0]!.message, /invalid JSON/);
  tt.match(r.errors[1]!.message, /expected a JSON object, got an array/);
  await tt.rejects(
    readJsonl(f, { strict: true }),
    new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: invalid JSON`),
  );
  const seen: number[] = [];
  await readJsonl(f, { onError: (e) => seen.push(e.line) });
  tt.same(seen, [3, 4, 6]);
});

t.test('JSONL: a real benchmark file reads completely', async (tt) => {
  const r = await readJsonl(join(benchmarksDir(), 'math-evaluation-harness', 'math500_test.jsonl'), { strict: true });
  tt.equal(r.rows.length, 500);
  tt.type(r.rows[0]!.problem, 'string');
  tt.type(r.rows[0]!.solution, 'string');
});

const columns = (n: number) => [
  { name: 'problem', data: Array.from({ length: n }, (_, i) => `What is ${i}+${i}?`), type: 'STRING' as const },
  { name: 'answer', data: Array.from({ length: n }, (_, i) => String(2 * i)), type: 'STRING' as const },
  { name: 'level', data: Array.from({ length: n }, (_, i) => BigInt(i % 5)), type: 'INT64' as const },
  { name: 'score', data: Array.from({ length: n }, (_, i) => i / 4), type: 'DOUBLE' as const },
];

t.test('Parquet: snappy (HF default), gzip and uncompressed files read back exactly', async (tt) => {
  const n = 1500; // > one default row group (1000) so multi-group reads are covered
  const files = {
    snappy: parquetWriteBuffer({ columnData: columns(n) }),
    gzip: parquetWriteBuffer({
      columnData: columns(n),
      codec: 'GZIP',
      compressors: { GZIP: (b: Uint8Array) => new Uint8Array(gzipSync(b)) },
    }),
    none: parquetWriteBuffer({ columnData: columns(n), codec: 'UNCOMPRESSED' }),
  };
  for (const [name, buf] of Object.entries(files)) {
    const p = join(dir, `${name}.parquet`);
    writeFileSync(p, new Uint8Array(buf));
    const codec = parquetMetadata(buf).row_groups[0]!.columns[0]!.meta_data!.codec;
    tt.equal(
      codec,
      { snappy: 'SNAPPY', gzip: 'GZIP', none: 'UNCOMPRESSED' }[name],
      `${name}: file really uses ${codec}`,
    );
    const rows = await readParquet(p);
    tt.equal(rows.length, n, `${name}: row count`);
    tt.same(
      rows[7],
      { problem: 'What is 7+7?', answer: '14', level: 2, score: 1.75 },
      `${name}: row content, INT64 narrowed to number`,
    );
    tt.same(rows[n - 1]!.answer, String(2 * (n - 1)));
  }
  const bad = join(dir, 'bad.parquet');
  writeFileSync(bad, 'PAR1 definitely not parquet');
  await tt.rejects(readParquet(bad), /bad\.parquet: cannot read Parquet/);
});

t.test('HF layouts: data/<split>-*.parquet shards, <split>.jsonl, config folders, lone files', async (tt) => {
  const a = join(dir, 'ds-a');
  mkdirSync(join(a, 'data'), { recursive: true });
  writeFileSync(
    join(a, 'data', 'train-00000-of-00002.parquet'),
    new Uint8Array(parquetWriteBuffer({ columnData: columns(3) })),
  );
  writeFileSync(
    join(a, 'data', 'train-00001-of-00002.parquet'),
    new Uint8Array(parquetWriteBuffer({ columnData: columns(2) })),
  );
  writeFileSync(
    join(a, 'data', 'test-00000-of-00001.parquet'),
    new Uint8Array(parquetWriteBuffer({ columnData: columns(4) })),
  );
  const train = await loadDataset(a);
  tt.equal(train.rows.length, 5);
  tt.same(
    train.files.map((f) => f.slice(a.length + 1)),
    ['data/train-00000-of-00002.parquet', 'data/train-00001-of-00002.parquet'],
  );
  tt.equal((await loadDataset(a, { split: 'test' })).rows.length, 4);
  tt.throws(() => datasetFiles(a, { split: 'validation' }), /no validation split files.*train-00000/);

  const b = join(dir, 'ds-b');
  mkdirSync(join(b, 'OpenThoughts-math'), { recursive: true });
  writeFileSync(join(b, 'OpenThoughts-math', 'train.jsonl'), '{"problem":"p","solution":"s"}\nnot json\n');
  const bl = await loadDataset(b, { config: 'OpenThoughts-math' });
  tt.equal(bl.rows.length, 1);
  tt.same(
    bl.errors.map((e) => e.line),
    [2],
  );

  const c = join(dir, 'ds-c');
  mkdirSync(c);
  writeFileSync(
    join(c, 'limr.json'),
    JSON.stringify([
      { prompt: 'q1', answer: '1' },
      { prompt: 'q2', answer: '2' },
    ]),
  );
  tt.equal((await loadDataset(c)).rows.length, 2, 'a lone JSON-array file is the train split');
  tt.throws(() => datasetFiles(join(dir, 'nope')), /does not exist/);
});

t.test('Tina column mapping (§1.3)', async (tt) => {
  tt.same(
    mapTinaRow({ problem: 'p', solution: 'worked \\boxed{3}', answer: '3' }, 'knoveleng/open-rs'),
    { problem: 'p', solution: 'worked \\boxed{3}', answer: '3' },
    'open-rs keeps the worked solution as gold',
  );
  tt.same(mapTinaRow({ question: 'q', answer: '7' }, 'RUC-AIBOX/STILL-3-Preview-RL-Data'), {
    problem: 'q',
    solution: '$7$',
  });
  tt.same(mapTinaRow({ prompt: 'q', answer: 7, messages: [1] }, 'GAIR/LIMR'), { problem: 'q', solution: '$7$' });
  tt.same(
    mapTinaRow({ problem: 'p', solution: 'long', answer: '\\frac{1}{2}' }, 'agentica-org/DeepScaleR-Preview-Dataset'),
    { problem: 'p', solution: '$\\frac{1}{2}$', solution_archive: 'long' },
    'DeepScaleR grades against $answer$',
  );
  tt.throws(
    () => mapTinaColumns([{ problem: 'p', solution: 's' }, { title: 'x' }], 'some/ds'),
    /some\/ds row 1: no string problem.*has: title/,
  );
});

t.test("Tina's mapping by recipe (2thought, L1 on DeepScaleR) and open-r1's prompt column", async (tt) => {
  const ds = { problem: 'p', solution: 'long', answer: '3' };
  tt.same(
    mapTinaRow(ds, 'agentica-org/DeepScaleR-Preview-Dataset', 0, { mapping: 'tina' }),
    { problem: 'p', solution: 'long', answer: '3' },
    "'tina' (Tina's L1 recipes, no 'deepscaler' in the name): the worked solution stays the gold",
  );
  tt.same(
    mapTinaRow(ds, 'my/copy', 0, { mapping: 'deepscaler' }),
    { problem: 'p', solution: '$3$', solution_archive: 'long' },
    "'deepscaler' whatever the id",
  );
  tt.same(
    mapTinaRow(ds, 'agentica-org/DeepScaleR-Preview-Dataset', 0, { mapping: 'auto' }).solution,
    '$3$',
    "'auto' keys on the id",
  );
});

t.test('II-Thought (Tina 2thought): messages[0].content and verification_info.answer.value', async (tt) => {
  const row = {
    messages: [{ role: 'user', content: 'Find x.' }],
    verification_info: JSON.stringify({ answer: { value: '\\frac{1}{2}' } }),
    id: 7,
  };
  tt.same(mapTinaRow(row, 'Intelligent-Internet/II-Thought-RL-v0-Math-50K', 0, { mapping: 'ii_thought' }), {
    problem: 'Find x.',
    solution: '$\\frac{1}{2}$',
    id: 7,
  });
  tt.throws(
    () => mapTinaRow({ messages: [], verification_info: '{}' }, 'ii', 3, { mapping: 'ii_thought' }),
    /ii row 3: the 2thought mapping needs messages\[0\]\.content/,
  );
  tt.throws(
    () => mapTinaRow({ messages: [{ content: 'q' }], verification_info: '{oops' }, 'ii', 0, { mapping: 'ii_thought' }),
    /verification_info" is not JSON/,
  );
  tt.throws(
    () =>
      mapTinaRow({ messages: [{ content: 'q' }], verification_info: { answer: {} } }, 'ii', 0, {
        mapping: 'ii_thought',
      }),
    /answer\.value must be a string or a number/,
  );
  // open-r1's dataset_prompt_column
  tt.same(mapTinaRow({ problem_statement: 'Write f.', solution: 's' }, 'x', 0, { promptColumn: 'problem_statement' }), {
    problem_statement: 'Write f.',
    problem: 'Write f.',
    solution: 's',
  });
  tt.throws(
    () => mapTinaRow({ problem: 'p', solution: 's' }, 'x', 2, { promptColumn: 'question' }),
    /x row 2: no column "question" \(data\.prompt_column\)/,
  );
});

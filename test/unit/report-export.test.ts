// The TensorBoard writer against its specification: CRC-32C check values (RFC 3720 B.4), TFRecord
// framing, and a file read back by an independent reader (test/fixtures/read_tfevents.py, standard
// library Python written from event.proto); metrics.csv quoting. The values of a real run are
// compared with metrics.jsonl in run-dashboard.test.ts.
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32c, maskedCrc32c, tfRecord, createTensorBoardWriter } from '../../src/report/tensorboard.js';
import { metricsCsv } from '../../src/report/csv.js';
import { readEvents } from '../helpers/tfevents-reader.js';

t.test('CRC-32C check values (RFC 3720 appendix B.4) and the TFRecord mask', async (t) => {
  t.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  t.equal(crc32c(new Uint8Array(32)), 0x8a9136aa, '32 bytes of zeros');
  t.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43, '32 bytes of ones');
  t.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e, 'incrementing bytes');
  const c = 0xe3069283;
  t.equal(
    maskedCrc32c(new TextEncoder().encode('123456789')),
    ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) % 2 ** 32,
  );
  const rec = tfRecord(Uint8Array.of(1, 2, 3));
  t.equal(rec.length, 8 + 4 + 3 + 4);
  t.equal(new DataView(rec.buffer).getBigUint64(0, true), 3n, 'u64 little-endian length');
  t.same([...rec.subarray(12, 15)], [1, 2, 3], 'data after the length CRC');
});

t.test(
  'an event file read back by the independent reader: version event, restart marker, scalars as float32',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'loractor-tb-'));
    const w = createTensorBoardWriter(dir, { resumeStep: 7 });
    t.match(w.file, /events\.out\.tfevents\.\d+\./, 'TensorBoard file name');
    w.scalars(
      7,
      { step: 7, reward: 0.1, 'rewards/accuracy': 1 / 3, 'time/rollout': 12.5, note: 'text is skipped', nan: NaN },
      1000.5,
    );
    w.scalars(8, { reward: -2.75e-9, 'completions/mean_length': 123 }, 1001.5);
    const ev = readEvents(w.file);
    t.same(ev[0], { wall_time: ev[0]!.wall_time, file_version: 'brain.Event:2' }, 'first record: file_version');
    t.same(ev[1]!.session_log, { 1: 1 }, 'SessionLog START at the resume step');
    t.equal(ev[1]!.step, 7);
    t.same(
      ev[2],
      {
        wall_time: 1000.5,
        step: 7,
        scalars: { reward: Math.fround(0.1), 'rewards/accuracy': Math.fround(1 / 3), 'time/rollout': 12.5 },
      },
      'numeric fields, tags = keys',
    );
    t.same(ev[3]!.scalars, { reward: Math.fround(-2.75e-9), 'completions/mean_length': 123 }, 'any metric name');
  },
);

t.test('metrics.csv: union of keys in first-seen order, empty cells, RFC 4180 quoting', async (t) => {
  const csv = metricsCsv([
    { step: 1, reward: 0.5 },
    { step: 2, reward: 1, 'time/eval': 3, note: 'a,"b"' },
  ]);
  t.equal(csv, 'step,reward,time/eval,note\n1,0.5,,\n2,1,3,"a,""b"""\n');
});

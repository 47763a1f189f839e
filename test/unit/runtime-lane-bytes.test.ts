// gatherPayloads / scatterPayloads (src/runtime/lane-bytes.ts): the msgpack bytes of a flat batch
// go into one buffer and come back as views, other entries untouched.
import t from 'tap';
import { gatherPayloads, scatterPayloads } from '../../src/runtime/lane-bytes.js';

const STRIDE = 3; // [marker, payload, extra]

t.test('msgpack payloads out into one buffer and back, others untouched', (t) => {
  const a = new Uint8Array([1, 2, 3]);
  const b = new Uint8Array(new ArrayBuffer(64), 10, 2).fill(7); // a view into a larger buffer
  const batch: unknown[] = ['m', a, 'x', 'c', 5, 'y', 'm', b, 'z', 'c', { k: 1 }, 'w'];
  const bytes = gatherPayloads(batch, STRIDE, 0, 'm', 1);
  t.equal(bytes?.byteLength, 5, 'exactly the payload bytes');
  t.equal(batch.length, 13, 'the buffer ends the batch');
  t.same(
    batch.slice(0, 12),
    ['m', 3, 'x', 'c', 5, 'y', 'm', 5, 'z', 'c', { k: 1 }, 'w'],
    'end offsets; a number payload of another kind stays',
  );
  const received = structuredClone(batch, { transfer: [bytes!] });
  t.equal(bytes!.byteLength, 0, 'transferred, not copied');
  scatterPayloads(received, STRIDE, 0, 'm', 1);
  t.equal(received.length, 12);
  t.same(Array.from(received[1] as Uint8Array), [1, 2, 3]);
  t.same(Array.from(received[7] as Uint8Array), [7, 7]);
  t.equal(received[4], 5);
  t.same(received[10], { k: 1 });
  t.end();
});

t.test('a batch without msgpack bytes is left as it is', (t) => {
  const batch: unknown[] = ['c', 1, 'x', 'm', 'not bytes', 'y'];
  t.equal(gatherPayloads(batch, STRIDE, 0, 'm', 1), null);
  t.same(batch, ['c', 1, 'x', 'm', 'not bytes', 'y']);
  scatterPayloads(batch, STRIDE, 0, 'm', 1);
  t.same(batch, ['c', 1, 'x', 'm', 'not bytes', 'y'], 'nothing to scatter');
  t.end();
});

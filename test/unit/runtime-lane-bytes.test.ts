// gatherPayloads / scatterPayloads (src/runtime/lane-bytes.ts): the msgpack bytes of a flat batch
// go into one buffer and come back as views, other entries untouched.
import t from 'tap';
import { gatherPayloads, scatterPayloads } from '../../src/runtime/lane-bytes.js';

// [code, payload, extra]: bytes where code & 3 === 1.
const SLOTS = { stride: 3, codeAt: 0, mask: 3, want: 1, payloadAt: 1 };

t.test('msgpack payloads out into one buffer and back, others untouched', (t) => {
  const a = new Uint8Array([1, 2, 3]);
  const b = new Uint8Array(new ArrayBuffer(64), 10, 2).fill(7); // a view into a larger buffer
  const batch: unknown[] = [1, a, 'x', 2, 5, 'y', 5, b, 'z', 0, { k: 1 }, 'w', 3, new Uint8Array([9]), 'v'];
  const bytes = gatherPayloads(batch, SLOTS);
  t.equal(bytes?.byteLength, 5, 'exactly the payload bytes');
  t.equal(batch.length, 16, 'the buffer ends the batch');
  t.same(
    batch.slice(0, 15),
    [1, 3, 'x', 2, 5, 'y', 5, 5, 'z', 0, { k: 1 }, 'w', 3, new Uint8Array([9]), 'v'],
    'end offsets; a number payload of another kind stays, and so do bytes the mask leaves out',
  );
  const received = structuredClone(batch, { transfer: [bytes!] });
  t.equal(bytes!.byteLength, 0, 'transferred, not copied');
  scatterPayloads(received, SLOTS);
  t.equal(received.length, 15);
  t.same(Array.from(received[1] as Uint8Array), [1, 2, 3]);
  t.same(Array.from(received[7] as Uint8Array), [7, 7]);
  t.equal(received[4], 5);
  t.same(received[10], { k: 1 });
  t.same(Array.from(received[13] as Uint8Array), [9], 'bytes the mask leaves out travel as they are');
  t.end();
});

t.test('a batch without msgpack bytes is left as it is', (t) => {
  const batch: unknown[] = [0, 1, 'x', 1, 'not bytes', 'y'];
  t.equal(gatherPayloads(batch, SLOTS), null);
  t.same(batch, [0, 1, 'x', 1, 'not bytes', 'y']);
  scatterPayloads(batch, SLOTS);
  t.same(batch, [0, 1, 'x', 1, 'not bytes', 'y'], 'nothing to scatter');
  t.end();
});

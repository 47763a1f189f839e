// gatherPayloads / scatterPayloads (src/runtime/lane-bytes.ts): the msgpack bytes of a flat batch
// go into one buffer and come back as envelopes addressing it by offsets, other entries untouched.
import t from 'tap';
import { gatherPayloads, scatterPayloads } from '../../src/runtime/lane-bytes.js';
import type { TaskEnvelope } from '../../protocols/envelope.js';

// [code, payload, extra]: bytes where code & 3 === 1.
const SLOTS = { stride: 3, codeAt: 0, mask: 3, want: 1, payloadAt: 1 };

const msgpack = (p: Uint8Array, o?: number, e?: number): TaskEnvelope =>
  o === undefined ? { h: 'x', t: 'msgpack', p } : { h: 'x', t: 'msgpack', p, o, e };

t.test('msgpack payloads out into one buffer and back, others untouched', (t) => {
  const whole = msgpack(new Uint8Array([1, 2, 3]));
  const part = msgpack(new Uint8Array(64).fill(7), 10, 12); // bytes [10, 12) of a larger buffer
  const left = msgpack(new Uint8Array([9]));
  const batch: unknown[] = [1, whole, 'x', 2, 5, 'y', 5, part, 'z', 0, { k: 1 }, 'w', 3, left, 'v'];
  const bytes = gatherPayloads(batch, SLOTS);
  t.equal(bytes?.byteLength, 5, 'exactly the payload bytes');
  t.equal(batch.length, 16, 'the buffer ends the batch');
  t.same(
    batch.slice(0, 15),
    [1, 3, 'x', 2, 5, 'y', 5, 5, 'z', 0, { k: 1 }, 'w', 3, left, 'v'],
    'end offsets; a number payload of another kind stays, and so does an envelope the mask leaves out',
  );
  t.same(Array.from(whole.p as Uint8Array), [1, 2, 3], 'the senders envelopes are left as they were');
  const received = structuredClone(batch, { transfer: [bytes!] });
  t.equal(bytes!.byteLength, 0, 'transferred, not copied');
  scatterPayloads(received, SLOTS);
  t.equal(received.length, 15);
  const a = received[1] as TaskEnvelope;
  const b = received[7] as TaskEnvelope;
  t.equal(a.p, b.p, 'one buffer for the batch, no view per message');
  t.same([a.t, a.o, a.e, b.o, b.e], ['msgpack', 0, 3, 3, 5], 'each payload addressed by offsets');
  t.same(Array.from((a.p as Uint8Array).subarray(a.o, a.e)), [1, 2, 3]);
  t.same(Array.from((b.p as Uint8Array).subarray(b.o, b.e)), [7, 7]);
  t.equal(received[4], 5);
  t.same(received[10], { k: 1 });
  t.same(Array.from((received[13] as TaskEnvelope).p as Uint8Array), [9], 'what the mask leaves out travels as it is');
  t.end();
});

t.test('a batch without msgpack bytes is left as it is', (t) => {
  const batch: unknown[] = [0, 1, 'x', 1, { h: 'x', t: 'clone', p: 'not bytes' }, 'y'];
  t.equal(gatherPayloads(batch, SLOTS), null);
  t.same(batch, [0, 1, 'x', 1, { h: 'x', t: 'clone', p: 'not bytes' }, 'y']);
  scatterPayloads(batch, SLOTS);
  t.same(batch, [0, 1, 'x', 1, { h: 'x', t: 'clone', p: 'not bytes' }, 'y'], 'nothing to scatter');
  t.end();
});

t.test('large payloads (native copy) and small ones (byte loop) land in order', (t) => {
  const big = new Uint8Array(5000).map((_, i) => i % 251);
  const batch: unknown[] = [1, msgpack(big, 1000, 4000), 'x', 1, msgpack(new Uint8Array([4, 5])), 'y'];
  const bytes = gatherPayloads(batch, SLOTS)!;
  t.equal(bytes.byteLength, 3002);
  scatterPayloads(batch, SLOTS);
  const a = batch[1] as TaskEnvelope;
  const b = batch[4] as TaskEnvelope;
  t.same(Array.from((a.p as Uint8Array).subarray(a.o, a.e)), Array.from(big.subarray(1000, 4000)));
  t.same(Array.from((b.p as Uint8Array).subarray(b.o, b.e)), [4, 5]);
  t.end();
});

// The msgpack payloads of one lane batch travel together, in one ArrayBuffer that is transferred
// (not copied) with the batch: V8 then clones a few numbers per message instead of one string or
// one Uint8Array each, and the receiver allocates one buffer per batch, not one per message.
// In the batch, each such payload's slot holds the end offset of its bytes, and the buffer is the
// batch's last element (so a batch carrying one has a length of one more than a multiple of the
// slot count). See protocols/envelope.ts for the two batch layouts.

/**
 * Move the msgpack payloads of a flat batch (entries `stride` wide; an entry is msgpack when
 * `entry[markerAt] === marker`, its bytes at `entry[payloadAt]`) into one buffer appended to the
 * batch. Returns the buffer to transfer, or null when the batch holds no msgpack bytes.
 */
export function gatherPayloads(
  batch: unknown[],
  stride: number,
  markerAt: number,
  marker: unknown,
  payloadAt: number,
): ArrayBuffer | null {
  let total = 0;
  for (let k = 0; k < batch.length; k += stride) {
    const p = batch[k + payloadAt];
    if (batch[k + markerAt] === marker && p instanceof Uint8Array) total += p.byteLength;
  }
  if (total === 0) return null;
  const out = new Uint8Array(total);
  let end = 0;
  for (let k = 0; k < batch.length; k += stride) {
    const p = batch[k + payloadAt];
    if (batch[k + markerAt] !== marker || !(p instanceof Uint8Array)) continue;
    out.set(p, end);
    end += p.byteLength;
    batch[k + payloadAt] = end;
  }
  batch.push(out.buffer);
  return out.buffer;
}

/** The receiving side of gatherPayloads: removes the buffer and puts each payload's bytes (a view) back in its slot. */
export function scatterPayloads(
  batch: unknown[],
  stride: number,
  markerAt: number,
  marker: unknown,
  payloadAt: number,
): void {
  if (batch.length % stride !== 1) return;
  const bytes = new Uint8Array(batch.pop() as ArrayBuffer);
  let start = 0;
  for (let k = 0; k < batch.length; k += stride) {
    const end = batch[k + payloadAt];
    if (batch[k + markerAt] !== marker || typeof end !== 'number') continue;
    batch[k + payloadAt] = bytes.subarray(start, end);
    start = end;
  }
}

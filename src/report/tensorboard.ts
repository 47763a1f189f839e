// TensorBoard event files, written as the run goes: events.out.tfevents.<time>.<host> in the run
// folder, which TensorBoard (and `wandb sync --sync-tensorboard`) read. npm has no maintained
// writer without native TensorFlow, so the format is written here from its specification:
//   file   = record*;  record = u64le length, u32le masked_crc32c(length bytes), data, u32le masked_crc32c(data)
//   masked_crc32c(x) = rotr15(crc32c(x)) + 0xa282ead8   (CRC-32C, Castagnoli polynomial)
//   data   = an Event protobuf (tensorflow/core/util/event.proto):
//            Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; SessionLog session_log = 6; }
//            Summary { repeated Value value = 1; }  Value { string tag = 1; float simple_value = 2; }
//            SessionLog { SessionStatus status = 1; }  (START = 1: a restart; TensorBoard drops later-step points of the old run)
// The first record is the file_version "brain.Event:2" event, as TensorFlow's writer starts every file.
import { appendFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli) of bytes, as an unsigned 32-bit integer. */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC32C_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: rotate right by 15 bits, add 0xa282ead8 (mod 2^32). */
export function maskedCrc32c(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
}

/** One TFRecord frame around `data`. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length + 4);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(data.length), true);
  dv.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  dv.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

// Protobuf wire encoding, just the field kinds the Event message needs.
class ProtoWriter {
  private readonly parts: number[] = [];
  private varint(v: bigint): void {
    let x = BigInt.asUintN(64, v);
    while (x >= 0x80n) {
      this.parts.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.parts.push(Number(x));
  }
  private key(field: number, wire: number): void {
    this.varint(BigInt((field << 3) | wire));
  }
  int64(field: number, v: number): this {
    this.key(field, 0);
    this.varint(BigInt(Math.trunc(v)));
    return this;
  }
  enumValue(field: number, v: number): this {
    return this.int64(field, v);
  }
  double(field: number, v: number): this {
    this.key(field, 1);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.parts.push(...b);
    return this;
  }
  float(field: number, v: number): this {
    this.key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.parts.push(...b);
    return this;
  }
  bytes(field: number, b: Uint8Array): this {
    this.key(field, 2);
    this.varint(BigInt(b.length));
    this.parts.push(...b);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/** Event{wall_time, step, summary{value[{tag, simple_value}]}} bytes. */
export function scalarEvent(wallTime: number, step: number, scalars: [string, number][]): Uint8Array {
  const summary = new ProtoWriter();
  for (const [tag, v] of scalars) summary.bytes(1, new ProtoWriter().string(1, tag).float(2, v).finish());
  return new ProtoWriter().double(1, wallTime).int64(2, step).bytes(5, summary.finish()).finish();
}

export function fileVersionEvent(wallTime: number): Uint8Array {
  return new ProtoWriter().double(1, wallTime).string(3, 'brain.Event:2').finish();
}

/** Event{wall_time, step, session_log{status: START}}: marks a resumed run at `step`. */
export function sessionStartEvent(wallTime: number, step: number): Uint8Array {
  return new ProtoWriter()
    .double(1, wallTime)
    .int64(2, step)
    .bytes(6, new ProtoWriter().enumValue(1, 1).finish())
    .finish();
}

/** The numeric, finite fields of a record (every one except `step`), in record order: tags are taken generically. */
export function scalarFields(record: Record<string, unknown>): [string, number][] {
  return Object.entries(record).filter(
    (e): e is [string, number] => e[0] !== 'step' && typeof e[1] === 'number' && Number.isFinite(e[1]),
  );
}

export interface TensorBoardWriter {
  readonly file: string;
  /** One event with every numeric field of `record` as a scalar tagged by its key. */
  scalars(step: number, record: Record<string, unknown>, wallTimeS?: number): void;
}

/**
 * A new event file in `dir`. Each call appends whole records synchronously, so a reader (TensorBoard
 * polling the folder) never sees half a step. `resumeStep` writes a SessionLog START first.
 */
export function createTensorBoardWriter(dir: string, opts: { resumeStep?: number } = {}): TensorBoardWriter {
  const now = Date.now() / 1000;
  const file = join(
    dir,
    `events.out.tfevents.${Math.floor(now)}.${hostname().replace(/[^\w.-]/g, '_')}.${process.pid}`,
  );
  writeFileSync(file, tfRecord(fileVersionEvent(now)));
  if (opts.resumeStep !== undefined) appendFileSync(file, tfRecord(sessionStartEvent(now, opts.resumeStep)));
  return {
    file,
    scalars(step, record, wallTimeS = Date.now() / 1000) {
      const values = scalarFields(record);
      if (values.length) appendFileSync(file, tfRecord(scalarEvent(wallTimeS, step, values)));
    },
  };
}

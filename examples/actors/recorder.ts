// Example actor that records each message it finishes (used to show that shutdown drains work).
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export async function record(msg: { id: number; file: string; ms: number }): Promise<number> {
  await sleep(msg.ms);
  appendFileSync(msg.file, `${msg.id}\n`);
  return msg.id;
}

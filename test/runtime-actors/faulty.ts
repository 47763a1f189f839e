// Test actor for the runtime tests: handlers that echo, keep state, fail in every way a worker can
// fail (throw, process.exit, uncaught async exception), hang, and record what they processed.
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineProtocol, tensorView, type SharedTensor } from '../../protocols/index.js';
import type { ActorContext } from '../../src/runtime/context.js';

let initConfig: unknown = null;
let count = 0;

export function init(config: unknown): void {
  initConfig = config;
}

/** This test actor's own message kind (an app's actor declares its messages the same way). */
export const WeightVersionProtocol = defineProtocol(
  'WeightVersion',
  1,
  z
    .object({
      version: z.number().int().nonnegative(),
      step: z.number().int().nonnegative(),
      checksum: z.number().int().nonnegative(),
      size: z.number().int().nonnegative(),
    })
    .strict(),
);
type WeightVersion = z.infer<typeof WeightVersionProtocol.schema>;

export const accepts = { applyVersion: WeightVersionProtocol };

export async function echo(msg: unknown): Promise<unknown> {
  return msg;
}

export async function whoami(
  _msg: unknown,
  ctx: ActorContext,
): Promise<{ role: string; config: unknown; threadId: number }> {
  return { role: ctx.role, config: initConfig, threadId: ctx.threadId };
}

/** Stateful: a counter that lives as long as the worker. */
export async function increment(): Promise<number> {
  return ++count;
}

export async function applyVersion(msg: WeightVersion): Promise<number> {
  return msg.version;
}

/** Fails the first `failTimes` attempts (counted in shared memory, which survives worker replacement). */
export async function flaky(msg: {
  counter: SharedTensor;
  failTimes: number;
  mode: 'throw' | 'exit' | 'uncaught';
}): Promise<number> {
  const attempt = Atomics.add(tensorView(msg.counter) as Int32Array, 0, 1) + 1;
  if (attempt <= msg.failTimes) {
    if (msg.mode === 'exit') process.exit(3);
    if (msg.mode === 'uncaught') {
      setImmediate(() => {
        throw new Error(`uncaught boom on attempt ${attempt}`);
      });
      return new Promise<number>(() => {});
    }
    throw new Error(`boom on attempt ${attempt}`);
  }
  return attempt;
}

/** Blocks the worker's event loop (like a hung answer checker) for `ms`. */
export async function spin(msg: { ms: number }): Promise<string> {
  const end = Date.now() + msg.ms;
  while (Date.now() < end) {
    // busy: only terminating the worker can stop this
  }
  return 'finished';
}

export async function slow(msg: { ms: number; id: number }): Promise<number> {
  await sleep(msg.ms);
  return msg.id;
}

/** Appends the id to a file after a short delay: proof that an accepted message was processed. */
export async function record(msg: { id: number; file: string; ms: number }): Promise<number> {
  await sleep(msg.ms);
  appendFileSync(msg.file, `${msg.id}\n`);
  return msg.id;
}

/** Answers on a transferred MessagePort (ask's transfer list), then closes it. */
export async function ping(msg: { port: import('node:worker_threads').MessagePort; text: string }): Promise<string> {
  msg.port.postMessage(`pong ${msg.text}`);
  msg.port.close();
  return 'sent';
}

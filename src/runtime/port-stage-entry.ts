// One stage of a PortPipeline: load the actor module, then for each incoming batch call the handler
// on every message and forward the batch of results to the next stage.
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import type { PortStageData } from '../../protocols/envelope.js';

const data = workerData as PortStageData;
try {
  const mod = (await import(pathToFileURL(data.module).href)) as Record<string, unknown>;
  if (typeof mod.init === 'function') await (mod.init as (c: unknown) => unknown)(data.config);
  const handler = mod[data.handler];
  if (typeof handler !== 'function') throw new Error(`no handler '${data.handler}' in ${data.module}`);
  const fn = handler as (m: unknown) => unknown;
  data.input.on('message', async (batch: unknown[]) => {
    const out = new Array<unknown>(batch.length);
    for (let i = 0; i < batch.length; i++) out[i] = await fn(batch[i]);
    data.output.postMessage(out);
  });
  parentPort!.postMessage({ ready: true });
} catch (err) {
  parentPort!.postMessage({ error: (err as Error).message });
}

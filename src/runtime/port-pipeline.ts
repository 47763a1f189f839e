// A lean hot path beside ActorSystem.ask: a chain of actor stages wired worker-to-worker with
// MessagePorts. Messages travel in micro-batches (one postMessage per batch per hop), and each
// stage forwards straight to the next, so the main thread only feeds the head and drains the tail.
// Use it for high-rate tell traffic (per-token or per-completion events); supervision, deadlines
// and retries stay with ActorSystem.ask/tell.
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { resolveActorModule } from './modules.js';
import type { PortStageData } from '../../protocols/envelope.js';

export interface PortStage {
  /** Actor module (same convention as RoleSpec.module). */
  module: string;
  /** Exported handler to call for each message. */
  handler: string;
  config?: unknown;
}

export class PortPipeline {
  private constructor(
    private readonly workers: Worker[],
    private readonly head: MessagePort,
    private readonly tail: MessagePort,
  ) {}

  static async start(stages: PortStage[]): Promise<PortPipeline> {
    if (stages.length === 0) throw new Error('PortPipeline: at least one stage');
    const channels = Array.from({ length: stages.length + 1 }, () => new MessageChannel());
    const entry = fileURLToPath(new URL('./port-stage-entry.js', import.meta.url));
    const workers = stages.map((s, i) => {
      const data: PortStageData = {
        module: resolveActorModule(`stage${i}`, s.module),
        handler: s.handler,
        config: s.config ?? {},
        input: channels[i]!.port2,
        output: channels[i + 1]!.port1,
      };
      return new Worker(entry, { workerData: data, transferList: [data.input, data.output] });
    });
    try {
      await Promise.all(
        workers.map(
          (w, i) =>
            new Promise<void>((res, rej) => {
              w.once('message', (m: { ready?: boolean; error?: string }) =>
                m.ready ? res() : rej(new Error(`PortPipeline stage ${i}: ${m.error}`)),
              );
              w.once('error', rej);
            }),
        ),
      );
    } catch (err) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw err;
    }
    return new PortPipeline(workers, channels[0]!.port1, channels[stages.length]!.port2);
  }

  /**
   * Push a batch in without waiting. The last stage's results come out batch by batch, in the order
   * sent, to the listeners given to onResults (callers doing their own pipelining or matching).
   */
  send(batch: unknown[]): void {
    this.head.postMessage(batch);
  }

  onResults(listener: (results: unknown[]) => void): void {
    this.tail.on('message', listener);
  }

  /** Push a batch through every stage; resolves with the last stage's results (in order). */
  run<R = unknown>(batch: unknown[]): Promise<R[]> {
    return new Promise<R[]>((res) => {
      this.tail.once('message', res);
      this.head.postMessage(batch);
    });
  }

  /**
   * Stream many batches with up to `window` in flight; returns how many results came out. Batches
   * stay in order (every hop is FIFO).
   */
  async stream(batches: unknown[][], window = 8): Promise<number> {
    let sent = 0;
    let received = 0;
    let out = 0;
    await new Promise<void>((resolve) => {
      const onMessage = (results: unknown[]): void => {
        received++;
        out += results.length;
        if (sent < batches.length) this.head.postMessage(batches[sent++]);
        if (received === batches.length) {
          this.tail.off('message', onMessage);
          resolve();
        }
      };
      this.tail.on('message', onMessage);
      while (sent < Math.min(window, batches.length)) this.head.postMessage(batches[sent++]);
    });
    return out;
  }

  async close(): Promise<void> {
    this.head.close();
    this.tail.close();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

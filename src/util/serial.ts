// One call at a time: each call starts when the previous one has settled (a failure does not block
// the next). Engines use it because one KV cache serves every generate call.

export interface SerialQueue {
  /** Runs f after every earlier call has settled; its own result or rejection is returned. */
  run<T>(f: () => Promise<T>): Promise<T>;
  /** Settles when every call made so far has settled. */
  idle(): Promise<void>;
}

export function createSerialQueue(): SerialQueue {
  let tail: Promise<unknown> = Promise.resolve();
  return {
    run<T>(f: () => Promise<T>): Promise<T> {
      const r = tail.then(f);
      tail = r.catch(() => undefined);
      return r;
    },
    idle: () => tail.then(() => undefined),
  };
}

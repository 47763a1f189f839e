// Pacing of Dawn's event polling in Node. While any mapAsync or onSubmittedWorkDone promise is
// pending, Dawn's Node binding (npm `webgpu`) ticks the device from a global setImmediate that
// re-queues itself (AsyncRunner::QueueTick; crbug.com/dawn/1127 is Dawn's own to-do to poll less
// often), so the waiting thread spins a core for the whole wait. On a CPU adapter that core is
// one SwiftShader needs to do the work being waited for: a GPU job of 3.0–3.3 s took 5.0–6.4 s
// when awaited at once on this project's 2-core machines. A GPU's waits are short and its host
// has cores to spare, but N WebLLM actors in one process would keep N cores spinning.
//
// Pacing keeps the binding's loop and spaces it out: a wait's first `spinMs` of ticks still go
// at setImmediate speed (short waits keep their latency), later ones every `pollMs` through
// setTimeout. Only Dawn's ticks are paced: the binding passes a fresh anonymous native function
// and re-queues from inside it, which is how they are told from anyone else's setImmediate.

export interface DawnPacing {
  /** Milliseconds a wait polls at setImmediate speed before polling every pollMs. */
  spinMs: number;
  /** Milliseconds between polls after that (setTimeout's granularity is about 1 ms). */
  pollMs: number;
}

export interface DawnPollCounts {
  /** Ticks run at setImmediate speed. */
  immediate: number;
  /** Ticks delayed by pollMs. */
  paced: number;
}

/** A GPU adapter's waits are short: polling stays at full speed for 20 ms before it is spaced out. */
export const GPU_PACING: DawnPacing = { spinMs: 20, pollMs: 1 };
/** A CPU adapter needs every core: poll at full speed for 0.2 ms, then every millisecond. */
export const CPU_ADAPTER_PACING: DawnPacing = { spinMs: 0.2, pollMs: 1 };

interface PacingState {
  options: DawnPacing;
  counts: DawnPollCounts;
  /** A Dawn tick is running: a setImmediate from inside it continues the same wait. */
  inTick: boolean;
  waitStart: number;
}

let state: PacingState | null = null;

/** Milliseconds a tick may run later than asked before the thread counts as having been busy. */
const BUSY_GAP_MS = 2;

function isDawnTick(fn: unknown): fn is () => void {
  return (
    typeof fn === 'function' &&
    fn.name === '' &&
    fn.length === 0 &&
    Function.prototype.toString.call(fn).endsWith('{ [native code] }')
  );
}

/**
 * Installs pacing on this thread's global setImmediate (once; later calls change the options).
 * Other callers of setImmediate are passed through unchanged.
 */
export function paceDawnPolling(options: DawnPacing = GPU_PACING): void {
  if (!(options.spinMs >= 0) || !(options.pollMs > 0))
    throw new Error(`paceDawnPolling: spinMs must be ≥ 0 and pollMs > 0 (got ${options.spinMs}, ${options.pollMs})`);
  if (state) {
    state.options = { ...options };
    return;
  }
  const s: PacingState = { options: { ...options }, counts: { immediate: 0, paced: 0 }, inTick: false, waitStart: 0 };
  state = s;
  const g = globalThis as unknown as { setImmediate: (fn: (...a: unknown[]) => void, ...a: unknown[]) => unknown };
  const immediate = g.setImmediate;
  g.setImmediate = function pacedSetImmediate(fn: (...a: unknown[]) => void, ...args: unknown[]) {
    if (!isDawnTick(fn)) return immediate(fn, ...args);
    const now = performance.now();
    if (!s.inTick) s.waitStart = now;
    const spin = now - s.waitStart < s.options.spinMs;
    const tick = (): void => {
      // A tick that ran late found the thread busy (encoding the next step while the GPU works): the
      // idle wait, whose first spinMs poll at full speed, starts now.
      const ran = performance.now();
      if (ran - now > (spin ? 0 : s.options.pollMs) + BUSY_GAP_MS) s.waitStart = ran;
      s.inTick = true;
      try {
        fn();
      } finally {
        s.inTick = false;
      }
    };
    if (spin) {
      s.counts.immediate++;
      return immediate(tick);
    }
    s.counts.paced++;
    return setTimeout(tick, s.options.pollMs);
  };
}

/** Dawn ticks run on this thread since pacing was installed (zeros when it is not). */
export function dawnPollCounts(): DawnPollCounts {
  return state ? { ...state.counts } : { immediate: 0, paced: 0 };
}

/** The pacing in force on this thread, or null when none is installed. */
export function dawnPacing(): DawnPacing | null {
  return state ? { ...state.options } : null;
}

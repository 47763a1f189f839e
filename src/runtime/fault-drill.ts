// Fault drills (config `faults`): make the `at`-th call of one actor handler fail on purpose — throw,
// exit the worker thread, or hang until its deadline replaces the worker — to watch a run recover, or
// only delay it (the worker blocks, as a slow or overloaded one would), to check that timing does not
// change the run.
// Each drill's call counter is a SharedArrayBuffer carried in the role's config, so it survives the
// worker being replaced and each drill fires exactly once.

export interface FaultDrill {
  handler: string;
  mode: 'throw' | 'exit' | 'hang' | 'corrupt' | 'delay';
  at: number;
  /** Mode 'delay': how long the call is held up before it runs. */
  delay_ms?: number;
  counter: SharedArrayBuffer;
}

/**
 * Count one call of `handler` in every drill on it (so several drills on one handler — exit at 2,
 * throw at 4 — all see the same call numbers) and return the drill due now, if any.
 */
export function drillDue(
  drills: readonly FaultDrill[] | undefined,
  handler: string,
): { drill: FaultDrill; call: number } | null {
  let due: { drill: FaultDrill; call: number } | null = null;
  for (const d of drills ?? []) {
    if (d.handler !== handler) continue;
    const call = Atomics.add(new Int32Array(d.counter), 0, 1) + 1;
    if (call === d.at && !due) due = { drill: d, call };
  }
  return due;
}

/** Fire the throw / exit / hang / delay drill due for this call of `role.handler` (no-op when none is due). */
export function fireFaultDrill(drills: readonly FaultDrill[] | undefined, role: string, handler: string): void {
  const due = drillDue(drills, handler);
  if (!due) return;
  // Blocks the worker thread (a worker may block; the call then runs as usual).
  if (due.drill.mode === 'delay') {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, due.drill.delay_ms ?? 2000);
    return;
  }
  if (due.drill.mode === 'exit') process.exit(70);
  if (due.drill.mode === 'hang')
    for (;;) {
      /* spins until the deadline replaces this worker */
    }
  throw new Error(`injected fault: ${role}.${handler} call ${due.call}`);
}

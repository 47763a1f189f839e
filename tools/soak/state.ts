// The chaos soak's state (tools/soak.ts): its options, the tally of rounds and faults, the clean
// references each round is compared with, and the load average sampled while it runs.
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/util/rng.js';

export interface SoakOptions {
  minutes: number;
  seed: number;
  stalenessValues: number[];
  out: string | undefined;
}

export interface Tally {
  rounds: number;
  matched: number;
  mismatched: number;
  failed: number;
  kills: number;
  terms: number;
  drillFaults: number;
  delays: number;
  resumes: number;
  segments: number;
}

/** What the soak has learnt so far: the clean references, the counts, the failures. */
export interface SoakState {
  rng: Rng;
  /** The soak's scratch folder: configs, clean runs, chaos-N run folders. */
  work: string;
  t0: number;
  tally: Tally;
  failures: string[];
  /** Rounds whose run folder is kept for diagnosis (mismatched ones): the rest are removed as they finish. */
  kept: Set<number>;
  reference: Map<number, { adapter: Buffer; metrics: string[] }>;
}

export function newSoakState(seed: number): SoakState {
  return {
    rng: new Rng(seed),
    work: mkdtempSync(join(tmpdir(), 'loractor-soak-')),
    t0: Date.now(),
    tally: {
      rounds: 0,
      matched: 0,
      mismatched: 0,
      failed: 0,
      kills: 0,
      terms: 0,
      drillFaults: 0,
      delays: 0,
      resumes: 0,
      segments: 0,
    },
    failures: [],
    kept: new Set<number>(),
    reference: new Map(),
  };
}

export function say(s: SoakState, line: string): void {
  process.stderr.write(`[soak ${((Date.now() - s.t0) / 60000).toFixed(1)} min] ${line}\n`);
}

/** The 1-minute load average every 10 s while the soak runs (recorded next to the results). */
export function sampleLoad(): { samples: number[]; stop(): void } {
  const samples: number[] = [];
  const timer = setInterval(() => samples.push(loadavg()[0]!), 10_000);
  timer.unref(); // a run that fails (a clean reference that does not finish) must still exit
  return { samples, stop: () => clearInterval(timer) };
}

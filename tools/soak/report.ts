// The chaos soak's report (tools/soak.ts): the JSON of its figures, the kept run folders, the summary lines.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import type { SoakOptions, SoakState } from './state.js';

/** The soak's figures, as written to JSON. */
export function soakResult(s: SoakState, o: SoakOptions, stepsPerRun: number, tChaos: number, load: number[]) {
  return {
    minutes: o.minutes,
    seed: o.seed,
    steps_per_run: stepsPerRun,
    wall_s: (Date.now() - s.t0) / 1000,
    chaos_s: (Date.now() - tChaos) / 1000,
    ...s.tally,
    faults_survived: s.tally.kills + s.tally.terms + s.tally.drillFaults,
    load_average_1min: {
      mean: load.reduce((a, b) => a + b, 0) / Math.max(1, load.length),
      max: Math.max(0, ...load),
      samples: load.length,
    },
    failures: s.failures,
  };
}

export type SoakResult = ReturnType<typeof soakResult>;

export function writeSoakResult(out: string | undefined, result: SoakResult): string {
  const file =
    out ?? join(repoRoot(), 'runs', `soak-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}.json`);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  return file;
}

export function removeWorkUnlessKept(s: SoakState): void {
  // A mismatch is kept with the segment configs that produced it (chaos-N and config-*-rN*.json).
  if (s.kept.size === 0) rmSync(s.work, { recursive: true, force: true });
  else
    console.log(
      `soak: kept the run folders of the ${s.kept.size} mismatched round(s) in ${s.work} (chaos-N, with their config-*-rN*.json and each launch's stderr in config-*-rN*.stderr.log)`,
    );
}

export function printSummary(t: SoakResult, file: string): void {
  console.log(
    `soak: ${t.minutes} min, ${t.rounds} chaos run(s) finished: ${t.matched} byte-identical to the clean run, ${t.mismatched} different, ${t.failed} failed`,
  );
  console.log(
    `      faults survived: ${t.faults_survived} (${t.kills} kill -9, ${t.terms} SIGTERM, ${t.drillFaults} injected actor faults) over ${t.segments} launches (${t.resumes} resumes); ${t.delays} delay drills configured`,
  );
  console.log(
    `      load average (1 min): mean ${t.load_average_1min.mean.toFixed(1)}, max ${t.load_average_1min.max.toFixed(1)}; wrote ${file}`,
  );
}

// What `loractor check` found, and how it prints it (split from check.ts, which runs the checks). The
// section checks (check-model.ts, check-data.ts, check-benchmarks.ts) add to one CheckReport and read
// the config's paths with the same rule, so both live here, below every check and the entry alike.
import { formatBytes } from '../config/budget.js';
import { resolveConfigPath } from '../config/paths.js';

/** What check found; `problems` empty = ready. */
export interface CheckReport {
  configFile: string;
  problems: string[];
  warnings: string[];
  /** Lines of progress ("ok ..."), in order. */
  passed: string[];
  memory: { item: string; bytes: number }[];
  /** The time estimate, one line. */
  time?: string;
  datasetRows?: number;
}

/** Same rule as the coordinator: a relative path in the config resolves against the config's folder. */
export function resolvePath(p: string, configFile: string): string {
  return resolveConfigPath(p, configFile);
}

export function formatReport(rep: CheckReport): string {
  const out: string[] = [];
  for (const p of rep.passed) out.push(`  ok   ${p}`);
  if (rep.memory.length) {
    out.push('', '  memory needs:');
    const w = Math.max(...rep.memory.map((m) => m.item.length));
    for (const m of rep.memory) out.push(`    ${m.item.padEnd(w)}  ${formatBytes(m.bytes).padStart(11)}`);
  }
  if (rep.time) out.push('', `  time: ${rep.time}`);
  for (const wn of rep.warnings) out.push(`  warn ${wn}`);
  if (rep.problems.length) {
    out.push('', `NOT READY: ${rep.problems.length} problem(s):`);
    for (const p of rep.problems) out.push(`  - ${p}`);
  } else out.push('', `READY: ${rep.configFile}`);
  return out.join('\n');
}

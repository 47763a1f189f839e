// The run's record files (metrics.jsonl, rollouts.jsonl, eval.jsonl, eval-summary.jsonl) are logs:
// lines are only ever appended, never rewritten or truncated, so nothing a run wrote is lost. A
// resumed run redoes the steps after its checkpoint and appends their records again; a reader keeps
// the LAST record of each key (a step, a trajectory, an evaluated version), as TensorBoard does with
// the events of a restarted run. A line torn by a crash mid-write is skipped.
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const RECORD_FILES = ['metrics.jsonl', 'rollouts.jsonl', 'eval.jsonl', 'eval-summary.jsonl'] as const;

/** Every well-formed record of a JSONL log, in file order (torn or malformed lines skipped). */
export function readRecordLines(path: string): Record<string, unknown>[] {
  if (!existsSync(path)) return [];
  const out: Record<string, unknown>[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      const v = JSON.parse(line) as unknown;
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(v as Record<string, unknown>);
    } catch {
      /* a line torn by a crash mid-write */
    }
  }
  return out;
}

/** The current view of a log: the last record of each key, ordered by where that record stands. */
export function readLatestRecords(
  path: string,
  key: (r: Record<string, unknown>) => string,
): Record<string, unknown>[] {
  const latest = new Map<string, { at: number; r: Record<string, unknown> }>();
  readRecordLines(path).forEach((r, at) => {
    latest.set(key(r), { at, r });
  });
  return [...latest.values()].sort((a, b) => a.at - b.at).map((x) => x.r);
}

/** Keys of the run's logs: metrics by step, trajectories by (step, prompt, sample), evaluations by version. */
export const recordKeys = {
  metrics: (r: Record<string, unknown>) => String(r.step),
  rollouts: (r: Record<string, unknown>) => `${r.step}/${r.prompt_index}/${r.sample_index}`,
  evalSummary: (r: Record<string, unknown>) => String(r.version),
  eval: (r: Record<string, unknown>) => `${r.version}/${r.benchmark}/${r.id}/${r.sample}`,
};

/** Metrics of a run folder, one per step (the last written), in step order. */
export function readStepMetrics(dir: string): Record<string, unknown>[] {
  return readLatestRecords(join(dir, 'metrics.jsonl'), recordKeys.metrics).sort(
    (a, b) => (a.step as number) - (b.step as number),
  );
}

/**
 * End every log whose last line was torn by a crash with a newline, so the next appended record
 * starts on a line of its own (the torn line stays, and readers skip it).
 */
export function terminateTornRecords(dir: string): string[] {
  const fixed: string[] = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.jsonl'))) {
    const path = join(dir, name);
    const size = statSync(path).size;
    if (size === 0) continue;
    const fd = openSync(path, 'r+');
    try {
      const last = Buffer.alloc(1);
      readSync(fd, last, 0, 1, size - 1);
      if (last[0] !== 0x0a) {
        writeSync(fd, '\n', size);
        fixed.push(name);
      }
    } finally {
      closeSync(fd);
    }
  }
  return fixed;
}

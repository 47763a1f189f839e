// Eval outputs: the Tina-style results table, eval.jsonl (one judged completion per line),
// summary.json, and a progress bar on stderr.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EvalProgress, EvalResult } from './runner.js';

const pct = (v: number): string => (100 * v).toFixed(2);

/**
 * A plain-text table like Tina's results: one row per benchmark with pass@1 (%), pass@k when more
 * than one sample was drawn, problem counts and exclusions, then the average row.
 */
export function formatTable(result: EvalResult, title?: string): string {
  const k = result.summaries.reduce((m, s) => Math.max(m, s.samples), 1);
  const head = [
    'benchmark',
    'pass@1 %',
    ...(k > 1 ? [`pass@${k} %`] : []),
    'problems',
    'excluded',
    'samples',
    'truncated %',
  ];
  const rows = result.summaries.map((s) => [
    s.benchmark,
    pct(s.pass_at_1),
    ...(k > 1 ? [s.pass_at_k[String(s.samples)] !== undefined ? pct(s.pass_at_k[String(s.samples)]!) : '–'] : []),
    String(s.problems),
    String(s.excluded),
    String(s.samples),
    pct(s.truncated),
  ]);
  rows.push(['average', pct(result.average_pass_at_1), ...(k > 1 ? [''] : []), '', '', '', '']);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [
    line(head),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.slice(0, -1).map(line),
    widths.map((w) => '-'.repeat(w)).join('  '),
    line(rows.at(-1)!),
  ];
  for (const s of result.summaries) {
    const extra: string[] = [];
    if (s.format_rate !== undefined) extra.push(`format ${pct(s.format_rate)} %`);
    if (s.per_level)
      extra.push(
        'per level ' +
          Object.entries(s.per_level)
            .map(([l, v]) => `L${l} ${pct(v)}`)
            .join(' / '),
      );
    if (extra.length) out.push(`${s.benchmark}: ${extra.join(', ')}`);
  }
  return (title ? title + '\n' : '') + out.join('\n') + '\n';
}

export interface EvalRunMeta {
  model: string;
  adapter: string | null;
  policy_version: number;
  engine: string;
  config: Record<string, unknown>;
}

/** Writes eval.jsonl, summary.json and summary.txt (the table) into dir; returns their paths. */
export function writeEvalOutputs(
  dir: string,
  result: EvalResult,
  meta: EvalRunMeta,
  loadIssues: unknown[] = [],
): string[] {
  mkdirSync(dir, { recursive: true });
  const jsonl = join(dir, 'eval.jsonl');
  writeFileSync(jsonl, result.records.map((r) => JSON.stringify(r)).join('\n') + (result.records.length ? '\n' : ''));
  const summary = join(dir, 'summary.json');
  writeFileSync(
    summary,
    JSON.stringify(
      {
        ...meta,
        average_pass_at_1: result.average_pass_at_1,
        benchmarks: result.summaries,
        excluded: result.excluded,
        load_issues: loadIssues,
      },
      null,
      2,
    ) + '\n',
  );
  const table = join(dir, 'summary.txt');
  writeFileSync(
    table,
    formatTable(
      result,
      `model ${meta.model}${meta.adapter ? ' + adapter ' + meta.adapter : ''} (policy version ${meta.policy_version}, engine ${meta.engine})`,
    ),
  );
  return [jsonl, summary, table];
}

/** A progress bar on stderr (redrawn on a TTY, one line per benchmark start/end otherwise). */
export function createEvalProgress(stream: NodeJS.WriteStream = process.stderr): {
  update(p: EvalProgress): void;
  done(): void;
} {
  const tty = Boolean(stream.isTTY);
  const t0 = Date.now();
  let drawn = false;
  return {
    update(p) {
      const width = 24;
      const filled = p.total ? Math.round((width * p.done) / p.total) : width;
      const line = `${'█'.repeat(filled)}${'░'.repeat(width - filled)} ${p.benchmark} ${p.done}/${p.total} (${((Date.now() - t0) / 1000).toFixed(0)} s)`;
      if (tty) {
        stream.write('\r\x1b[2K' + line);
        drawn = true;
      } else if (p.done === 0 || p.done === p.total) {
        stream.write(line + '\n');
      }
    },
    done() {
      if (tty && drawn) stream.write('\r\x1b[2K');
      drawn = false;
    },
  };
}

// Runs fuzz cases in a worker thread, one at a time, each under a deadline. A case that does not
// answer in time is a hang (the worker is terminated and replaced); a worker that dies is a crash.
// Then each outcome is judged: an Error must name the file/field/line and must not be a bare
// built-in TypeError/RangeError from deep inside; a skip must say where the skipped record was.
import { Worker } from 'node:worker_threads';
import type { FuzzCase, RawOutcome, Verdict } from './types.js';

export interface CaseResult {
  c: FuzzCase;
  out?: RawOutcome;
  verdict: Verdict;
  /** Why the verdict is not what the case expects ('' when it is). */
  problem: string;
}

const INTERNAL = /^(TypeError|RangeError|ReferenceError|SyntaxError|EvalError|AggregateError)$/;
// Messages of JavaScript engine errors: fine inside a message that explains them, never alone.
const ENGINE_MESSAGE =
  /^(Cannot read properties|Cannot convert|Cannot destructure|\S+ is not a function|\S+ is not iterable|\S+ is not defined|Invalid array length|Maximum call stack|Offset is outside|Unexpected (token|end of JSON))/;

export function judge(c: FuzzCase, out: RawOutcome): { verdict: Verdict; problem: string } {
  let verdict: Verdict;
  let why = '';
  if (out.kind === 'threw') {
    const missing = c.mustName.filter((s) => !out.message.includes(s));
    if (INTERNAL.test(out.name)) {
      verdict = 'unclear-error';
      why = `bare ${out.name}`;
    } else if (ENGINE_MESSAGE.test(out.message)) {
      verdict = 'unclear-error';
      why = 'an engine error message with no context';
    } else if (missing.length) {
      verdict = 'unclear-error';
      why = `message does not name ${JSON.stringify(missing)}`;
    } else verdict = 'error';
  } else if (out.skips.length > 0) {
    const bad = out.skips.find((s) => !s.file || !(s.line >= 1) || !s.message);
    if (bad) {
      verdict = 'unclear-error';
      why = `a skip without file/line/message: ${JSON.stringify(bad)}`;
    } else if (c.goodRows !== undefined && out.rows !== c.goodRows) {
      verdict = 'unclear-error';
      why = `${out.rows} rows kept, expected the ${c.goodRows} good ones`;
    } else verdict = 'skip';
  } else verdict = c.expect === 'tolerated' ? 'tolerated' : 'accepted';
  const want: Verdict = c.expect;
  const problem = verdict === want ? '' : `expected ${c.expect}, got ${verdict}${why ? ` (${why})` : ''}`;
  return { verdict, problem };
}

export async function runCases(cases: FuzzCase[], opts: { deadlineMs: number; workerUrl: URL }): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  let worker: Worker | null = null;
  // A fresh worker loads all loaders first (about a second); case deadlines start once it says so.
  const spawn = (): Promise<Worker> =>
    new Promise((resolve, reject) => {
      const w = new Worker(opts.workerUrl, { resourceLimits: { maxOldGenerationSizeMb: 1536 } });
      const timer = setTimeout(() => {
        void w.terminate();
        reject(new Error('fuzz worker did not start within 60 s'));
      }, 60_000);
      w.once('message', () => {
        clearTimeout(timer);
        resolve(w);
      });
      w.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  for (const c of cases) {
    worker ??= await spawn();
    const w = worker;
    const r = await new Promise<{ out?: RawOutcome; fail?: Verdict; detail?: string }>((resolve) => {
      const timer = setTimeout(
        () => finish({ fail: 'hang', detail: `no answer within ${opts.deadlineMs} ms` }),
        opts.deadlineMs,
      );
      const onMsg = (m: { id: number; out: RawOutcome }): void => {
        if (m.id === c.id) finish({ out: m.out });
      };
      const onErr = (e: Error): void => finish({ fail: 'crash', detail: `worker error: ${e.message}` });
      const onExit = (code: number): void => finish({ fail: 'crash', detail: `worker exited with code ${code}` });
      function finish(v: { out?: RawOutcome; fail?: Verdict; detail?: string }): void {
        clearTimeout(timer);
        w.off('message', onMsg);
        w.off('error', onErr);
        w.off('exit', onExit);
        resolve(v);
      }
      w.on('message', onMsg);
      w.on('error', onErr);
      w.on('exit', onExit);
      w.postMessage(c);
    });
    if (r.out) {
      const j = judge(c, r.out);
      results.push({ c, out: r.out, ...j });
    } else {
      results.push({ c, verdict: r.fail!, problem: `${r.fail}: ${r.detail}` });
      await w.terminate().catch(() => undefined);
      worker = null;
    }
  }
  await worker?.terminate();
  return results;
}

/** category × verdict counts as aligned text rows. */
export function summaryTable(results: CaseResult[]): string {
  const cols: Verdict[] = ['error', 'skip', 'tolerated', 'accepted', 'unclear-error', 'hang', 'crash'];
  const cats = [...new Set(results.map((r) => r.c.category))];
  const rows = cats.map((cat) => {
    const rs = results.filter((r) => r.c.category === cat);
    return [cat, ...cols.map((v) => String(rs.filter((r) => r.verdict === v).length)), String(rs.length)];
  });
  rows.push([
    'total',
    ...cols.map((v) => String(results.filter((r) => r.verdict === v).length)),
    String(results.length),
  ]);
  const head = ['category', ...cols, 'cases'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]): string => r.map((x, i) => (i === 0 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join('  ');
  return [fmt(head), ...rows.map(fmt)].join('\n');
}

// The live dashboard of a training run (`--dashboard[=PORT]`): one page with the report's charts,
// redrawn as each step lands, the actor table (workers, queue depth, in-flight messages, restarts,
// last events, policy version, sync latency) and the recent completions with their rewards.
// Server-sent events carry the run's streams (metrics$, evals, trajectories) to the page; the page
// draws with charts.ts, the same module report.html is rendered with. Read-only: GET and HEAD only,
// nothing on the page changes the run. Binds 127.0.0.1 unless told otherwise.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { EvalSummary, StepMetrics } from './metrics.js';
import { CHART_CSS } from './charts.js';

export interface ActorRow {
  role: string;
  threads: number;
  workers: number;
  inFlight: number;
  queued: number;
  restarts: number;
  /** Policy version this actor last applied (readers of the weight store; the learner's is the published one). */
  policyVersion?: number;
  /** Latency of the sync that applied that version, ms (rollout actors). */
  syncLatencyMs?: number;
  lastEvents: string[];
}

/** A completion as the dashboard lists it (a rollouts.jsonl record, possibly with other fields). */
export interface CompletionRow {
  step: number;
  actor?: string;
  sync_latency_ms?: number;
  policy_version: number;
  reward: number;
  rewards: Record<string, number | null>;
  advantage: number;
  text: string;
}

export interface DashboardOptions {
  port: number;
  host?: string;
  title: string;
  totalSteps: number;
  /** Called about once a second while a page is open, and on each step. */
  actors(): ActorRow[];
  /** Records already there (a resumed run). */
  metrics?: StepMetrics[];
  evals?: EvalSummary[];
  /** Completions kept for the table. Default 64. */
  keepCompletions?: number;
}

export interface Dashboard {
  readonly url: string;
  step(m: StepMetrics): void;
  evaluated(e: EvalSummary): void;
  completions(records: readonly CompletionRow[]): void;
  /** Tell open pages the run ended, then stop serving. */
  close(): Promise<void>;
}

const CHART_MODULES = new Set(['charts.js', 'svg-chart.js', 'metrics.js']);

/** What the server and the returned Dashboard share: the run's records so far and the open event streams. */
interface DashboardState {
  o: DashboardOptions;
  metrics: StepMetrics[];
  evals: EvalSummary[];
  recent: CompletionRow[];
  keep: number;
  clients: Set<ServerResponse>;
  startedAt: number;
}

export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const st: DashboardState = {
    o,
    metrics: [...(o.metrics ?? [])],
    evals: [...(o.evals ?? [])],
    recent: [],
    keep: o.keepCompletions ?? 64,
    clients: new Set<ServerResponse>(),
    startedAt: Date.now(),
  };
  const server = createServer((req, res) => handleRequest(st, req, res));
  const timer = setInterval(() => {
    if (st.clients.size) send(st, 'actors', o.actors());
  }, 1000);
  timer.unref();
  await listen(server, o);
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}/`,
    step: (m) => onStep(st, m),
    evaluated: (e) => onEval(st, e),
    completions: (records) => onCompletions(st, records),
    close: () => closeDashboard(st, server, timer),
  };
}

function snapshot(st: DashboardState) {
  return {
    title: st.o.title,
    totalSteps: st.o.totalSteps,
    startedAt: st.startedAt,
    metrics: st.metrics,
    evals: st.evals,
    completions: st.recent,
    actors: st.o.actors(),
  };
}

/** One server-sent event to every open page. */
function send(st: DashboardState, event: string, data: unknown): void {
  const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
  for (const c of st.clients) c.write(frame);
}

function handleRequest(st: DashboardState, req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('read-only dashboard\n');
    return;
  }
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (path === '/') {
    res
      .writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      .end(req.method === 'HEAD' ? undefined : PAGE);
  } else if (path === '/state.json') {
    res
      .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      .end(JSON.stringify(snapshot(st)));
  } else if (path.startsWith('/report/') && CHART_MODULES.has(path.slice(8))) {
    // The compiled chart modules, next to this file: the browser runs the code report.html was drawn with.
    const js = readFileSync(fileURLToPath(new URL(`./${path.slice(8)}`, import.meta.url)), 'utf8');
    res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' }).end(js);
  } else if (path === '/favicon.ico') {
    res.writeHead(204).end(); // no icon; a 404 would be a console error on every load
  } else if (path === '/events') {
    openEventStream(st, req, res);
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  }
}

/** /events: the snapshot first, then every event until the page goes away. */
function openEventStream(st: DashboardState, req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-store',
    connection: 'keep-alive',
  });
  res.write(`event: snapshot\ndata: ${JSON.stringify(snapshot(st))}\n\n`);
  st.clients.add(res);
  req.on('close', () => st.clients.delete(res));
}

function listen(server: Server, o: DashboardOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`dashboard: cannot listen on ${o.host ?? '127.0.0.1'}:${o.port} (${err.code ?? err.message})`)),
    );
    server.listen(o.port, o.host ?? '127.0.0.1', () => resolve());
  });
}

function onStep(st: DashboardState, m: StepMetrics): void {
  st.metrics.push(m);
  send(st, 'step', m);
  send(st, 'actors', st.o.actors());
}

function onEval(st: DashboardState, e: EvalSummary): void {
  st.evals.push(e);
  send(st, 'eval', e);
}

function onCompletions(st: DashboardState, records: readonly CompletionRow[]): void {
  st.recent.push(...records);
  st.recent.splice(0, Math.max(0, st.recent.length - st.keep));
  send(st, 'completions', records.slice(-st.keep));
}

async function closeDashboard(
  st: DashboardState,
  server: Server,
  timer: ReturnType<typeof setInterval>,
): Promise<void> {
  clearInterval(timer);
  send(st, 'done', { steps: st.metrics.length });
  for (const c of st.clients) c.end();
  st.clients.clear();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections(); // keep-alive sockets would hold close() open
  await closed;
}

// The page. Tables are built with DOM nodes and textContent (completion text is model output).
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>loractor dashboard</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#222;max-width:1500px}
h1{font-size:19px;margin:0 0 6px} h2{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:4px 0 10px} td,th{border:1px solid #ddd;padding:2px 7px;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums} #status{color:#555} .done{color:#27ae60}
td.text{max-width:640px;white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:12px}
${CHART_CSS}
</style></head>
<body>
<h1 id="title">loractor</h1>
<p id="status">connecting…</p>
<h2>Actors</h2>
<table id="actors"><thead><tr><th>role</th><th>workers</th><th>queue</th><th>in flight</th><th>restarts</th><th>policy version</th><th>sync ms</th><th>last events</th></tr></thead><tbody></tbody></table>
<h2>Curves <label style="font-weight:normal;font-size:13px"><input type="checkbox" id="smooth-only"> smoothed only</label></h2>
<div class="charts" id="charts"></div>
<h2>Recent completions</h2>
<table id="completions"><thead><tr><th>step</th><th>actor</th><th>version</th><th>reward</th><th>rewards</th><th>advantage</th><th>completion</th></tr></thead><tbody></tbody></table>
<script type="module">
import { renderCharts } from '/report/charts.js';
const state = { metrics: [], evals: [], completions: [], actors: [], totalSteps: 0, startedAt: Date.now() };
const $ = (id) => document.getElementById(id);
const fmt = (v, d = 3) => (typeof v === 'number' && Number.isFinite(v) ? (Math.abs(v) >= 1000 ? v.toFixed(0) : Number(v.toPrecision(d + 1)).toString()) : '–');
const dur = (s) => (s < 60 ? s.toFixed(0) + 's' : Math.floor(s / 60) + 'm' + String(Math.round(s % 60)).padStart(2, '0') + 's');
function row(tbody, cells) {
  const tr = document.createElement('tr');
  for (const [text, cls] of cells) { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); }
  tbody.appendChild(tr);
}
function drawStatus(done) {
  const last = state.metrics[state.metrics.length - 1];
  const step = last ? last.step : 0;
  const elapsed = last && typeof last.elapsed_s === 'number' ? last.elapsed_s : (Date.now() - state.startedAt) / 1000;
  const eta = step > 0 ? (elapsed / step) * (state.totalSteps - step) : NaN;
  const s = $('status');
  s.textContent = (done ? 'finished: ' : '') + 'step ' + step + ' / ' + state.totalSteps + ' · elapsed ' + dur(elapsed) + (done ? '' : ' · ETA ' + (Number.isFinite(eta) ? dur(eta) : '–')) +
    (last ? ' · reward ' + fmt(last.reward) + ' · policy v' + fmt(last.policy_version, 0) : '');
  s.dataset.step = String(step);
  s.className = done ? 'done' : '';
}
function drawCharts() {
  const r = renderCharts(state.metrics, state.evals);
  $('charts').innerHTML = r.figures.join('');
}
function drawActors() {
  const tb = $('actors').tBodies[0]; tb.replaceChildren();
  for (const a of state.actors) row(tb, [[a.role], [String(a.workers) + ' / ' + a.threads, 'num'], [String(a.queued), 'num'], [String(a.inFlight), 'num'], [String(a.restarts), 'num'],
    [a.policyVersion === undefined ? '–' : 'v' + a.policyVersion, 'num'], [a.syncLatencyMs === undefined ? '–' : fmt(a.syncLatencyMs, 2), 'num'], [a.lastEvents.join(', ')]]);
  $('actors').dataset.roles = state.actors.map((a) => a.role).join(',');
}
function drawCompletions() {
  const tb = $('completions').tBodies[0]; tb.replaceChildren();
  for (const c of state.completions.slice(-24).reverse()) row(tb, [[String(c.step), 'num'], [c.actor ?? '–'], ['v' + c.policy_version, 'num'], [fmt(c.reward), 'num'],
    [Object.entries(c.rewards || {}).map(([k, v]) => k + ' ' + fmt(v)).join(', ')], [fmt(c.advantage), 'num'], [String(c.text).slice(0, 400), 'text']]);
}
const es = new EventSource('/events');
const on = (name, f) => es.addEventListener(name, (e) => { f(JSON.parse(e.data)); });
on('snapshot', (s) => { Object.assign(state, s); $('title').textContent = s.title; drawStatus(false); drawCharts(); drawActors(); drawCompletions(); });
on('step', (m) => { state.metrics.push(m); drawStatus(false); drawCharts(); });
on('eval', (e) => { state.evals.push(e); drawCharts(); });
on('actors', (a) => { state.actors = a; drawActors(); });
on('completions', (c) => { state.completions.push(...c); state.completions.splice(0, Math.max(0, state.completions.length - 64)); drawCompletions(); });
on('done', () => { es.close(); drawStatus(true); });
$('smooth-only').addEventListener('change', (e) => document.body.classList.toggle('smooth-only', e.target.checked));
</script>
</body></html>
`;

// npm run soak [-- --minutes 30] [--seed N] [--out FILE.json]: the chaos soak (not in CI). For the
// given time it trains the tiny model again and again under fire — random fault drills in every actor
// role (a worker that throws or exits, a learner dying around its commit, a corrupted adapter publish,
// a reward worker dying), kill -9 and SIGTERM at random moments after a checkpoint, each time followed
// by --resume — and checks that every finished run ends with an adapter byte-identical to a clean run
// of the same config, and the same per-step metrics. It prints the number of faults survived and
// writes the figures to runs/soak-<time>.json. Exit 0 when every run matched, 1 otherwise.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scriptOptions } from '../src/cli/standard-flags.js';
import { repoRoot } from '../src/util/paths.js';
import { readStepMetrics } from '../src/report/records.js';
import { printSummary, removeWorkUnlessKept, soakResult, writeSoakResult } from './soak/report.js';
import { newSoakState, type SoakOptions, type SoakState, sampleLoad, say } from './soak/state.js';

const root = repoRoot();
const main = join(root, 'dist', 'main.js');
const STEPS = 6;
const TIMING = /^(time\/|elapsed_s$|.*tokens_per_s$|.*time_to_first_token_s$|sync\/latency_s$)/;

// biome-ignore lint/suspicious/noExplicitAny: config JSON edited freely by path (c.grpo.x = …) in tests and drills
type Json = Record<string, any>;

function config(staleness: number): Json {
  const base = JSON.parse(readFileSync(join(root, 'configs', 'default.json'), 'utf8')) as Json;
  delete base.$schema;
  return {
    ...base,
    model: { ...base.model, path: join(root, 'models', 'tiny') },
    run: { ...base.run, max_steps: STEPS, checkpoint_every: 1 },
    grpo: {
      ...base.grpo,
      max_steps: STEPS,
      prompts_per_step: 4,
      num_generations: 4,
      per_device_train_batch_size: 16,
      max_staleness: staleness,
    },
    eval: { ...base.eval, synthetic_count: 8, batch_size: 8, eval_steps: 3, eval_before_training: true },
    // A loaded machine must not turn slow scoring into reward failures (those change the results).
    rewards: { ...base.rewards, reward_timeout_s: 300 },
  };
}

// Drills that a run recovers from exactly (test/e2e/faults.test.ts shows each leaves the results unchanged),
// and delays (a slow or overloaded worker: test/e2e/resume.test.ts shows timing leaves an async run
// unchanged). Not here: a reward function that throws ('reward' 'scoreItem' 'throw'), because that is
// the item's verdict (scored the failure value and quarantined, never retried) and which completion it
// hits depends on which reward worker takes which item: a run with it legitimately differs.
const DELAYS: Json[] = [
  { role: 'rollout', handler: 'generate', mode: 'delay' },
  { role: 'learner', handler: 'trainStep', mode: 'delay' },
  { role: 'reward', handler: 'scoreItem', mode: 'delay' },
  { role: 'evaluator', handler: 'evaluate', mode: 'delay' },
];
const DRILLS: Json[] = [
  ...DELAYS,
  { role: 'rollout', handler: 'generate', mode: 'exit' },
  { role: 'rollout', handler: 'generate', mode: 'throw' },
  { role: 'advantage', handler: 'computeAdvantages', mode: 'throw' },
  { role: 'advantage', handler: 'computeAdvantages', mode: 'exit' },
  { role: 'learner', handler: 'trainStep', mode: 'exit' },
  { role: 'learner', handler: 'trainStep', mode: 'throw' },
  { role: 'learner', handler: 'afterPublish', mode: 'exit' },
  { role: 'learner', handler: 'afterCommit', mode: 'throw' },
  { role: 'learner', handler: 'publish', mode: 'corrupt' },
  { role: 'reward', handler: 'scoreItem', mode: 'exit' },
  { role: 'evaluator', handler: 'evaluate', mode: 'throw' },
  { role: 'evaluator', handler: 'evaluate', mode: 'exit' },
];
// One line of stderr per fault the run survived (a drill that fired, a rejected corrupted version).
const FAULT_LINE = /actor event: (crash|handler-error) in |rejected version \d+/g;

interface Segment {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function launch(args: string[], killAt: ((stop: (sig: NodeJS.Signals) => void) => void) | null): Promise<Segment> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [main, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
    killAt?.((sig) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    });
  });
}

const newestCheckpoint = (dir: string): number =>
  existsSync(dir)
    ? Math.max(
        0,
        ...readdirSync(dir)
          .filter((n) => /^checkpoint-\d+$/.test(n) && existsSync(join(dir, n, 'manifest.json')))
          .map((n) => Number(n.slice(11))),
      )
    : 0;

const deterministic = (dir: string) =>
  readStepMetrics(dir).map((m) =>
    JSON.stringify(Object.fromEntries(Object.entries(m).filter(([k]) => !TIMING.test(k) && k !== 'sync_rejected'))),
  );

function parseSoakOptions(): SoakOptions {
  const { values } = scriptOptions({
    name: 'soak',
    help: `usage: node dist/tools/soak.js [--minutes 30] [--seed 1] [--staleness 0,1] [--out FILE]   (npm run soak)
  Chaos soak of the training job: rounds of fault drills, kill -9, SIGTERM and resume on the default
  config, each compared with a clean run (final adapter and metrics); a table and JSON at the end.
  --staleness: the grpo.max_staleness values the rounds alternate over (0 = sync, 1 = async).`,
    options: {
      minutes: { type: 'string', default: '30' },
      seed: { type: 'string', default: '1' },
      staleness: { type: 'string', default: '0,1' },
      out: { type: 'string' },
    },
  });
  const stalenessValues = values.staleness.split(',').map(Number);
  if (stalenessValues.length === 0 || stalenessValues.some((k) => !Number.isInteger(k) || k < 0))
    throw new Error(`--staleness: expected comma-separated non-negative integers, got '${values.staleness}'`);
  const minutes = Number(values.minutes);
  if (!(minutes > 0)) throw new Error(`--minutes: expected a positive number, got '${values.minutes}'`);
  return { minutes, seed: Number(values.seed), stalenessValues, out: values.out };
}

function compare(s: SoakState, round: number, staleness: number, segments: number, kills: number): void {
  const out = join(s.work, `chaos-${round}`);
  const ref = s.reference.get(staleness)!;
  const same = readFileSync(join(out, `checkpoint-${STEPS}`, 'adapter_model.safetensors')).equals(ref.adapter);
  const sameMetrics = JSON.stringify(deterministic(out)) === JSON.stringify(ref.metrics);
  if (same && sameMetrics) s.tally.matched++;
  else {
    s.tally.mismatched++;
    s.kept.add(round);
    s.failures.push(
      `round ${round}: ${same ? '' : 'adapter differs from the clean run; '}${sameMetrics ? '' : 'metrics differ from the clean run'}`,
    );
  }
  say(
    s,
    `round ${round} (max_staleness ${staleness}): ${segments} launch(es), ${kills} interruption(s): final adapter ${same ? 'byte-identical' : 'DIFFERENT'}, metrics ${sameMetrics ? 'equal' : 'DIFFERENT'}`,
  );
}

async function runCleanReferences(s: SoakState, stalenessValues: number[]): Promise<void> {
  for (const staleness of stalenessValues) {
    const cfgPath = join(s.work, `config-${staleness}.json`);
    writeFileSync(cfgPath, JSON.stringify(config(staleness), null, 2));
    const clean = join(s.work, `clean-${staleness}`);
    const r = await launch([`--actors=${cfgPath}`, '--out', clean], null);
    if (r.code !== 0)
      throw new Error(`the clean reference run (max_staleness ${staleness}) failed: ${r.stderr.slice(-800)}`);
    s.reference.set(staleness, {
      adapter: readFileSync(join(clean, `checkpoint-${STEPS}`, 'adapter_model.safetensors')),
      metrics: deterministic(clean),
    });
    say(s, `clean reference run, max_staleness ${staleness}: done`);
  }
}

/** One launch of a chaos round: the round, its run folder, which launch this is, interruptions so far. */
interface SegmentPlace {
  round: number;
  staleness: number;
  out: string;
  seg: number;
  kills: number;
}

/** This launch's drills (0 to 2, each at a random step), written with the config it runs; the config's path. */
function writeSegmentConfig(s: SoakState, p: SegmentPlace): string {
  // (In async mode a corrupted version that the learner has already replaced by the next one cannot be
  // republished, and a rollout that needs it stops the run: the corrupt drill runs in sync mode only.)
  const pool = p.staleness > 0 ? DRILLS.filter((d) => d.mode !== 'corrupt') : DRILLS;
  const drills = Array.from({ length: s.rng.int(3) }, () => {
    const d: Json = { ...pool[s.rng.int(pool.length)]!, at: 1 + s.rng.int(4) };
    if (d.mode === 'delay') d.delay_ms = 500 + s.rng.int(3500);
    return d;
  });
  // Delays leave no trace on stderr: counted as configured (each fires when its call is reached).
  s.tally.delays += drills.filter((d) => d.mode === 'delay').length;
  const segCfg = join(s.work, `config-${p.staleness}-r${p.round}s${p.seg}.json`);
  writeFileSync(segCfg, JSON.stringify({ ...config(p.staleness), faults: drills }, null, 2));
  return segCfg;
}

/** Stops the run with sig extraMs after a checkpoint newer than `from` is sealed in out. */
function killAfterCheckpoint(out: string, from: number, sig: NodeJS.Signals, extraMs: number) {
  return (stop: (sig: NodeJS.Signals) => void): void => {
    const poll = setInterval(() => {
      if (newestCheckpoint(out) > from) {
        clearInterval(poll);
        setTimeout(() => stop(sig), extraMs);
      }
    }, 50);
    poll.unref();
  };
}

type SegmentOutcome = 'interrupted' | 'failed' | 'finished';

/** How a launch ended, counted in the tally: killed or stopped (to resume), failed, or finished. */
function segmentOutcome(s: SoakState, p: SegmentPlace, r: Segment, sig: NodeJS.Signals): SegmentOutcome {
  if (r.signal === 'SIGKILL' || r.signal === 'SIGTERM') {
    sig === 'SIGKILL' ? s.tally.kills++ : s.tally.terms++;
    return 'interrupted';
  }
  if (r.code === 143) {
    s.tally.terms++;
    if (!/interrupted at step \d+ by SIGTERM; --resume/.test(r.stderr))
      s.failures.push(`round ${p.round}: SIGTERM exit without the resume hint`);
    return 'interrupted';
  }
  if (r.code !== 0) {
    s.tally.failed++;
    s.failures.push(`round ${p.round} segment ${p.seg}: exit ${r.code}: ${r.stderr.slice(-600)}`);
    say(s, `round ${p.round}: FAILED (exit ${r.code}) — ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    return 'failed';
  }
  return 'finished';
}

/** One launch of the round's run (fresh or --resume) with random drills and perhaps an interruption. */
async function runSegment(s: SoakState, p: SegmentPlace): Promise<SegmentOutcome> {
  const resume = p.seg > 0 ? ['--resume', p.out] : ['--out', p.out];
  const segCfg = writeSegmentConfig(s, p);
  // Up to four interruptions a round, each once a checkpoint newer than the resume point is sealed.
  const interrupt = p.kills < 4 && s.rng.next() < 0.8;
  const from = newestCheckpoint(p.out);
  const sig: NodeJS.Signals = s.rng.next() < 0.75 ? 'SIGKILL' : 'SIGTERM';
  const extraMs = s.rng.int(6000);
  const r = await launch(
    [`--actors=${segCfg}`, ...resume],
    interrupt ? killAfterCheckpoint(p.out, from, sig, extraMs) : null,
  );
  // The segment's stderr beside its config: a mismatched round keeps both for diagnosis.
  writeFileSync(segCfg.replace(/\.json$/, '.stderr.log'), r.stderr);
  s.tally.segments++;
  if (p.seg > 0) s.tally.resumes++;
  s.tally.drillFaults += (r.stderr.match(FAULT_LINE) ?? []).length;
  return segmentOutcome(s, p, r, sig);
}

/** Launches and resumes one run until it finishes (then compared with the clean run) or fails. */
async function runChaosRound(s: SoakState, round: number, staleness: number): Promise<void> {
  const p: SegmentPlace = { round, staleness, out: join(s.work, `chaos-${round}`), seg: 0, kills: 0 };
  for (; ; p.seg++) {
    // Killed after sealing its last checkpoint (while writing the report): the run is complete.
    if (p.seg > 0 && newestCheckpoint(p.out) >= STEPS) {
      compare(s, round, staleness, p.seg, p.kills);
      return;
    }
    const outcome = await runSegment(s, p);
    if (outcome === 'interrupted') {
      p.kills++;
      continue;
    }
    if (outcome === 'finished') compare(s, round, staleness, p.seg + 1, p.kills);
    return;
  }
}

/** Chaos rounds until the deadline, alternating over the staleness values; returns when the chaos began. */
async function runChaosRounds(s: SoakState, o: SoakOptions): Promise<number> {
  const deadline = Date.now() + o.minutes * 60_000;
  const tChaos = Date.now();
  for (let round = 0; Date.now() < deadline; round++) {
    await runChaosRound(s, round, o.stalenessValues[round % o.stalenessValues.length]!);
    s.tally.rounds++;
    if (!s.kept.has(round)) rmSync(join(s.work, `chaos-${round}`), { recursive: true, force: true });
  }
  return tChaos;
}

async function main_(): Promise<number> {
  const o = parseSoakOptions();
  const s = newSoakState(o.seed);
  const load = sampleLoad();
  // The clean reference runs first (one per max_staleness); the chaos time starts after them. A round
  // under way when the time is up runs to its end, so every round is compared.
  await runCleanReferences(s, o.stalenessValues);
  const tChaos = await runChaosRounds(s, o);
  load.stop();
  const result = soakResult(s, o, STEPS, tChaos, load.samples);
  const file = writeSoakResult(o.out, result);
  removeWorkUnlessKept(s);
  printSummary(result, file);
  return s.failures.length === 0 && s.tally.matched > 0 ? 0 : 1;
}

main_().then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    console.error(`soak: ${err.message}`);
    process.exitCode = 1;
  },
);

// npm run soak [-- --minutes 30] [--seed N] [--out FILE.json]: the chaos soak (not in CI). For the
// given time it trains the tiny model again and again under fire — random fault drills in every actor
// role (a worker that throws or exits, a learner dying around its commit, a corrupted adapter publish,
// a reward worker dying), kill -9 and SIGTERM at random moments after a checkpoint, each time followed
// by --resume — and checks that every finished run ends with an adapter byte-identical to a clean run
// of the same config, and the same per-step metrics. It prints the number of faults survived and
// writes the figures to runs/soak-<time>.json. Exit 0 when every run matched, 1 otherwise.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { scriptOptions } from '../src/cli/standard-flags.js';
import { repoRoot } from '../src/util/paths.js';
import { Rng } from '../src/util/rng.js';
import { readStepMetrics } from '../src/report/records.js';

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

async function main_(): Promise<number> {
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
  const rng = new Rng(Number(values.seed));
  const work = mkdtempSync(join(tmpdir(), 'loractor-soak-'));
  const t0 = Date.now();
  const load: number[] = [];
  const loadTimer = setInterval(() => load.push(loadavg()[0]!), 10_000);
  const tally = {
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
  };
  const failures: string[] = [];
  /** Rounds whose run folder is kept for diagnosis (mismatched ones): the rest are removed as they finish. */
  const kept = new Set<number>();
  const reference = new Map<number, { adapter: Buffer; metrics: string[] }>();
  const say = (s: string): void => {
    process.stderr.write(`[soak ${((Date.now() - t0) / 60000).toFixed(1)} min] ${s}\n`);
  };

  const compare = (round: number, staleness: number, segments: number, kills: number): void => {
    const out = join(work, `chaos-${round}`);
    const ref = reference.get(staleness)!;
    const same = readFileSync(join(out, `checkpoint-${STEPS}`, 'adapter_model.safetensors')).equals(ref.adapter);
    const sameMetrics = JSON.stringify(deterministic(out)) === JSON.stringify(ref.metrics);
    if (same && sameMetrics) tally.matched++;
    else {
      tally.mismatched++;
      kept.add(round);
      failures.push(
        `round ${round}: ${same ? '' : 'adapter differs from the clean run; '}${sameMetrics ? '' : 'metrics differ from the clean run'}`,
      );
    }
    say(
      `round ${round} (max_staleness ${staleness}): ${segments} launch(es), ${kills} interruption(s): final adapter ${same ? 'byte-identical' : 'DIFFERENT'}, metrics ${sameMetrics ? 'equal' : 'DIFFERENT'}`,
    );
  };
  // The clean reference runs first (one per max_staleness); the chaos time starts after them. A round
  // under way when the time is up runs to its end, so every round is compared.
  for (const staleness of stalenessValues) {
    const cfgPath = join(work, `config-${staleness}.json`);
    writeFileSync(cfgPath, JSON.stringify(config(staleness), null, 2));
    const clean = join(work, `clean-${staleness}`);
    const r = await launch([`--actors=${cfgPath}`, '--out', clean], null);
    if (r.code !== 0)
      throw new Error(`the clean reference run (max_staleness ${staleness}) failed: ${r.stderr.slice(-800)}`);
    reference.set(staleness, {
      adapter: readFileSync(join(clean, `checkpoint-${STEPS}`, 'adapter_model.safetensors')),
      metrics: deterministic(clean),
    });
    say(`clean reference run, max_staleness ${staleness}: done`);
  }
  const deadline = Date.now() + minutes * 60_000;
  const tChaos = Date.now();
  for (let round = 0; Date.now() < deadline; round++) {
    const staleness = stalenessValues[round % stalenessValues.length]!;
    const out = join(work, `chaos-${round}`);
    let kills = 0;
    let finished = false;
    for (let seg = 0; !finished; seg++) {
      // Killed after sealing its last checkpoint (while writing the report): the run is complete.
      if (seg > 0 && newestCheckpoint(out) >= STEPS) {
        finished = true;
        compare(round, staleness, seg, kills);
        break;
      }
      const resume = seg > 0 ? ['--resume', out] : ['--out', out];
      // (In async mode a corrupted version that the learner has already replaced by the next one cannot be
      // republished, and a rollout that needs it stops the run: the corrupt drill runs in sync mode only.)
      const pool = staleness > 0 ? DRILLS.filter((d) => d.mode !== 'corrupt') : DRILLS;
      const drills = Array.from({ length: rng.int(3) }, () => {
        const d: Json = { ...pool[rng.int(pool.length)]!, at: 1 + rng.int(4) };
        if (d.mode === 'delay') d.delay_ms = 500 + rng.int(3500);
        return d;
      });
      // Delays leave no trace on stderr: counted as configured (each fires when its call is reached).
      tally.delays += drills.filter((d) => d.mode === 'delay').length;
      const segCfg = join(work, `config-${staleness}-r${round}s${seg}.json`);
      writeFileSync(segCfg, JSON.stringify({ ...config(staleness), faults: drills }, null, 2));
      // Up to four interruptions a round, each once a checkpoint newer than the resume point is sealed.
      const interrupt = kills < 4 && rng.next() < 0.8;
      const from = newestCheckpoint(out);
      const sig: NodeJS.Signals = rng.next() < 0.75 ? 'SIGKILL' : 'SIGTERM';
      const extraMs = rng.int(6000);
      const r = await launch(
        [`--actors=${segCfg}`, ...resume],
        interrupt
          ? (stop) => {
              const poll = setInterval(() => {
                if (newestCheckpoint(out) > from) {
                  clearInterval(poll);
                  setTimeout(() => stop(sig), extraMs);
                }
              }, 50);
              poll.unref();
            }
          : null,
      );
      // The segment's stderr beside its config: a mismatched round keeps both for diagnosis.
      writeFileSync(segCfg.replace(/\.json$/, '.stderr.log'), r.stderr);
      tally.segments++;
      if (seg > 0) tally.resumes++;
      tally.drillFaults += (r.stderr.match(FAULT_LINE) ?? []).length;
      if (r.signal === 'SIGKILL' || r.signal === 'SIGTERM') {
        kills++;
        sig === 'SIGKILL' ? tally.kills++ : tally.terms++;
        continue;
      }
      if (r.code === 143) {
        kills++;
        tally.terms++;
        if (!/interrupted at step \d+ by SIGTERM; --resume/.test(r.stderr))
          failures.push(`round ${round}: SIGTERM exit without the resume hint`);
        continue;
      }
      if (r.code !== 0) {
        tally.failed++;
        failures.push(`round ${round} segment ${seg}: exit ${r.code}: ${r.stderr.slice(-600)}`);
        say(`round ${round}: FAILED (exit ${r.code}) — ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`);
        break;
      }
      finished = true;
      compare(round, staleness, seg + 1, kills);
    }
    tally.rounds++;
    if (!kept.has(round)) rmSync(out, { recursive: true, force: true });
  }
  clearInterval(loadTimer);
  const faults = tally.kills + tally.terms + tally.drillFaults;
  const result = {
    minutes,
    seed: Number(values.seed),
    steps_per_run: STEPS,
    wall_s: (Date.now() - t0) / 1000,
    chaos_s: (Date.now() - tChaos) / 1000,
    ...tally,
    faults_survived: faults,
    load_average_1min: {
      mean: load.reduce((a, b) => a + b, 0) / Math.max(1, load.length),
      max: Math.max(0, ...load),
      samples: load.length,
    },
    failures,
  };
  const file =
    values.out ?? join(root, 'runs', `soak-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}.json`);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  // A mismatch is kept with the segment configs that produced it (chaos-N and config-*-rN*.json).
  if (kept.size === 0) rmSync(work, { recursive: true, force: true });
  else
    console.log(
      `soak: kept the run folders of the ${kept.size} mismatched round(s) in ${work} (chaos-N, with their config-*-rN*.json and each launch's stderr in config-*-rN*.stderr.log)`,
    );
  console.log(
    `soak: ${minutes} min, ${tally.rounds} chaos run(s) finished: ${tally.matched} byte-identical to the clean run, ${tally.mismatched} different, ${tally.failed} failed`,
  );
  console.log(
    `      faults survived: ${faults} (${tally.kills} kill -9, ${tally.terms} SIGTERM, ${tally.drillFaults} injected actor faults) over ${tally.segments} launches (${tally.resumes} resumes); ${tally.delays} delay drills configured`,
  );
  console.log(
    `      load average (1 min): mean ${result.load_average_1min.mean.toFixed(1)}, max ${result.load_average_1min.max.toFixed(1)}; wrote ${file}`,
  );
  return failures.length === 0 && tally.matched > 0 ? 0 : 1;
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

// The loractor CLI. `loractor --actors=<config.json>` trains (the coordinator does the work);
// `loractor <subcommand> ...` runs one of the tools in src/cli/. Exit codes: 0 ok, 1 failure,
// 2 usage or config error (and a run folder refused: not empty, or held by another run), 130 / 143
// interrupted by SIGINT / SIGTERM (the last finished step is checkpointed; --resume continues).
// Paths on the command line resolve against the current directory; paths inside the config against
// the config file's folder (src/config/paths.ts).
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { isSubcommand, runSubcommand, SUBCOMMANDS, type SubcommandName } from './cli/dispatch.js';
import { ConfigError, loadConfig } from './config/index.js';
import { answerStandardFlags, describeError } from './cli/standard-flags.js';
import { CliPathError, resolveCliPath } from './config/paths.js';
import { natsOptionsFrom } from './cli/worker.js';
import type { RemoteCliOptions } from './transport/nats/run-remote.js';
import { resolveRunConfig, type RunConfig } from './coordinator/run-config.js';

export interface TrainingOptions {
  configPath: string;
  outDir?: string;
  maxSteps?: number;
  seed: number;
  resume?: string;
  overwrite?: boolean;
  /** Live dashboard: port (0 = any free one) and host. */
  dashboard?: { port: number; host?: string };
  /** --nats URL --remote rollout,reward: roles served by `loractor worker` processes. */
  remote?: RemoteCliOptions;
}

const DEFAULT_DASHBOARD_PORT = 6060;

const SEED_MAX = 0xffffffff;
const STEPS_MAX = 2 ** 31 - 1;

const USAGE = `usage: loractor --actors=<config.json> [--out DIR] [--max-steps N] [--seed N] [--resume DIR | --overwrite] [--dashboard[=PORT]]
       loractor <subcommand> [args]   (${Object.keys(SUBCOMMANDS).join(', ')})

Train LoRA adapters with GRPO on an actor system of worker threads.

options:
  --actors FILE     run config (JSON; schema: configs/loractor.schema.json)
  --out DIR         run folder (overrides run.out_dir); must be absent or empty for a new run
  --max-steps N     stop after N optimizer steps (overrides run.max_steps)
  --seed N          seed of all randomness, 0..${SEED_MAX} (overrides run.seed)
  --resume DIR      resume from the newest intact checkpoint in DIR (a run folder or checkpoint-N)
  --overwrite       move a non-empty run folder aside to DIR.old-<time> and start afresh
  --dashboard[=PORT]  serve a live, read-only dashboard of the run (default port ${DEFAULT_DASHBOARD_PORT}; 0 = any free port)
  --dashboard-host HOST  address the dashboard binds (default 127.0.0.1: this machine only)
  --nats URL        NATS server (JetStream) for remote roles: nats://[user:password@]host[:port], tls://... (docs/multi-host.md)
  --remote ROLES    roles served by \`loractor worker\` processes over --nats: rollout, reward or rollout,reward
  --nats-creds FILE NATS credentials (.creds file or nkey seed); --nats-ca FILE: CA of the server's TLS certificate
  -h, --help        show this help
  --version         print the version

subcommands:
${Object.entries(SUBCOMMANDS)
  .map(([k, v]) => `  ${k.padEnd(16)}${v}`)
  .join('\n')}`;

function intArg(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new UsageError(`--${name}: expected an integer in ${min}..${max}, got '${v}'`);
  return Number(v);
}

class UsageError extends Error {}

export { describeError };

/** Run the CLI; returns (and sets process.exitCode to) the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const code = await runCliInner(argv);
  process.exitCode = code;
  return code;
}

async function runCliInner(argv: string[]): Promise<number> {
  if (isSubcommand(argv[0])) return runSubcommandReporting(argv[0], argv.slice(1));
  if (answerStandardFlags(argv, 'loractor', USAGE)) return 0;
  let setup: TrainingSetup;
  try {
    setup = trainingSetup(argv);
  } catch (err) {
    return setupErrorCode(err);
  }
  return trainToExitCode(setup.runConfig, setup.opts);
}

/** A subcommand's exit code; an exception from it is reported under its name (exit 1). */
async function runSubcommandReporting(name: SubcommandName, args: string[]): Promise<number> {
  try {
    return await runSubcommand(name, args);
  } catch (err) {
    console.error(`loractor ${name}: ${describeError(err)}`);
    return 1;
  }
}

const TRAINING_FLAGS = {
  actors: { type: 'string' },
  out: { type: 'string' },
  'max-steps': { type: 'string' },
  seed: { type: 'string' },
  resume: { type: 'string' },
  overwrite: { type: 'boolean' },
  dashboard: { type: 'string' },
  'dashboard-host': { type: 'string' },
  nats: { type: 'string' },
  'nats-creds': { type: 'string' },
  'nats-ca': { type: 'string' },
  remote: { type: 'string' },
} as const;

type TrainingFlags = ReturnType<typeof parseTrainingFlags>;

/** The training command line's flags; a positional argument is an unknown subcommand. */
function parseTrainingFlags(argv: string[]) {
  const { values, positionals } = parseArgs({
    // A bare --dashboard (no =PORT) means the default port.
    args: argv.map((a) => (a === '--dashboard' ? `--dashboard=${DEFAULT_DASHBOARD_PORT}` : a)),
    options: TRAINING_FLAGS,
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length)
    throw new UsageError(
      `unknown subcommand '${positionals[0]}' (subcommands: ${Object.keys(SUBCOMMANDS).join(', ')})`,
    );
  return values;
}

interface TrainingSetup {
  opts: TrainingOptions;
  runConfig: RunConfig;
}

/** The training options and the resolved run config of a training command line (throws on any usage or config error). */
function trainingSetup(argv: string[]): TrainingSetup {
  const values = parseTrainingFlags(argv);
  if (!values.actors) throw new UsageError('missing --actors=<config.json> (see --help)');
  const configPath = resolveCliPath(values.actors, '--actors');
  const config = loadConfig(configPath);
  const maxSteps = intArg('max-steps', values['max-steps'], 1, STEPS_MAX) ?? config.run.max_steps;
  const seed = intArg('seed', values.seed, 0, SEED_MAX) ?? config.run.seed;
  const out = values.out !== undefined ? resolveCliPath(values.out, '--out') : undefined;
  const resume = values.resume !== undefined ? resolveCliPath(values.resume, '--resume') : undefined;
  if (resume !== undefined && !existsSync(resume)) throw new UsageError(`--resume: no such directory: ${resume}`);
  if (resume !== undefined && values.overwrite && out === undefined)
    throw new UsageError(
      '--overwrite with --resume: resuming continues the run in its own folder; give --out DIR to continue it in another folder (which --overwrite then clears)',
    );
  config.run = { ...config.run, seed, ...(maxSteps !== undefined ? { max_steps: maxSteps } : {}) };
  // The config resolved once (every default, path and section check): training starts from it.
  const runConfig = resolveRunConfig(config, { configPath, seed, ...(maxSteps !== undefined ? { maxSteps } : {}) });
  const dashboard = dashboardOption(values);
  const remote = remoteOption(values);
  const opts: TrainingOptions = {
    ...dashboard,
    ...remote,
    configPath,
    // Resuming continues in the resumed run's folder unless --out names another.
    ...(out !== undefined ? { outDir: out } : {}),
    seed,
    ...(maxSteps !== undefined ? { maxSteps } : {}),
    ...(resume !== undefined ? { resume } : {}),
    ...(values.overwrite ? { overwrite: true } : {}),
  };
  return { opts, runConfig };
}

/** `dashboard` of the training options when --dashboard is given ({} otherwise). */
function dashboardOption(values: TrainingFlags): Pick<TrainingOptions, 'dashboard'> {
  const dashboardPort = intArg('dashboard', values.dashboard, 0, 65535);
  if (values['dashboard-host'] !== undefined && dashboardPort === undefined)
    throw new UsageError('--dashboard-host needs --dashboard[=PORT]');
  return dashboardPort !== undefined
    ? {
        dashboard: {
          port: dashboardPort,
          ...(values['dashboard-host'] !== undefined ? { host: values['dashboard-host'] } : {}),
        },
      }
    : {};
}

/** `remote` of the training options when --nats is given ({} otherwise); --remote names its roles. */
function remoteOption(values: TrainingFlags): Pick<TrainingOptions, 'remote'> {
  const nats = natsOptionsFrom(values);
  const remoteRoles =
    values.remote === undefined
      ? []
      : values.remote
          .split(',')
          .map((r) => r.trim())
          .filter(Boolean);
  for (const r of remoteRoles)
    if (r !== 'rollout' && r !== 'reward') throw new UsageError(`--remote: roles are rollout and reward, got '${r}'`);
  if (remoteRoles.length && !nats) throw new UsageError('--remote needs --nats URL');
  return nats ? { remote: { nats, remote: remoteRoles as ('rollout' | 'reward')[] } } : {};
}

/** Exit code of an error found before training: 2 for usage and config errors, else 1. */
function setupErrorCode(err: unknown): number {
  if (
    err instanceof ConfigError ||
    err instanceof UsageError ||
    (err as Error).name === 'UsageError' ||
    err instanceof CliPathError ||
    (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
  ) {
    console.error(`loractor: ${(err as Error).message}`);
    return 2;
  }
  console.error(`loractor: ${describeError(err)}`);
  return 1;
}

/** Runs the training; its exit code (0, 128 + signal when interrupted, or an error's code). */
async function trainToExitCode(runConfig: RunConfig, opts: TrainingOptions): Promise<number> {
  try {
    // The coordinator (the training job) is loaded only when training.
    const { runTraining } = await import('./coordinator/index.js');
    const result = await runTraining(runConfig, opts);
    // Interrupted runs exit as a shell reports a process killed by the signal: 128 + its number.
    if (result.interrupted) return result.interrupted.signal === 'SIGINT' ? 130 : 143;
    return 0;
  } catch (err) {
    // A config error found while training is being set up (the model's context, memory, the dataset's
    // size against the schedule) is a config error like any other: exit 2. A refusal before any work
    // (a non-empty or locked run folder) carries its own exit code (2).
    const code = err instanceof ConfigError ? 2 : (err as { exitCode?: unknown }).exitCode;
    console.error(
      `loractor: ${typeof code === 'number' ? (err as Error).message : `training failed: ${describeError(err)}`}`,
    );
    return typeof code === 'number' ? code : 1;
  }
}

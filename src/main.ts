// The loractor CLI. `loractor --actors=<config.json>` trains (the coordinator does the work);
// `loractor <subcommand> ...` runs one of the tools in src/cli/. Exit codes: 0 ok, 1 failure,
// 2 usage or config error.
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isSubcommand, runSubcommand, SUBCOMMANDS } from './cli/dispatch.js';
import { ConfigError, loadConfig, type LoractorConfig } from './config/index.js';
import { answerStandardFlags, describeError } from './cli/standard-flags.js';

export interface TrainingOptions {
  configPath: string;
  outDir?: string;
  maxSteps?: number;
  seed: number;
  resume?: string;
  /** Live dashboard: port (0 = any free one) and host. */
  dashboard?: { port: number; host?: string };
}

const DEFAULT_DASHBOARD_PORT = 6060;

const USAGE = `usage: loractor --actors=<config.json> [--out DIR] [--max-steps N] [--seed N] [--resume DIR] [--dashboard[=PORT]]
       loractor <subcommand> [args]   (${Object.keys(SUBCOMMANDS).join(', ')})

Train LoRA adapters with GRPO on an actor system of worker threads.

options:
  --actors FILE     run config (JSON; schema: configs/loractor.schema.json)
  --out DIR         output directory (overrides run.out_dir)
  --max-steps N     stop after N optimizer steps (overrides run.max_steps)
  --seed N          seed of all randomness (overrides run.seed)
  --resume DIR      resume from the checkpoint in DIR
  --dashboard[=PORT]  serve a live, read-only dashboard of the run (default port ${DEFAULT_DASHBOARD_PORT}; 0 = any free port)
  --dashboard-host HOST  address the dashboard binds (default 127.0.0.1: this machine only)
  -h, --help        show this help
  --version         print the version

subcommands:
${Object.entries(SUBCOMMANDS).map(([k, v]) => `  ${k.padEnd(16)}${v}`).join('\n')}`;

function intArg(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`--${name}: expected an integer >= ${min}, got '${v}'`);
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
  if (isSubcommand(argv[0])) {
    try {
      return await runSubcommand(argv[0], argv.slice(1));
    } catch (err) {
      console.error(`loractor ${argv[0]}: ${describeError(err)}`);
      return 1;
    }
  }
  if (answerStandardFlags(argv, 'loractor', USAGE)) return 0;
  let opts: TrainingOptions;
  let config: LoractorConfig;
  try {
    const { values, positionals } = parseArgs({
      // A bare --dashboard (no =PORT) means the default port.
      args: argv.map((a) => (a === '--dashboard' ? `--dashboard=${DEFAULT_DASHBOARD_PORT}` : a)),
      options: {
        actors: { type: 'string' },
        out: { type: 'string' },
        'max-steps': { type: 'string' },
        seed: { type: 'string' },
        resume: { type: 'string' },
        dashboard: { type: 'string' },
        'dashboard-host': { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length) throw new UsageError(`unknown subcommand '${positionals[0]}' (subcommands: ${Object.keys(SUBCOMMANDS).join(', ')})`);
    if (!values.actors) throw new UsageError('missing --actors=<config.json> (see --help)');
    config = loadConfig(values.actors);
    const maxSteps = intArg('max-steps', values['max-steps'], 1) ?? config.run.max_steps;
    const seed = intArg('seed', values.seed, 0) ?? config.run.seed;
    const outDir = values.out ?? config.run.out_dir;
    if (values.resume !== undefined && !existsSync(values.resume)) throw new UsageError(`--resume: no such directory: ${values.resume}`);
    config.run = { ...config.run, out_dir: outDir, seed, ...(maxSteps !== undefined ? { max_steps: maxSteps } : {}) };
    // Resuming continues in the resumed run's folder unless --out names another.
    const dashboardPort = intArg('dashboard', values.dashboard, 0);
    if (dashboardPort !== undefined && dashboardPort > 65535) throw new UsageError(`--dashboard: port must be <= 65535, got ${dashboardPort}`);
    if (values['dashboard-host'] !== undefined && dashboardPort === undefined) throw new UsageError('--dashboard-host needs --dashboard[=PORT]');
    const dashboard = dashboardPort !== undefined ? { dashboard: { port: dashboardPort, ...(values['dashboard-host'] !== undefined ? { host: values['dashboard-host'] } : {}) } } : {};
    opts = { ...dashboard, configPath: values.actors, ...(values.resume === undefined || values.out !== undefined ? { outDir } : {}), seed, ...(maxSteps !== undefined ? { maxSteps } : {}), ...(values.resume !== undefined ? { resume: values.resume } : {}) };
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`loractor: ${(err as Error).message}`);
      return 2;
    }
    console.error(`loractor: ${describeError(err)}`);
    return 1;
  }
  // The coordinator (the training job) is loaded only when training, and may be absent in a partial build.
  const coordinatorUrl = new URL('./coordinator/index.js', import.meta.url);
  if (!existsSync(fileURLToPath(coordinatorUrl))) {
    console.error('loractor: training is not available in this build (src/coordinator/index.ts missing); the config is valid');
    return 1;
  }
  try {
    const mod = (await import(coordinatorUrl.href)) as { runTraining?: (c: LoractorConfig, o: TrainingOptions) => Promise<number | void> };
    if (typeof mod.runTraining !== 'function') {
      console.error('loractor: src/coordinator/index.ts exports no runTraining(config, opts)');
      return 1;
    }
    const code = await mod.runTraining(config, opts);
    return typeof code === 'number' ? code : 0;
  } catch (err) {
    console.error(`loractor: training failed: ${describeError(err)}`);
    return 1;
  }
}

// The loractor CLI. `loractor --actors=<config.json>` trains (the coordinator does the work);
// `loractor <subcommand> ...` runs one of the tools in src/cli/. Exit codes: 0 ok, 1 failure,
// 2 usage or config error (and a run folder refused: not empty, or held by another run), 130 / 143
// interrupted by SIGINT / SIGTERM (the last finished step is checkpointed; --resume continues).
// Paths on the command line resolve against the current directory; paths inside the config against
// the config file's folder (src/config/paths.ts).
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isSubcommand, runSubcommand, SUBCOMMANDS } from './cli/dispatch.js';
import { ConfigError, loadConfig, type LoractorConfig } from './config/index.js';
import { CliPathError, resolveCliPath } from './config/paths.js';

export interface TrainingOptions {
  configPath: string;
  outDir?: string;
  maxSteps?: number;
  seed: number;
  resume?: string;
  overwrite?: boolean;
}

const SEED_MAX = 0xffffffff;
const STEPS_MAX = 2 ** 31 - 1;

const USAGE = `usage: loractor --actors=<config.json> [--out DIR] [--max-steps N] [--seed N] [--resume DIR | --overwrite]
       loractor <subcommand> [args]   (${Object.keys(SUBCOMMANDS).join(', ')})

Train LoRA adapters with GRPO on an actor system of worker threads.

options:
  --actors FILE     run config (JSON; schema: configs/loractor.schema.json)
  --out DIR         run folder (overrides run.out_dir); must be absent or empty for a new run
  --max-steps N     stop after N optimizer steps (overrides run.max_steps)
  --seed N          seed of all randomness, 0..${SEED_MAX} (overrides run.seed)
  --resume DIR      resume from the newest intact checkpoint in DIR (a run folder or checkpoint-N)
  --overwrite       move a non-empty run folder aside to DIR.old-<time> and start afresh
  -h, --help        show this help

subcommands:
${Object.entries(SUBCOMMANDS).map(([k, v]) => `  ${k.padEnd(16)}${v}`).join('\n')}`;

function intArg(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`--${name}: expected an integer in ${min}..${max}, got '${v}'`);
  return Number(v);
}

class UsageError extends Error {}

/**
 * The message of an unexpected error, for a user: one line, no stack. The stack (and the cause chain)
 * only with LORACTOR_DEBUG=1, which the message says, so a bug report can include it.
 */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (process.env.LORACTOR_DEBUG === '1') {
    let out = err.stack ?? err.message;
    for (let c = err.cause; c instanceof Error; c = c.cause) out += `\ncaused by: ${c.stack ?? c.message}`;
    return out;
  }
  // Built-in error types (a TypeError from a bug) keep their name: it tells a reader this is a bug, not bad input.
  const kind = /^(Type|Range|Reference|Syntax|Eval|URI)Error$/.test(err.name) ? `${err.name}: ` : '';
  return `${kind}${err.message || '(no message)'} (set LORACTOR_DEBUG=1 for the stack trace)`;
}

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
  let opts: TrainingOptions;
  let config: LoractorConfig;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        actors: { type: 'string' },
        out: { type: 'string' },
        'max-steps': { type: 'string' },
        seed: { type: 'string' },
        resume: { type: 'string' },
        overwrite: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (positionals.length) throw new UsageError(`unknown subcommand '${positionals[0]}' (subcommands: ${Object.keys(SUBCOMMANDS).join(', ')})`);
    if (!values.actors) throw new UsageError('missing --actors=<config.json> (see --help)');
    const configPath = resolveCliPath(values.actors, '--actors');
    config = loadConfig(configPath);
    const maxSteps = intArg('max-steps', values['max-steps'], 1, STEPS_MAX) ?? config.run.max_steps;
    const seed = intArg('seed', values.seed, 0, SEED_MAX) ?? config.run.seed;
    const out = values.out !== undefined ? resolveCliPath(values.out, '--out') : undefined;
    const resume = values.resume !== undefined ? resolveCliPath(values.resume, '--resume') : undefined;
    if (resume !== undefined && !existsSync(resume)) throw new UsageError(`--resume: no such directory: ${resume}`);
    if (resume !== undefined && values.overwrite && out === undefined) throw new UsageError('--overwrite with --resume: resuming continues the run in its own folder; give --out DIR to continue it in another folder (which --overwrite then clears)');
    config.run = { ...config.run, seed, ...(maxSteps !== undefined ? { max_steps: maxSteps } : {}) };
    // Resuming continues in the resumed run's folder unless --out names another.
    opts = { configPath, ...(out !== undefined ? { outDir: out } : {}), seed, ...(maxSteps !== undefined ? { maxSteps } : {}), ...(resume !== undefined ? { resume } : {}), ...(values.overwrite ? { overwrite: true } : {}) };
  } catch (err) {
    if (err instanceof ConfigError || err instanceof UsageError || err instanceof CliPathError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
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
    const mod = (await import(coordinatorUrl.href)) as { runTraining?: (c: LoractorConfig, o: TrainingOptions) => Promise<{ interrupted?: { signal: string } } | number | void> };
    if (typeof mod.runTraining !== 'function') {
      console.error('loractor: src/coordinator/index.ts exports no runTraining(config, opts)');
      return 1;
    }
    const result = await mod.runTraining(config, opts);
    if (typeof result === 'number') return result;
    // Interrupted runs exit as a shell reports a process killed by the signal: 128 + its number.
    if (result && result.interrupted) return result.interrupted.signal === 'SIGINT' ? 130 : 143;
    return 0;
  } catch (err) {
    // A refusal before any work (a non-empty or locked run folder) carries its own exit code (2).
    const code = (err as { exitCode?: unknown }).exitCode;
    console.error(`loractor: ${typeof code === 'number' ? (err as Error).message : `training failed: ${describeError(err)}`}`);
    return typeof code === 'number' ? code : 1;
  }
}

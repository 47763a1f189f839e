// Subcommand dispatch: `loractor <name> ...` loads src/cli/<name>.ts lazily (a subcommand's
// dependencies, e.g. a GPU engine, are never loaded for another command). Each module exports
// `run(argv: string[]): Promise<number>` returning the exit code, and `USAGE`, its help text: the
// dispatcher answers -h/--help and --version for every subcommand (standard-flags.ts) before `run`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { answerStandardFlags } from './standard-flags.js';

export const SUBCOMMANDS: Record<string, string> = {
  verify: 'check answers with the math verifier',
  logprobs: 'compute per-token log-probs of a completion under a model/adapter',
  generate: 'sample completions from a model (+ adapter)',
  eval: 'pass@1 of a model/adapter on benchmarks',
  check: 'validate a config file and print the resolved settings',
  worker: 'serve the rollout or reward role for runs on a NATS server (other hosts)',
};

export function isSubcommand(name: string | undefined): name is string {
  return name !== undefined && Object.hasOwn(SUBCOMMANDS, name);
}

export async function runSubcommand(name: string, argv: string[]): Promise<number> {
  const url = new URL(`./${name}.js`, import.meta.url);
  if (!existsSync(fileURLToPath(url))) {
    console.error(`loractor: subcommand '${name}' is not available in this build (src/cli/${name}.ts missing)`);
    return 1;
  }
  const mod = (await import(url.href)) as { run?: (argv: string[]) => Promise<number>; USAGE?: string };
  if (typeof mod.run !== 'function' || typeof mod.USAGE !== 'string') {
    console.error(`loractor: subcommand '${name}' is broken in this build (src/cli/${name}.ts exports no run(argv) or no USAGE)`);
    return 1;
  }
  if (answerStandardFlags(argv, `loractor ${name}`, `${mod.USAGE}\n\n${SUBCOMMANDS[name]}.`)) return 0;
  return mod.run(argv);
}

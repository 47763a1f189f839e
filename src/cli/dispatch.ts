// Subcommand dispatch: `loractor <name> ...` loads src/cli/<name>.ts lazily (a subcommand's
// dependencies, e.g. a GPU engine, are never loaded for another command). Each module exports
// `run(argv: string[]): Promise<number>` returning the exit code, and `USAGE`, its help text: the
// dispatcher answers -h/--help and --version for every subcommand (standard-flags.ts) before `run`.
import { answerStandardFlags } from './standard-flags.js';

export type SubcommandName = 'verify' | 'logprobs' | 'generate' | 'eval' | 'check' | 'worker';

export const SUBCOMMANDS: Record<SubcommandName, string> = {
  verify: 'check answers with the math verifier',
  logprobs: 'compute per-token log-probs of a completion under a model/adapter',
  generate: 'sample completions from a model (+ adapter)',
  eval: 'pass@1 of a model/adapter on benchmarks',
  check: 'validate a config file and print the resolved settings',
  worker: 'serve the rollout or reward role for runs on a NATS server (other hosts)',
};

export function isSubcommand(name: string | undefined): name is SubcommandName {
  return name !== undefined && Object.hasOwn(SUBCOMMANDS, name);
}

interface SubcommandModule {
  run(argv: string[]): Promise<number>;
  USAGE: string;
}

/** Each subcommand's module, imported only when that subcommand runs. */
const LOADERS: Record<SubcommandName, () => Promise<SubcommandModule>> = {
  verify: () => import('./verify.js'),
  logprobs: () => import('./logprobs.js'),
  generate: () => import('./generate.js'),
  eval: () => import('./eval.js'),
  check: () => import('./check.js'),
  worker: () => import('./worker.js'),
};

export async function runSubcommand(name: SubcommandName, argv: string[]): Promise<number> {
  const mod = await LOADERS[name]();
  if (answerStandardFlags(argv, `loractor ${name}`, `${mod.USAGE}\n\n${SUBCOMMANDS[name]}.`)) return 0;
  return mod.run(argv);
}

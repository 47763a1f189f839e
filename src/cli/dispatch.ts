// Subcommand dispatch: `loractor <name> ...` loads src/cli/<name>.ts lazily (a subcommand's
// dependencies, e.g. a GPU engine, are never loaded for another command). Each module exports
// `run(argv: string[]): Promise<number>` returning the exit code.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SUBCOMMANDS: Record<string, string> = {
  verify: 'check answers with the math verifier',
  logprobs: 'compute per-token log-probs of a completion under a model/adapter',
  generate: 'sample completions from a model (+ adapter)',
  eval: 'pass@1 of a model/adapter on benchmarks',
  check: 'validate a config file and print the resolved settings',
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
  const mod = (await import(url.href)) as { run?: (argv: string[]) => Promise<number> };
  if (typeof mod.run !== 'function') {
    console.error(`loractor: subcommand '${name}' is broken in this build (src/cli/${name}.ts exports no run(argv))`);
    return 1;
  }
  return mod.run(argv);
}

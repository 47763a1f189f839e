// The contract every loractor command and tool keeps, implemented once: `-h`/`--help` prints the
// command's help on stdout and `--version` the package version, exit 0, before anything else runs
// (no file is read or written); a user error is one line on stderr, never a stack trace.
// Subcommands get this from the dispatcher (src/cli/dispatch.ts); a script in tools/ calls
// `scriptArgs()` first thing (or `answerStandardFlags()` inside its own main-module guard).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParsedResults<T extends ParseArgsConfig> = ReturnType<typeof parseArgs<T>>;
import { repoRoot } from '../util/paths.js';

/** Bad command-line input: printed as one line with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The flag that asks for help or the version, looking only before a `--` terminator; null when none. */
export function standardFlag(argv: readonly string[]): 'help' | 'version' | null {
  for (const a of argv) {
    if (a === '--') return null;
    if (a === '-h' || a === '--help') return 'help';
    if (a === '--version') return 'version';
  }
  return null;
}

let cachedVersion: string | undefined;
/** The version in loractor's package.json. */
export function packageVersion(): string {
  cachedVersion ??= (JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return cachedVersion;
}

/**
 * Print the help (stdout) or version when argv asks for it; returns true when it did (the caller
 * then exits 0 without doing anything else). `help` may be a function so costly text is only built on demand.
 */
export function answerStandardFlags(argv: readonly string[], command: string, help: string | (() => string)): boolean {
  const flag = standardFlag(argv);
  if (flag === 'help') process.stdout.write((typeof help === 'function' ? help() : help).replace(/\n?$/, '\n'));
  else if (flag === 'version') process.stdout.write(`${command} ${packageVersion()}\n`);
  return flag !== null;
}

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

/** How a failed command reports: usage errors (and node:util parseArgs errors) exit 2, others 1. */
export function reportFailure(command: string, err: unknown): number {
  const usage =
    err instanceof UsageError || String((err as { code?: unknown })?.code ?? '').startsWith('ERR_PARSE_ARGS');
  if (usage) {
    console.error(`${command}: ${(err as Error).message} (see ${command} --help)`);
    return 2;
  }
  console.error(`${command}: ${describeError(err)}`);
  return 1;
}

/** True when the module at `metaUrl` is the script node was started with (not imported by a test). */
export function isMainScript(metaUrl: string): boolean {
  return process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(metaUrl);
}

/**
 * The arguments of a script in tools/: answers --help/--version and exits 0 at once; otherwise
 * installs the one-line error report for anything the script throws (exit 2 for a UsageError or a
 * parseArgs error, 1 otherwise) and returns process.argv without node and the script.
 */
export function scriptArgs(spec: { name: string; help: string | (() => string) }): string[] {
  const argv = process.argv.slice(2);
  if (answerStandardFlags(argv, `loractor ${spec.name}`, spec.help)) process.exit(0);
  process.on('uncaughtException', (err) => {
    process.exitCode = reportFailure(spec.name, err);
    process.exit();
  });
  return argv;
}

/**
 * scriptArgs, then node:util parseArgs in strict mode over the script's options: an unknown option or
 * a missing value is a usage error (one line, exit 2), not a stack trace.
 */
export function scriptOptions<O extends NonNullable<ParseArgsConfig['options']>>(spec: {
  name: string;
  help: string | (() => string);
  options: O;
  allowPositionals?: boolean;
}): ParsedResults<{ args: string[]; options: O; allowPositionals: boolean; strict: true }> {
  const args = scriptArgs(spec);
  return parseArgs({ args, options: spec.options, allowPositionals: spec.allowPositionals ?? false, strict: true });
}

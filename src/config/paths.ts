// Where a relative path points. One rule for every command:
//   - a path given on the command line (--actors, --out, --resume, --model, --in, ...) resolves against
//     the current directory, as in every other Unix tool;
//   - a path written inside a config file (model.path, data.path, run.out_dir, mlc_dir, ...) resolves
//     against that file's folder, so a config means the same thing from any directory and can be moved
//     together with the files it names. A config handed over as an object (no file) uses the cwd.
import { isAbsolute, dirname, resolve } from 'node:path';

/** A command-line path, absolute. An empty string is refused (it would silently mean the cwd). */
export function resolveCliPath(p: string, flag: string): string {
  if (p.trim() === '') throw new CliPathError(`${flag}: empty path (give a folder or file name)`);
  return resolve(p);
}

/** A path from a config file, absolute: relative paths are taken from the config file's folder. */
export function resolveConfigPath(p: string, configFile?: string): string {
  if (isAbsolute(p)) return p;
  return configFile ? resolve(dirname(resolve(configFile)), p) : resolve(p);
}

export class CliPathError extends Error {
  override name = 'CliPathError';
}

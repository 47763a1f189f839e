// Where an actor role's compiled module lives. A module path is resolved like any path a program is
// given: absolute, or relative to the caller's current directory (an app that embeds loractor names
// its own actors, e.g. './actors/scorer.js'). Without a path a role runs loractor's own
// actors/<role>. A .ts path inside the loractor package maps to its compiled dist/*.js, and a .ts
// path elsewhere to the .js beside it (the app's compiled output).
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { repoRoot } from '../util/paths.js';

/** One of loractor's own actor modules (actors/<name>.ts), as an absolute path. */
export function packageActor(name: string): string {
  return join(repoRoot(), 'actors', `${name}.ts`);
}

export function resolveActorModule(role: string, module?: string, cwd: string = process.cwd()): string {
  const root = repoRoot();
  let p = module ? resolve(cwd, module) : packageActor(role);
  const rel = relative(root, p);
  const insidePackage = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  if (insidePackage && rel !== 'dist' && !rel.startsWith('dist' + sep)) p = join(root, 'dist', rel);
  if (p.endsWith('.ts')) p = p.slice(0, -3) + '.js';
  return p;
}

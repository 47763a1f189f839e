// Where an actor role's compiled module lives. Configs name modules the way people write them
// (actors/learner.ts, or an absolute path); the runtime runs compiled JavaScript from dist/.
import { isAbsolute, join, relative, resolve } from 'node:path';
import { repoRoot } from '../util/paths.js';

export function resolveActorModule(role: string, module?: string): string {
  const root = repoRoot();
  const dist = join(root, 'dist');
  let p = module ? (isAbsolute(module) ? module : resolve(root, module)) : join(root, 'actors', `${role}.ts`);
  const rel = relative(root, p);
  const insideRepo = !rel.startsWith('..') && !isAbsolute(rel);
  if (insideRepo && !rel.startsWith('dist')) p = join(dist, rel);
  if (p.endsWith('.ts')) p = p.slice(0, -3) + '.js';
  return p;
}

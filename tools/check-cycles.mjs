// Import-cycle check over the TypeScript sources (part of `npm run lint`; exits 1 on any cycle).
// Usage: node tools/check-cycles.mjs [ROOT]   (ROOT: the repository, by default this file's parent)
// Every relative import counts: static, type-only, re-exports and dynamic `import('./x.js')`, since a
// type-only cycle still ties two modules together and a lazy import still runs the module. Written
// here rather than taken from madge: the TypeScript compiler (already a dependency) reads the imports
// exactly as tsc does, and NodeNext's `./x.js` → `./x.ts` mapping needs no resolver configuration.
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
const ROOTS = ['src', 'actors', 'protocols', 'test', 'tools', 'examples'];

function tsFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'node_modules' ? [] : tsFiles(p);
    return /\.(m|c)?ts$/.test(name) && !name.endsWith('.d.ts') ? [p] : [];
  });
}

/** The repository file a relative specifier names (`./x.js` is `./x.ts` in the sources), or null. */
function resolveImport(from, spec) {
  if (!spec.startsWith('.')) return null;
  const base = resolve(dirname(from), spec);
  const candidates = [
    base,
    base.replace(/\.js$/, '.ts'),
    base.replace(/\.mjs$/, '.mts'),
    `${base}.ts`,
    join(base, 'index.ts'),
  ];
  return candidates.find((c) => existsSync(c) && statSync(c).isFile() && /\.(m|c)?ts$/.test(c)) ?? null;
}

function importsOf(file) {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles.map((f) => resolveImport(file, f.fileName)).filter((p) => p !== null);
}

/** Strongly connected components with more than one module, or a module importing itself (Tarjan). */
function cycles(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const found = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) !== idx.get(v)) return;
    const scc = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

const files = ROOTS.flatMap((d) => tsFiles(join(root, d)));
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const found = cycles(graph);
const rel = (p) => relative(root, p);
for (const scc of found) {
  console.error(`import cycle among ${scc.length} module(s):`);
  for (const m of scc)
    console.error(
      `  ${rel(m)} → ${graph
        .get(m)
        .filter((d) => scc.includes(d))
        .map(rel)
        .join(', ')}`,
    );
}
if (found.length > 0) {
  console.error(`check-cycles: ${found.length} import cycle(s) in ${files.length} modules`);
  process.exit(1);
}
console.log(`check-cycles: no import cycles in ${files.length} modules`);

// Build: TypeScript → dist/, then the entry shims the package promises (dist/main.js, dist/index.js),
// then any build steps registered in tools/build-steps/ (for example the WASM-SIMD kernels).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const t0 = Date.now();
try {
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
} catch (err) {
  // tsc still emits JavaScript on type errors; LORACTOR_DEV_BUILD=1 lets work in progress elsewhere
  // in the tree not block running one's own tests. Releases and CI never set it.
  if (process.env.LORACTOR_DEV_BUILD !== '1') throw err;
  console.error('build: type errors ignored (LORACTOR_DEV_BUILD=1)');
}
mkdirSync(join(root, 'dist'), { recursive: true });
writeFileSync(
  join(root, 'dist', 'main.js'),
  "#!/usr/bin/env node\nimport { runCli } from './src/main.js';\nrunCli(process.argv.slice(2));\n",
);
writeFileSync(join(root, 'dist', 'index.js'), "export * from './src/index.js';\n");
const stepsDir = join(root, 'tools', 'build-steps');
if (existsSync(stepsDir)) {
  for (const f of readdirSync(stepsDir)
    .filter((n) => n.endsWith('.mjs'))
    .sort()) {
    const mod = await import(pathToFileURL(join(stepsDir, f)).href);
    await mod.default({ root });
  }
}
console.error(`build: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

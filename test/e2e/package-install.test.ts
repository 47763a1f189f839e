// The package as a user gets it: `npm pack`, install the tarball into an empty app, and run the
// README's library example there exactly as written (its actor module named by a relative path).
// Also: what the tarball holds, `loractor/package.json` as an export, the bin, and actor-path rules.
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import { packageActor, resolveActorModule } from '../../src/runtime/modules.js';

const root = repoRoot();
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** The README's "As a library" code blocks: each ```js block starting with a `// <path>` comment. */
export function readmeExampleFiles(readme: string): Map<string, string> {
  const section = readme.slice(
    readme.indexOf('## As a library'),
    readme.indexOf('\n## ', readme.indexOf('## As a library') + 3),
  );
  const files = new Map<string, string>();
  for (const m of section.matchAll(/```js\n(\/\/ (\S+)[^\n]*\n[\s\S]*?)```/g)) files.set(m[2]!, m[1]!);
  return files;
}

t.test("actor module paths: relative to the current directory; loractor's own .ts map to dist", async (t) => {
  t.equal(resolveActorModule('x', './actors/scorer.js', '/srv/app'), '/srv/app/actors/scorer.js');
  t.equal(resolveActorModule('x', 'lib/a.ts', '/srv/app'), '/srv/app/lib/a.js', "an app's .ts runs its compiled .js");
  t.equal(resolveActorModule('x', '/abs/b.js', '/srv/app'), '/abs/b.js');
  t.equal(
    resolveActorModule('learner'),
    join(root, 'dist', 'actors', 'learner.js'),
    "default: the package's own actor",
  );
  t.equal(
    resolveActorModule('rollout-0', packageActor('rollout'), '/elsewhere'),
    join(root, 'dist', 'actors', 'rollout.js'),
  );
  t.equal(resolveActorModule('x', 'actors/reward.ts', root), join(root, 'dist', 'actors', 'reward.js'));
});

t.test('npm pack → install into an empty app → the README library example runs', { timeout: 600_000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'loractor-pack-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  // dist is already built by `npm test`; --ignore-scripts skips prepack's clean rebuild (other tests use dist meanwhile).
  const packed = JSON.parse(
    execFileSync(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', work], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  ) as { filename: string; files: { path: string }[] }[];
  const files = packed[0]!.files.map((f) => f.path);
  t.notOk(
    files.some((f) => /^(test|\.ci|dist\/test|src|tools|actors|protocols)\//.test(f)),
    'no tests, CI scripts or TypeScript sources in the tarball',
  );
  for (const f of [
    'dist/index.js',
    'dist/main.js',
    'dist/actors/reward.js',
    'dist/src/ops/wasm/matmul-kernel.wasm',
    'models/tiny/model.safetensors',
    'configs/default.json',
    'benchmarks/qwen25math/aime24_test.jsonl',
    'benchmarks/SOURCES.md',
    'README.md',
  ])
    t.ok(files.includes(f), `ships ${f}`);

  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  // Dependencies come from the npm cache that `npm ci` filled (the registry only when missing).
  const inst = spawnSync(
    npm,
    ['install', join(work, packed[0]!.filename), '--prefer-offline', '--no-audit', '--no-fund'],
    { cwd: app, encoding: 'utf8', timeout: 480_000 },
  );
  t.equal(inst.status, 0, `npm install of the tarball: ${inst.stderr.slice(-2000)}`);

  // engines: every installed dependency accepts every Node version loractor declares (no EBADENGINE on a supported Node).
  const semver = createRequire(import.meta.url)('semver') as { subset(sub: string, dom: string): boolean };
  const ours = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } }).engines
    .node;
  const narrower: string[] = [];
  for (const dir of installedPackages(join(app, 'node_modules'))) {
    const p = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      name: string;
      version: string;
      engines?: { node?: string };
    };
    if (typeof p.engines?.node === 'string' && !semver.subset(ours, p.engines.node))
      narrower.push(`${p.name}@${p.version} (${p.engines.node})`);
  }
  t.same(narrower, [], `no dependency needs more than loractor's engines.node ${ours}`);

  const example = readmeExampleFiles(readFileSync(join(root, 'README.md'), 'utf8'));
  t.same([...example.keys()].sort(), ['actors/scorer.js', 'app.mjs'], 'the README shows an actor module and an app');
  for (const [path, text] of example) {
    mkdirSync(dirname(join(app, path)), { recursive: true });
    writeFileSync(join(app, path), text);
  }
  const run = spawnSync(process.execPath, ['app.mjs'], { cwd: app, encoding: 'utf8', timeout: 120_000 });
  t.equal(run.status, 0, `node app.mjs exits 0: ${run.stderr.slice(-2000)}`);
  t.equal(run.stdout, 'rewards 1 1 0\n', "the README's stated output");
  t.match(run.stderr, /event shutdown/, 'events$ reached the app');

  const pkg = spawnSync(process.execPath, ['-e', "console.log(require('loractor/package.json').version)"], {
    cwd: app,
    encoding: 'utf8',
  });
  t.equal(
    pkg.stdout.trim(),
    (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version,
    'loractor/package.json is exported',
  );
  const bin = spawnSync(join(app, 'node_modules', '.bin', 'loractor'), ['--version'], { cwd: app, encoding: 'utf8' });
  t.match(bin.stdout, /^loractor \d+\.\d+\.\d+/, 'the loractor bin is installed');
});

/** Folders of the packages installed under a node_modules folder (scoped and nested ones too). */
function installedPackages(nodeModules: string): string[] {
  const out: string[] = [];
  if (!existsSync(nodeModules)) return out;
  for (const name of readdirSync(nodeModules)) {
    if (name.startsWith('.')) continue;
    const dirs = name.startsWith('@')
      ? readdirSync(join(nodeModules, name)).map((n) => join(nodeModules, name, n))
      : [join(nodeModules, name)];
    for (const d of dirs)
      if (existsSync(join(d, 'package.json'))) {
        out.push(d);
        out.push(...installedPackages(join(d, 'node_modules')));
      }
  }
  return out;
}

/** Bare packages reachable from a compiled module through static imports/re-exports (dynamic import() and createRequire are lazy). */
function staticPackages(entry: string): Set<string> {
  const seen = new Set<string>(),
    pkgs = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = readFileSync(file, 'utf8');
    for (const m of src.matchAll(/^\s*(?:import|export)\s+(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) visit(join(dirname(file), spec));
      else if (!spec.startsWith('node:'))
        pkgs.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  };
  visit(entry);
  return pkgs;
}

t.test("import 'loractor' loads neither the compute engine, WebLLM nor Dawn (they load on first use)", async (t) => {
  const pkgs = staticPackages(join(root, 'dist', 'index.js'));
  t.ok(
    pkgs.has('rxjs') && pkgs.has('piscina'),
    `the walk sees the static dependencies (${[...pkgs].sort().join(', ')})`,
  );
  for (const lazy of ['@cortex-js/compute-engine', '@mlc-ai/web-llm', 'webgpu', 'hyparquet-compressors'])
    t.notOk(pkgs.has(lazy), `${lazy} is not imported statically`);
});

// Every command and tool answers -h/--help and --version (stdout, exit 0, nothing written anywhere)
// and reports a bad option in one line without a stack trace. Tools are found by listing dist/tools,
// so a new script is held to the same contract without touching this test.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import { SUBCOMMANDS } from '../../src/cli/dispatch.js';
import { standardFlag } from '../../src/cli/standard-flags.js';
import { configSchemaText } from '../../tools/schema.js';

const root = repoRoot();
const main = join(root, 'dist', 'main.js');
const toolsDir = join(root, 'dist', 'tools');
const tools = readdirSync(toolsDir)
  .filter((f) => f.endsWith('.js'))
  .sort();
const commands: { name: string; argv: string[] }[] = [
  { name: 'loractor', argv: [main] },
  ...Object.keys(SUBCOMMANDS).map((s) => ({ name: `loractor ${s}`, argv: [main, s] })),
  ...tools.map((f) => ({ name: `tools/${f}`, argv: [join(toolsDir, f)] })),
];

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}
function run(argv: string[], cwd: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, argv, {
      cwd,
      env: { ...process.env, LORACTOR_DEBUG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '',
      stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs f over items, at most `n` at a time, results in item order. */
async function inBatches<T, R>(items: readonly T[], n: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]!);
      }
    }),
  );
  return out;
}

/** Path → size and mtime of every file under dir (node_modules, .git and tap's own folder left out). */
function fingerprint(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (['node_modules', '.git', '.tap'].includes(e.name)) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const s = statSync(p);
        out.set(relative(dir, p), `${s.size}:${s.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return out;
}

t.test('standardFlag looks only before a -- terminator', async (t) => {
  t.equal(standardFlag(['--in', 'x', '--help']), 'help');
  t.equal(standardFlag(['-h']), 'help');
  t.equal(standardFlag(['--version']), 'version');
  t.equal(standardFlag(['--', '--help']), null);
  t.equal(standardFlag(['--helpful']), null);
});

t.test('every command and tool: --help, -h, --version on stdout, exit 0, no file written', async (t) => {
  t.ok(tools.length >= 10, `found ${tools.length} tools`);
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const cwd = mkdtempSync(join(tmpdir(), 'loractor-help-'));
  const before = fingerprint(root);
  // -h and --version take the same code path as --help (standardFlag, tested above, then
  // answerStandardFlags, called by the dispatcher for every subcommand and by scriptArgs for every
  // tool): each is checked on one command of each kind. What --version prints that differs per tool,
  // its name (scriptArgs' spec.name), is checked on every tool by the bad-option test below, whose
  // one-line report starts with the same name.
  const sampled = new Set(['loractor', 'loractor eval', 'tools/stress.js']);
  const jobs = commands.flatMap((c) =>
    ['--help', ...(sampled.has(c.name) ? ['--version', '-h'] : [])].map((flag) => ({ c, flag })),
  );
  const results = await inBatches(jobs, 3, ({ c, flag }) => run([...c.argv, flag], cwd));
  jobs.forEach(({ c, flag }, i) => {
    const r = results[i]!;
    t.equal(r.code, 0, `${c.name} ${flag}: exit 0`);
    t.equal(r.stderr, '', `${c.name} ${flag}: nothing on stderr`);
    if (flag === '--version')
      t.equal(
        r.stdout,
        `${c.name.startsWith('tools/') ? `loractor ${c.name.slice(6, -3)}` : c.name} ${version}\n`,
        `${c.name} --version`,
      );
    else t.match(r.stdout, /^usage: /, `${c.name} ${flag}: help on stdout`);
  });
  t.same(readdirSync(cwd), [], 'nothing written in the working directory');
  const after = fingerprint(root);
  const changed = [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k));
  t.same(changed, [], 'no file in the repository (configs, runs, dist, models) created or changed');
  rmSync(cwd, { recursive: true, force: true });
});

t.test('a bad option is one line on stderr with a nonzero exit, never a stack trace', async (t) => {
  const cwd = mkdtempSync(join(tmpdir(), 'loractor-badopt-'));
  const results = await inBatches(commands, 3, (c) => run([...c.argv, '--no-such-option-xyz'], cwd));
  commands.forEach((c, i) => {
    const r = results[i]!;
    t.not(r.code, 0, `${c.name}: nonzero exit`);
    t.notMatch(r.stderr, /^\s+at /m, `${c.name}: no stack trace`);
    t.match(r.stderr, /no-such-option-xyz|unknown|Unknown/, `${c.name}: names the bad option`);
    // A tool reports under its scriptArgs name (the name its --version prints after 'loractor ').
    if (c.name.startsWith('tools/'))
      t.ok(r.stderr.startsWith(`${c.name.slice(6, -3)}: `), `${c.name}: the report starts with the tool's name`);
  });
  t.same(readdirSync(cwd), [], 'nothing written');
  rmSync(cwd, { recursive: true, force: true });
});

t.test(
  'configs/loractor.schema.json is what the zod schemas generate (run npm run schema after changing them)',
  async (t) => {
    t.equal(readFileSync(join(root, 'configs', 'loractor.schema.json'), 'utf8'), configSchemaText());
  },
);

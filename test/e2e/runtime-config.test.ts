// Config validation through the real CLI: bad configs exit 2 with one line naming the field.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';
import { loadConfig, ConfigError } from '../../src/config/index.js';

const MAIN = join(repoRoot(), 'dist', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'loractor-cfg-'));

function cfgFile(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function cli(...args: string[]): { code: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

const cases: [string, string | null, RegExp][] = [
  ['missing file', null, /config .*nope\.json: cannot read file \(no such file\)/],
  [
    'invalid JSON',
    '{\n  "actors": {\n    "learner": { "threads": 1, }\n  }\n}\n',
    /invalid JSON at line 3 column 32: /,
  ],
  [
    'wrong type',
    '{ "actors": { "learner": { "threads": "two" } } }',
    /actors\.learner\.threads: .*expected number, received string/,
  ],
  [
    'unknown key',
    '{ "actors": { "learner": { "threads": 1, "thread_count": 2 } } }',
    /actors\.learner\.thread_count: unknown key/,
  ],
  ['unknown top-level section', '{ "actorz": {} }', /: actorz: unknown key/],
  ['out of range', '{ "run": { "seed": -1 } }', /run\.seed: .*>=0/],
  ['area placeholder must be an object', '{ "grpo": 3 }', /grpo: .*expected object/],
];

for (const [name, text, re] of cases) {
  t.test(`bad config: ${name}`, async (t) => {
    const file = text === null ? join(dir, 'nope.json') : cfgFile(name.replace(/ /g, '-') + '.json', text);
    const r = cli(`--actors=${file}`);
    t.equal(r.code, 2, 'exit code 2');
    const lines = r.stderr.trim().split('\n');
    t.equal(lines.length, 1, 'one line: ' + r.stderr);
    t.match(lines[0], re);
    t.match(lines[0], /^loractor: /);
  });
}

t.test('valid sections pass validation; training then names the one thing missing, model.path', async (t) => {
  const file = cfgFile(
    'ok.json',
    JSON.stringify({ actors: { learner: { threads: 1, deadline_ms: 1000 } }, run: { seed: 3 }, grpo: { beta: 0.04 } }),
  );
  const r = cli(`--actors=${file}`, '--max-steps', '2');
  t.equal(r.code, 2, 'a config error (exit 2)');
  t.match(
    r.stderr.trim(),
    /^loractor: config: model\.path: Invalid input: expected string, received undefined$/,
    'only model.path: ' + r.stderr,
  );
  const cfg = loadConfig(file);
  t.equal(cfg.actors.learner!.max_queue, 64, 'defaults filled');
  t.equal(cfg.run.checkpoint_every, 50);
  t.equal(cfg.run.seed, 3);
});

t.test('usage errors and help', async (t) => {
  t.equal(cli('--help').code, 0);
  t.match(cli('--help').stdout, /--actors=<config.json>/);
  const noActors = cli();
  t.equal(noActors.code, 2);
  t.match(noActors.stderr, /missing --actors/);
  const badFlag = cli('--actors=x.json', '--frobnicate');
  t.equal(badFlag.code, 2);
  t.match(badFlag.stderr, /frobnicate/);
  const badSteps = cli(`--actors=${cfgFile('ok2.json', '{}')}`, '--max-steps', 'ten');
  t.equal(badSteps.code, 2);
  t.match(badSteps.stderr, /--max-steps: expected an integer/);
  t.equal(cli('frobnicate').code, 2);
});

t.test('loadConfig throws ConfigError with the JSON path', async (t) => {
  const file = cfgFile('lib.json', '{ "actors": { "reward": { "retries": 1.5 } } }');
  const err = (() => {
    try {
      loadConfig(file);
    } catch (e) {
      return e;
    }
  })();
  t.type(err, ConfigError);
  t.equal((err as ConfigError).path, 'actors.reward.retries');
});

// Helpers for tests that drive the real CLI on the shipped tiny model: a small training config
// written where the test wants it (absolute model path, so it means the same from any folder), and
// spawnSync/spawn wrappers.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repoRoot } from '../../src/util/paths.js';

export const root = repoRoot();
export const mainJs = join(root, 'dist/main.js');
export const tinyModel = join(root, 'models/tiny');

// biome-ignore lint/suspicious/noExplicitAny: config JSON edited freely by path (c.grpo.x = …) in tests and drills
type Json = Record<string, any>;

/**
 * configs/default.json with its paths made absolute: they are relative to configs/ (paths in a config
 * resolve against the config's folder), so a test that writes a variant elsewhere needs them absolute.
 */
export function defaultConfig(): Json {
  const dir = join(root, 'configs');
  const c = JSON.parse(readFileSync(join(dir, 'default.json'), 'utf8')) as Json;
  delete c.$schema;
  c.model.path = resolve(dir, c.model.path);
  c.run.out_dir = resolve(dir, c.run.out_dir);
  return c;
}

/** A few-second run of the default recipe: 4 prompts × G 4, no evaluation, a checkpoint every step. */
export function smallConfig(edit: (c: Json) => void = () => {}): Json {
  const base = defaultConfig();
  const c: Json = {
    ...base,
    model: { ...base.model, path: tinyModel },
    run: { ...base.run, max_steps: 2, checkpoint_every: 1 },
    grpo: { ...base.grpo, max_steps: 40, prompts_per_step: 4, num_generations: 4, per_device_train_batch_size: 16 },
    eval: { ...base.eval, synthetic_count: 8, batch_size: 8, eval_steps: 0, eval_before_training: false },
    // Generous deadlines: these tests check behaviour, and a loaded CI machine must not turn a slow
    // reward worker start into scoring failures.
    rewards: { ...base.rewards, reward_timeout_s: 120 },
  };
  edit(c);
  return c;
}

export function writeJson(path: string, value: unknown): string {
  writeFileSync(path, JSON.stringify(value, null, 2));
  return path;
}

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function cli(
  args: string[],
  opts: { cwd?: string; timeoutMs?: number; input?: string; nodeArgs?: string[] } = {},
): CliResult {
  const r = spawnSync(process.execPath, [...(opts.nodeArgs ?? []), mainJs, ...args], {
    cwd: opts.cwd ?? root,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 600_000,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Start the CLI in the background (stderr collected). */
export function cliBackground(
  args: string[],
  cwd = root,
): {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
} {
  const child = spawn(process.execPath, [mainJs, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stderr: () => err, exit };
}

/** Resolves once `ready()` holds (polled), or rejects after `timeoutMs`. */
export async function waitFor(ready: () => boolean, timeoutMs = 240_000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!ready()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function lines(path: string): string[] {
  return existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
    : [];
}

// The run folder, guarded so a run can never clobber another:
//   - a new run goes into an absent or empty folder; a non-empty one is refused unless the user says
//     --resume (continue it) or --overwrite (move it aside to <dir>.old-<time>; nothing is deleted);
//   - one run at a time: an exclusive lock file (created with O_EXCL) holds the pid, host and start
//     time of its owner; a lock whose owner is gone (same host, pid dead or reused) is stale and taken
//     over, a live one is refused naming its owner;
//   - folders are created one level at a time, so a path that cannot hold a folder (procfs, a file in
//     the way, a read-only mount) fails at once with its reason instead of looping in mkdir -p;
//   - stale checkpoint temp folders (.checkpoint-N.tmp-PID, left by a crash or a full disk mid-save)
//     are removed once the lock is held: nobody else can be writing them.
import {
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

export const LOCK_FILE = '.loractor.lock';
const TEMP_CHECKPOINT = /^\.checkpoint-\d+\.tmp-\d+$/;

/** A refusal before any work was done (exit code 2: the command line must change). */
export class RunFolderError extends Error {
  override name = 'RunFolderError';
  readonly exitCode = 2;
}

export interface LockInfo {
  pid: number;
  host: string;
  /** ISO time the owner started. */
  started: string;
  /** Linux: the owner's start time in clock ticks since boot (tells a reused pid apart); null elsewhere. */
  proc_start: number | null;
  argv: string[];
}

export interface RunFolder {
  dir: string;
  /** The folder did not exist (or was emptied by --overwrite) and this run made it. */
  fresh: boolean;
  /** Where --overwrite moved the previous run. */
  movedAside?: string;
  /** The stale lock taken over (its owner had died). */
  staleLock?: LockInfo;
  /** Stale checkpoint temp folders removed. */
  removedTemps: string[];
  /** Remove the lock (idempotent); a folder made by this run and still empty is removed too. */
  release(opts?: { removeIfEmpty?: boolean }): void;
}

export interface OpenRunFolderOptions {
  /** The folder may hold a run: the one being resumed. */
  resume: boolean;
  /** Move a non-empty folder aside first. */
  overwrite: boolean;
  /** Name of the option that chose the folder, for messages (--out, run.out_dir). */
  origin?: string;
}

/**
 * The refusals of openRunFolder, without touching anything: a run calls this first, so a folder it may
 * not use is reported before the model and data are loaded. Throws RunFolderError.
 */
export function checkRunFolder(dir: string, opts: OpenRunFolderOptions): void {
  const origin = opts.origin ?? '--out';
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new RunFolderError(`${origin} ${dir}: exists and is not a folder`);
  const entries = readdirSync(dir);
  if (entries.length === 0) return;
  const owner = liveOwner(dir);
  if (owner)
    throw new RunFolderError(
      `${origin} ${dir}: in use by another run (${describeOwner(owner)}); wait for it or choose another folder`,
    );
  if (opts.overwrite) {
    if (!entries.some((n) => RUN_MARKERS.some((r) => r.test(n)))) {
      throw new RunFolderError(
        `${origin} ${dir}: --overwrite moves aside only a loractor run folder (one with config.resolved.json, metrics.jsonl or checkpoint-N), and this one holds other files (${describeContents(dir, entries)}); choose another --out`,
      );
    }
  } else if (!opts.resume) {
    throw new RunFolderError(
      `${origin} ${dir}: the folder is not empty (${describeContents(dir, entries)}); ` +
        `pass --resume ${dir} to continue that run, --overwrite to move it aside to ${dir}.old-<time>, or choose another --out`,
    );
  }
}

/** Open `dir` for one run: checks, --overwrite, lock, stale temp cleanup. Throws RunFolderError. */
export function openRunFolder(dir: string, opts: OpenRunFolderOptions): RunFolder {
  const origin = opts.origin ?? '--out';
  checkRunFolder(dir, opts);
  let movedAside: string | undefined;
  if (opts.overwrite && existsSync(dir) && readdirSync(dir).length > 0) movedAside = moveAside(dir, origin);
  const fresh = !existsSync(dir);
  if (fresh) makeFolders(dir, origin);
  const lock = acquireLock(dir, origin);
  const removedTemps = readdirSync(dir)
    .filter((n) => TEMP_CHECKPOINT.test(n))
    .map((n) => join(dir, n));
  for (const t of removedTemps) rmSync(t, { recursive: true, force: true });
  let released = false;
  return {
    dir,
    fresh,
    removedTemps,
    ...(movedAside ? { movedAside } : {}),
    ...(lock.stale ? { staleLock: lock.stale } : {}),
    release(o = {}) {
      if (released) return;
      released = true;
      releaseLock(dir);
      if (o.removeIfEmpty && fresh && readdirSync(dir).length === 0) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** mkdir -p, one level at a time, each failure named (recursive mkdir spins forever on procfs). */
export function makeFolders(dir: string, origin = '--out'): void {
  const missing: string[] = [];
  let p = dir;
  while (!existsSync(p)) {
    missing.unshift(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  if (existsSync(p) && !statSync(p).isDirectory())
    throw new RunFolderError(`${origin} ${dir}: ${p} is a file, not a folder`);
  for (const m of missing) {
    try {
      mkdirSync(m);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && statSync(m).isDirectory()) continue;
      throw new RunFolderError(
        `${origin} ${dir}: cannot create folder ${m} (${code === 'EACCES' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : code === 'ENOENT' ? 'the file system there does not hold folders' : (code ?? (err as Error).message)})`,
      );
    }
  }
}

function readLock(dir: string): LockInfo | null {
  try {
    return JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as LockInfo;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    // Unreadable or torn (its writer died mid-write): nobody can be proven to own it.
    return { pid: -1, host: hostname(), started: '?', proc_start: null, argv: [] };
  }
}

/** Linux: a process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or null. */
function procStart(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const v = Number(fields[19]);
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock's owner when it is (or may be) alive: another host cannot be checked, so it counts as alive. */
function liveOwner(dir: string): LockInfo | null {
  const lock = readLock(dir);
  if (!lock) return null;
  if (lock.host !== hostname()) return lock;
  if (!alive(lock.pid)) return null;
  // The pid is alive, but is it the same process? A reused pid has another start time.
  const now = procStart(lock.pid);
  if (lock.proc_start !== null && now !== null && now !== lock.proc_start) return null;
  return lock;
}

function describeOwner(l: LockInfo): string {
  return `pid ${l.pid} on host ${l.host}, started ${l.started}${l.host !== hostname() ? `; if that run is gone, remove the lock file ${LOCK_FILE}` : ''}`;
}

function describeContents(dir: string, entries: string[]): string {
  const ckpts = entries
    .filter((n) => /^checkpoint-\d+$/.test(n))
    .map((n) => Number(n.slice(11)))
    .sort((a, b) => a - b);
  const parts: string[] = [];
  if (ckpts.length) parts.push(`${ckpts.length} checkpoint(s), newest checkpoint-${ckpts.at(-1)}`);
  if (entries.includes('metrics.jsonl')) {
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '').length;
    parts.push(`metrics.jsonl with ${lines} record(s)`);
  }
  if (!parts.length)
    parts.push(
      `${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}: ${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}`,
    );
  return parts.join(', ');
}

const RUN_MARKERS = [
  /^config\.resolved\.json$/,
  /^metrics\.jsonl$/,
  /^checkpoint-\d+$/,
  new RegExp(`^${LOCK_FILE.replace('.', '\\.')}$`),
];

/** --overwrite: rename the old run to <dir>.old-<time> (never delete; checkRunFolder made sure it is a run). */
function moveAside(dir: string, origin: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  let aside = `${dir}.old-${stamp}`;
  for (let i = 2; existsSync(aside); i++) aside = `${dir}.old-${stamp}-${i}`;
  try {
    renameSync(dir, aside);
  } catch (err) {
    throw new RunFolderError(
      `${origin} ${dir}: --overwrite cannot move it aside to ${basename(aside)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  return aside;
}

function lockInfo(): LockInfo {
  return {
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    proc_start: procStart(process.pid),
    argv: process.argv.slice(1),
  };
}

/** Create the lock with O_EXCL; take over a stale one (rename it away first, so only one taker wins). */
function acquireLock(dir: string, origin: string): { stale?: LockInfo } {
  const path = join(dir, LOCK_FILE);
  let stale: LockInfo | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    // Written whole to a private file, then linked into place: the lock is never seen half-written.
    const tmp = `${path}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify(lockInfo()) + '\n');
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, path);
      unlinkSync(tmp);
      return stale ? { stale } : {};
    } catch (err) {
      unlinkSync(tmp);
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new RunFolderError(
          `${origin} ${dir}: cannot create the lock file ${LOCK_FILE} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
        );
    }
    const owner = liveOwner(dir);
    if (owner)
      throw new RunFolderError(
        `${origin} ${dir}: in use by another run (${describeOwner(owner)}); wait for it or choose another folder`,
      );
    stale = readLock(dir) ?? undefined;
    try {
      const moved = `${path}.stale-${process.pid}`;
      renameSync(path, moved);
      unlinkSync(moved);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // another taker moved it first: try again
    }
  }
  throw new RunFolderError(`${origin} ${dir}: could not take the lock ${LOCK_FILE} (contended); try again`);
}

function releaseLock(dir: string): void {
  const path = join(dir, LOCK_FILE);
  const lock = readLock(dir);
  if (lock && lock.pid === process.pid && lock.host === hostname()) {
    try {
      unlinkSync(path);
    } catch {
      /* already gone */
    }
  }
}

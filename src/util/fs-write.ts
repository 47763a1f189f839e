// File writes whose errors name the file. Node's own message for a failed write on an open file has
// no path ("ENOSPC: no space left on device, write"), which on a full disk leaves a user guessing
// which of a checkpoint's files, on which mount, ran out of room.
import { existsSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';

const REASONS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EROFS: 'read-only file system',
  ENOENT: 'no such folder',
  EISDIR: 'it is a folder',
  EFBIG: 'file too large for the file system',
};

/** "cannot write PATH: no space left on device (ENOSPC)" for a file-system error, else the error's message. */
export function namedWriteError(path: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code ? `${REASONS[code] ?? (err as Error).message} (${code})` : (err as Error).message;
  return Object.assign(new Error(`cannot write ${path}: ${why}`, { cause: err }), code ? { code } : {});
}

/** Run a write of `path`; a failure is rethrown naming the file. */
export function writingFile<T>(path: string, write: () => T): T {
  try {
    return write();
  } catch (err) {
    throw namedWriteError(path, err);
  }
}

export function writeFileNamed(path: string, data: string | Uint8Array): void {
  writingFile(path, () => writeFileSync(path, data));
}

/**
 * A folder built at most once however many processes want it at the same time (test fixtures and
 * caches shared by parallel test files): `build` fills a private temp folder next to `dir`, which is
 * then renamed into place in one step. A reader never sees a half-written folder; when two builders
 * race, the first rename wins and the other's copy is removed. Returns `dir`.
 */
export function buildFolderOnce(dir: string, build: (tmp: string) => void): string {
  if (existsSync(dir)) return dir;
  const tmp = `${dir}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    build(tmp);
    renameSync(tmp, dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Another process renamed its copy in first: use that one.
    if (!((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(dir))) throw err;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** Writes all of `bytes` to an open file, in writes of at most 256 MiB (a write may be short; one over 2 GiB is refused). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) done += writeSync(fd, bytes, done, Math.min(bytes.byteLength - done, 1 << 28));
}

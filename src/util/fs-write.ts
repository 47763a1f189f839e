// File writes whose errors name the file. Node's own message for a failed write on an open file has
// no path ("ENOSPC: no space left on device, write"), which on a full disk leaves a user guessing
// which of a checkpoint's files, on which mount, ran out of room.
import { writeFileSync } from 'node:fs';

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

// Checkpoints that survive a crash at any instant, and resume that skips what is broken.
//
// Layout (Hugging Face Trainer's, plus a manifest): <run>/checkpoint-N/
//   adapter_config.json, adapter_model.safetensors   PEFT adapter (loads in PEFT/vLLM unchanged)
//   optimizer.bin                                     AdamW moments + step (exact)
//   loractor_state.json                               step, version, every RNG/sampler state, evals, pending rollouts
//                                                     (not trainer_state.json: that name is HF Trainer's, with its own schema)
//   README.md                                         model card: base model, adapter, step, evaluations
//   manifest.json                                     sha256 + size of every file above (written last)
// Atomicity: everything is written into a hidden temp folder, fsynced, then renamed into place, so a
// folder named checkpoint-N is always complete; a torn or tampered one fails its manifest and resume
// falls back to the previous checkpoint, saying why. The learner refuses to write a non-finite adapter
// or optimizer state, and resume also skips a checkpoint holding one (one written before that check).
// Temp folders left by a crash are removed when the run folder is next opened (run-folder.ts).
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import type { EvalSummary } from '../report/metrics.js';
import { readSafetensorsHeader } from '../model/safetensors.js';
import { deserializeAdamWState } from '../rl/optimizer.js';
import { writeFileNamed } from '../util/fs-write.js';
import type { RngState } from '../util/rng.js';

export const CHECKPOINT_FORMAT = 'loractor-checkpoint/1';
/** The resume state file. Checkpoints written before it was renamed hold LEGACY_STATE_FILE; resume still reads them. */
export const RESUME_STATE_FILE = 'loractor_state.json';
const LEGACY_STATE_FILE = 'trainer_state.json';

export interface TrainerState {
  format: typeof CHECKPOINT_FORMAT;
  step: number;
  policy_version: number;
  seed: number;
  /** sha256 of the resolved config's training-relevant sections: resuming under another config is refused. */
  config_sha256: string;
  prompt_sampler: unknown;
  learner_dropout_rng: RngState;
  evals: EvalSummary[];
  /** Async mode: the rollout already generated for step+1 (accepted, not yet trained on). */
  pending_rollout?: unknown;
  time: string;
}

export interface ManifestEntry {
  file: string;
  bytes: number;
  sha256: string;
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** JSON replacer: typed arrays (the carry's token ids and log-probs, views of shared memory) as plain lists; exact, since every f32 and i32 is a double. */
export function typedArraysAsLists(_key: string, v: unknown): unknown {
  return ArrayBuffer.isView(v) && !(v instanceof DataView) ? Array.from(v as unknown as ArrayLike<number>) : v;
}

/** Temp folder for checkpoint `step` (hidden, so it is never mistaken for a checkpoint). */
export function checkpointTempDir(runDir: string, step: number): string {
  const dir = join(runDir, `.checkpoint-${step}.tmp-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  return dir;
}

/** Seal a temp folder the learner has written into: resume state, model card, manifest, fsync, rename. */
export function sealCheckpoint(runDir: string, tmpDir: string, state: TrainerState, modelCard?: string): string {
  writeFileNamed(join(tmpDir, RESUME_STATE_FILE), JSON.stringify(state, typedArraysAsLists, 1) + '\n');
  if (modelCard !== undefined) writeFileNamed(join(tmpDir, 'README.md'), modelCard);
  const files = readdirSync(tmpDir)
    .filter((f) => f !== 'manifest.json')
    .sort();
  const manifest: ManifestEntry[] = files.map((file) => ({
    file,
    bytes: statSync(join(tmpDir, file)).size,
    sha256: sha256File(join(tmpDir, file)),
  }));
  writeFileNamed(
    join(tmpDir, 'manifest.json'),
    JSON.stringify({ format: CHECKPOINT_FORMAT, files: manifest }, null, 1) + '\n',
  );
  for (const f of [...files, 'manifest.json']) fsyncPath(join(tmpDir, f));
  fsyncPath(tmpDir);
  const final = join(runDir, `checkpoint-${state.step}`);
  if (existsSync(final)) rmSync(final, { recursive: true, force: true });
  renameSync(tmpDir, final);
  fsyncPath(runDir);
  return final;
}

/** Why a checkpoint folder cannot be used, or null when it is complete and intact. */
export function checkpointProblem(dir: string): string | null {
  const mPath = join(dir, 'manifest.json');
  if (!existsSync(mPath)) return 'no manifest.json (incomplete or not a loractor checkpoint)';
  let manifest: { format?: string; files?: ManifestEntry[] };
  try {
    manifest = JSON.parse(readFileSync(mPath, 'utf8'));
  } catch (err) {
    return `manifest.json is not valid JSON (${(err as Error).message})`;
  }
  if (manifest.format !== CHECKPOINT_FORMAT || !Array.isArray(manifest.files))
    return `manifest.json has format ${JSON.stringify(manifest.format)}, expected ${CHECKPOINT_FORMAT}`;
  for (const e of manifest.files) {
    const p = join(dir, e.file);
    if (!existsSync(p)) return `${e.file} is missing`;
    const bytes = statSync(p).size;
    if (bytes !== e.bytes) return `${e.file} has ${bytes} bytes, manifest says ${e.bytes} (truncated?)`;
    if (sha256File(p) !== e.sha256) return `${e.file} fails its sha256 check (corrupted)`;
  }
  for (const need of [stateFileOf(manifest.files), 'adapter_model.safetensors', 'optimizer.bin']) {
    if (!manifest.files.some((e) => e.file === need)) return `manifest lists no ${need}`;
  }
  return nonFiniteProblem(dir);
}

/** A checkpoint whose adapter or AdamW moments hold NaN/Inf cannot be trained on: which file, how many values. */
function nonFiniteProblem(dir: string): string | null {
  let counted;
  try {
    counted = countNonFiniteTensors(join(dir, 'adapter_model.safetensors'));
  } catch (err) {
    return `adapter_model.safetensors does not load (${(err as Error).message})`;
  }
  if (counted.bad)
    return `adapter_model.safetensors holds ${counted.bad.toLocaleString('en-US')} non-finite value(s) of ${counted.total.toLocaleString('en-US')}`;
  let opt;
  try {
    opt = deserializeAdamWState(readFileSync(join(dir, 'optimizer.bin')), 'optimizer.bin');
  } catch (err) {
    return (err as Error).message;
  }
  let bad = 0;
  for (const a of [opt.m, opt.v]) for (const x of a) if (!Number.isFinite(x)) bad++;
  if (bad)
    return `optimizer.bin holds ${bad.toLocaleString('en-US')} non-finite AdamW moment(s) of ${(2 * opt.m.length).toLocaleString('en-US')}`;
  return null;
}

/** The resume state file a checkpoint's manifest lists: the current name, or the legacy one in older checkpoints. */
function stateFileOf(files: ManifestEntry[]): string {
  return !files.some((e) => e.file === RESUME_STATE_FILE) && files.some((e) => e.file === LEGACY_STATE_FILE)
    ? LEGACY_STATE_FILE
    : RESUME_STATE_FILE;
}

/** NaN/Inf values of every tensor of a safetensors file, counted from the raw bytes (the loader stops at the first). */
function countNonFiniteTensors(path: string): { bad: number; total: number } {
  const h = readSafetensorsHeader(path);
  const data = readFileSync(path).subarray(h.dataStart);
  let bad = 0,
    total = 0;
  for (const e of h.entries.values()) {
    const bytes = data.subarray(e.begin, e.end);
    if (e.dtype === 'F32') {
      for (let o = 0; o + 4 <= bytes.length; o += 4) {
        total++;
        if (!Number.isFinite(bytes.readFloatLE(o))) bad++;
      }
    } else {
      // F16: exponent 0x7c00 all ones; BF16: exponent 0x7f80 all ones (Inf or NaN).
      const mask = e.dtype === 'F16' ? 0x7c00 : 0x7f80;
      for (let o = 0; o + 2 <= bytes.length; o += 2) {
        total++;
        if ((bytes.readUInt16LE(o) & mask) === mask) bad++;
      }
    }
  }
  return { bad, total };
}

export interface ResumePoint {
  dir: string;
  state: TrainerState;
  skipped: { dir: string; why: string }[];
}

/**
 * The newest intact checkpoint under `location` (a run folder, or one checkpoint folder). Broken
 * ones are skipped and reported; throws when none is usable.
 */
export function findResumePoint(location: string): ResumePoint {
  if (!existsSync(location)) throw new Error(`--resume ${location}: no such folder`);
  const candidates =
    existsSync(join(location, 'manifest.json')) || /checkpoint-\d+$/.test(location)
      ? [location]
      : readdirSync(location)
          .filter((n) => /^checkpoint-\d+$/.test(n))
          .sort((a, b) => Number(b.slice(11)) - Number(a.slice(11)))
          .map((n) => join(location, n));
  const skipped: ResumePoint['skipped'] = [];
  for (const dir of candidates) {
    const why = checkpointProblem(dir);
    if (why) {
      skipped.push({ dir, why });
      continue;
    }
    const stateFile = stateFileOf(
      (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { files: ManifestEntry[] }).files,
    );
    const state = JSON.parse(readFileSync(join(dir, stateFile), 'utf8')) as TrainerState;
    if (state.format !== CHECKPOINT_FORMAT) {
      skipped.push({ dir, why: `${stateFile} format ${state.format}` });
      continue;
    }
    return { dir, state, skipped };
  }
  const detail = skipped.map((s) => `${s.dir}: ${s.why}`).join('; ');
  throw new Error(
    `--resume ${location}: no usable checkpoint${detail ? ` (${detail})` : ' (no checkpoint-N folders)'}`,
  );
}

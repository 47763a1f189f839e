// Pure helpers of the learner's step: trajectories → right-padded model batch, the completion-aligned
// [B, Tc] views the loss works on, the scored positions of a batch, and the micro-batch split.
import type { TrainBatch } from '../model/train.js';

export interface TrajectoryArrays {
  promptIds: ArrayLike<number>;
  completionIds: ArrayLike<number>;
}

export interface BuiltBatch {
  batch: TrainBatch;
  /** Prompt tokens kept per row (after left truncation to max_prompt_length). */
  prompts: number[];
  /** Completion tokens per row. */
  comps: number[];
  /** Completion positions per row of the [B, Tc] views (≥ 1). */
  Tc: number;
}

/** Right-padded [B, T] batch of prompt + completion; prompts left-truncated to maxPrompt (0 = off). */
export function buildBatch(trajs: readonly TrajectoryArrays[], maxPrompt: number): BuiltBatch {
  const prompts = trajs.map((t) => Math.min(t.promptIds.length, maxPrompt > 0 ? maxPrompt : Infinity));
  const comps = trajs.map((t) => t.completionIds.length);
  const T = Math.max(...trajs.map((_, i) => prompts[i]! + comps[i]!));
  const Tc = Math.max(1, ...comps);
  const ids = new Int32Array(trajs.length * T);
  const lengths = new Int32Array(trajs.length);
  const scoreFrom = new Int32Array(trajs.length);
  trajs.forEach((t, b) => {
    const p = t.promptIds;
    const c = t.completionIds;
    const kept = prompts[b]!;
    for (let i = 0; i < kept; i++) ids[b * T + i] = p[p.length - kept + i]!;
    for (let i = 0; i < c.length; i++) ids[b * T + kept + i] = c[i]!;
    lengths[b] = kept + c.length;
    scoreFrom[b] = kept;
  });
  return { batch: { ids, lengths, seqLen: T, scoreFrom }, prompts, comps, Tc };
}

/** Gather [B·T] model values (log-probs, entropies) into completion-aligned [B, Tc]. */
export function gatherCompletions(src: ArrayLike<number>, b: BuiltBatch): Float32Array {
  const T = b.batch.seqLen;
  const out = new Float32Array(b.prompts.length * b.Tc);
  for (let i = 0; i < b.prompts.length; i++) {
    for (let t = 0; t < b.comps[i]!; t++) out[i * b.Tc + t] = src[i * T + b.prompts[i]! + t]!;
  }
  return out;
}

/** Scatter completion-aligned [B, Tc] gradients back to the model's [B·T] layout. */
export function scatterCompletions(src: ArrayLike<number>, b: BuiltBatch): Float32Array {
  const T = b.batch.seqLen;
  const out = new Float32Array(b.prompts.length * T);
  for (let i = 0; i < b.prompts.length; i++)
    for (let t = 0; t < b.comps[i]!; t++) out[i * T + b.prompts[i]! + t] = src[i * b.Tc + t]!;
  return out;
}

/** Completion-aligned copies of per-trajectory arrays (behaviour or old log-probs) into [B, Tc]. */
export function stackCompletions(rows: readonly ArrayLike<number>[], b: BuiltBatch): Float32Array {
  const out = new Float32Array(rows.length * b.Tc);
  rows.forEach((r, i) => {
    if (r.length !== b.comps[i])
      throw new Error(`learner: row ${i} has ${r.length} log-probs for ${b.comps[i]} completion tokens`);
    out.set(r, i * b.Tc);
  });
  return out;
}

/** The scored positions of a batch in forwardTrain's order: target token ids and flat [B·T] indices. */
export function scoredPositions(batch: TrainBatch): { targets: Int32Array; flat: Int32Array } {
  const B = batch.lengths.length,
    T = batch.seqLen;
  let M = 0;
  for (let b = 0; b < B; b++) M += Math.max(0, batch.lengths[b]! - batch.scoreFrom[b]!);
  const targets = new Int32Array(M),
    flat = new Int32Array(M);
  let m = 0;
  for (let b = 0; b < B; b++) {
    for (let t = batch.scoreFrom[b]!; t < batch.lengths[b]!; t++, m++) {
      targets[m] = batch.ids[b * T + t]!;
      flat[m] = b * T + t;
    }
  }
  return { targets, flat };
}

/**
 * Micro-batch boundaries: the given sizes (one generation chunk each), or n split into `parts` even
 * contiguous parts (floor bounds), at most n of them.
 */
export function microBatchBounds(n: number, parts: number, sizes?: readonly number[]): number[] {
  if (sizes && sizes.length > 0) {
    const total = sizes.reduce((a, x) => a + x, 0);
    if (total !== n || sizes.some((x) => !Number.isInteger(x) || x < 0))
      throw new Error(`microBatchSizes: ${JSON.stringify(sizes)} do not add up to the ${n} trajectories`);
    const bounds = [0];
    for (const x of sizes) if (x > 0) bounds.push(bounds[bounds.length - 1]! + x);
    return bounds;
  }
  const M = Math.min(parts, n);
  const bounds: number[] = [];
  for (let m = 0; m <= M; m++) bounds.push(Math.floor((m * n) / M));
  return bounds;
}

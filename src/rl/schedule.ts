// Learning-rate schedules with the transformers (optimization.py) lambdas, so a Tina recipe gets
// the same learning rate at every step as under the HF Trainer.
//
// The multiplier f(step) for optimizer step `step` (0-based: the first update uses f(0)), T = the
// schedule horizon (max_steps), W = warmup steps:
//   warmup (all but constant):  step < W → step / max(1, W)
//   constant                    1
//   constant_with_warmup        1 after warmup
//   linear                      max(0, (T − step) / max(1, T − W))
//   cosine                      p = (step − W)/max(1, T − W);  max(0, 0.5·(1 + cos(π·c·2·p)))  c = num_cycles (0.5)
//   cosine_with_min_lr          the cosine factor f, then f·(1 − r) + r, r = min_lr_rate (or min_lr / lr)
// warmup steps = warmup_steps if > 0 else ceil(warmup_ratio × T)  (TrainingArguments.get_warmup_steps).

export type LrSchedulerType = 'linear' | 'cosine' | 'cosine_with_min_lr' | 'constant' | 'constant_with_warmup';
export const LR_SCHEDULER_TYPES: readonly LrSchedulerType[] = [
  'linear',
  'cosine',
  'cosine_with_min_lr',
  'constant',
  'constant_with_warmup',
];

export interface LrSchedule {
  type: LrSchedulerType;
  /** Peak learning rate (learning_rate). */
  learningRate: number;
  /** Schedule horizon T (max_steps). */
  maxSteps: number;
  /** W, already resolved (see warmupStepsFor). */
  warmupSteps: number;
  /** cosine_with_min_lr: floor as a fraction of learningRate. */
  minLrRate?: number;
  /** cosine_with_min_lr: absolute floor (alternative to minLrRate). */
  minLr?: number;
  /** cosine / cosine_with_min_lr: number of cosine half-waves × 0.5 (default 0.5: one decay). */
  numCycles?: number;
}

/** TrainingArguments.get_warmup_steps: explicit steps win, else ceil(ratio × horizon). */
export function warmupStepsFor(maxSteps: number, warmupRatio: number, warmupSteps = 0): number {
  if (!(warmupRatio >= 0 && warmupRatio <= 1)) throw new Error(`warmup_ratio: must be in [0, 1], got ${warmupRatio}`);
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0)
    throw new Error(`warmup_steps: must be a non-negative integer, got ${warmupSteps}`);
  return warmupSteps > 0 ? warmupSteps : Math.ceil(maxSteps * warmupRatio);
}

/** The multiplier f(step) of the schedule (learning rate = learningRate × f). */
export function lrMultiplier(s: LrSchedule, step: number): number {
  const T = s.maxSteps;
  const W = s.warmupSteps;
  if (s.type === 'constant') return 1;
  if (step < W) return step / Math.max(1, W);
  switch (s.type) {
    case 'constant_with_warmup':
      return 1;
    case 'linear':
      return Math.max(0, (T - step) / Math.max(1, T - W));
    case 'cosine':
    case 'cosine_with_min_lr': {
      const cycles = s.numCycles ?? 0.5;
      const progress = (step - W) / Math.max(1, T - W);
      let f = 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress));
      if (s.type === 'cosine_with_min_lr') {
        const r = minLrRateOf(s);
        f = f * (1 - r) + r;
      }
      return Math.max(0, f);
    }
    default:
      throw new Error(
        `lr_scheduler_type: expected one of ${LR_SCHEDULER_TYPES.join(' | ')}, got ${JSON.stringify((s as LrSchedule).type)}`,
      );
  }
}

function minLrRateOf(s: LrSchedule): number {
  if (s.minLrRate !== undefined && s.minLr !== undefined)
    throw new Error('lr_scheduler_kwargs: set only one of min_lr and min_lr_rate');
  if (s.minLrRate !== undefined) return s.minLrRate;
  if (s.minLr !== undefined) return s.minLr / s.learningRate;
  throw new Error('lr_scheduler_kwargs: cosine_with_min_lr needs min_lr_rate or min_lr (transformers raises the same)');
}

/** Learning rate for optimizer step `step` (0-based). */
export function learningRateAt(s: LrSchedule, step: number): number {
  if (!Number.isInteger(step) || step < 0) throw new Error(`step: must be a non-negative integer, got ${step}`);
  return s.learningRate * lrMultiplier(s, step);
}

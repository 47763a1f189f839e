// Which generation batch each micro-batch of each optimizer step trains on, with TRL's semantics
// (GRPOTrainer._prepare_inputs): micro-steps j = 0, 1, 2, … are numbered over the whole run; every
// steps_per_generation × num_iterations micro-steps a new generation batch is generated and split
// into steps_per_generation chunks; micro-step j trains on chunk j mod steps_per_generation of
// generation floor(j / (steps_per_generation × num_iterations)); an optimizer step is every
// gradient_accumulation_steps micro-steps. So μ = num_iterations > 1 reuses each generation batch μ
// times, and steps_per_generation > gradient_accumulation_steps spreads one over several steps.
//
// Old log-probs (the ratio's denominator) are needed exactly when some generation batch is trained on
// across an optimizer update, i.e. when gradient_accumulation_steps is not a multiple of
// steps_per_generation × num_iterations (TRL's test); otherwise ρ ≡ 1 and the current log-probs,
// detached, serve (today's loss, bit for bit).

export interface GenerationPlan {
  /** Micro-batches per optimizer step (gradient_accumulation_steps). */
  gradientAccumulationSteps: number;
  /** Micro-batches per generation batch. */
  stepsPerGeneration: number;
  /** μ. */
  numIterations: number;
}

export interface MicroBatchRef {
  /** Generation batch index (0-based over the run). */
  generation: number;
  /** Chunk of that generation batch (0 … stepsPerGeneration − 1). */
  chunk: number;
  /** Pass over that batch (0 … μ − 1). */
  iteration: number;
}

export function checkPlan(p: GenerationPlan): void {
  for (const [k, v] of Object.entries(p))
    if (!Number.isInteger(v) || v < 1) throw new Error(`generation plan: ${k} must be a positive integer, got ${v}`);
}

/** Micro-steps per generation batch, all passes included. */
export const generateEvery = (p: GenerationPlan): number => p.stepsPerGeneration * p.numIterations;

/** The micro-batches of optimizer step `step` (1-based), in order. */
export function microBatchesOfStep(p: GenerationPlan, step: number): MicroBatchRef[] {
  checkPlan(p);
  if (!Number.isInteger(step) || step < 1) throw new Error(`step: must be a positive integer, got ${step}`);
  const out: MicroBatchRef[] = [];
  const every = generateEvery(p);
  for (let j = (step - 1) * p.gradientAccumulationSteps; j < step * p.gradientAccumulationSteps; j++) {
    const generation = Math.floor(j / every);
    const within = j - generation * every;
    out.push({
      generation,
      chunk: within % p.stepsPerGeneration,
      iteration: Math.floor(within / p.stepsPerGeneration),
    });
  }
  return out;
}

/** Generation batches step `step` trains on (ascending, unique). */
export function generationsOfStep(p: GenerationPlan, step: number): number[] {
  return [...new Set(microBatchesOfStep(p, step).map((m) => m.generation))];
}

/** The last optimizer step that trains on generation `g` (after it the batch can be dropped). */
export function lastStepOfGeneration(p: GenerationPlan, g: number): number {
  checkPlan(p);
  const lastMicro = (g + 1) * generateEvery(p) - 1;
  return Math.floor(lastMicro / p.gradientAccumulationSteps) + 1;
}

/** The first optimizer step that trains on generation `g`. */
export function firstStepOfGeneration(p: GenerationPlan, g: number): number {
  checkPlan(p);
  return Math.floor((g * generateEvery(p)) / p.gradientAccumulationSteps) + 1;
}

/** Whether the learner must keep old log-probs (some batch outlives an optimizer update). */
export function needsOldLogprobs(p: GenerationPlan): boolean {
  checkPlan(p);
  return p.gradientAccumulationSteps % generateEvery(p) !== 0;
}

/** Most optimizer steps one generation batch is trained in (for the learner's staleness bound). */
export function maxStepsPerGeneration(p: GenerationPlan): number {
  let most = 1;
  // The pattern repeats with period lcm(generateEvery, GA) micro-steps; a generation starting at any
  // micro offset within that period is covered by checking the first lcm/generateEvery generations.
  const every = generateEvery(p);
  const period = lcm(every, p.gradientAccumulationSteps) / every;
  for (let g = 0; g < period; g++) most = Math.max(most, lastStepOfGeneration(p, g) - firstStepOfGeneration(p, g) + 1);
  return most;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/**
 * Split `n` trajectories (a generation batch after dynamic sampling) into `parts` chunks as TRL's
 * split_tensor_dict does for equal sizes: contiguous, sizes differing by at most one (floor bounds).
 */
export function chunkBounds(n: number, parts: number): number[] {
  const bounds: number[] = [];
  for (let c = 0; c <= parts; c++) bounds.push(Math.floor((c * n) / parts));
  return bounds;
}

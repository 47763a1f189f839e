// TRL's RepeatRandomSampler for GRPO: each prompt index appears `repeatCount` (G) times in a row,
// prompts in a seeded random order that changes every epoch. The order of epoch e is a pure
// function of (seed, e), so the whole state is {epoch, position}: checkpoint and resume are exact.
import { Rng } from '../util/rng.js';

export interface RepeatSamplerState {
  epoch: number;
  /** Index into the epoch's expanded sequence (numSamples × repeatCount entries). */
  position: number;
}

export interface RepeatSamplerOptions {
  numSamples: number;
  repeatCount: number;
  seed: number;
  state?: RepeatSamplerState;
}

export interface RepeatSampler {
  /** Next dataset index. */
  next(): number;
  /** The next n indices (groups stay contiguous when n is a multiple of repeatCount). */
  take(n: number): number[];
  state(): RepeatSamplerState;
  readonly numSamples: number;
  readonly repeatCount: number;
}

export function createRepeatSampler(opts: RepeatSamplerOptions): RepeatSampler {
  const { numSamples, repeatCount, seed } = opts;
  if (!Number.isInteger(numSamples) || numSamples < 1)
    throw new Error(`sampler: numSamples must be a positive integer, got ${numSamples}`);
  if (!Number.isInteger(repeatCount) || repeatCount < 1)
    throw new Error(`sampler: repeatCount (num_generations) must be a positive integer, got ${repeatCount}`);
  const perEpoch = numSamples * repeatCount;
  let epoch = opts.state?.epoch ?? 0;
  let position = opts.state?.position ?? 0;
  if (!Number.isInteger(epoch) || epoch < 0 || !Number.isInteger(position) || position < 0 || position > perEpoch) {
    throw new Error(
      `sampler: invalid resume state ${JSON.stringify(opts.state)} for ${numSamples} samples × ${repeatCount}`,
    );
  }
  let order: number[] = Rng.derive(seed, 'repeat-sampler', epoch).permutation(numSamples);

  const next = (): number => {
    if (position === perEpoch) {
      epoch++;
      position = 0;
      order = Rng.derive(seed, 'repeat-sampler', epoch).permutation(numSamples);
    }
    const idx = order[Math.floor(position / repeatCount)]!;
    position++;
    return idx;
  };
  return {
    next,
    take(n: number): number[] {
      const out = new Array<number>(n);
      for (let i = 0; i < n; i++) out[i] = next();
      return out;
    },
    state: () => ({ epoch, position }),
    numSamples,
    repeatCount,
  };
}

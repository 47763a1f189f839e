// The live terminal progress line of a training run: step, reward, accuracy, format, length, kl,
// tokens/s and ETA. On a TTY it redraws one line; otherwise (CI, pipes) it prints one line per step.
import type { StepMetrics } from './metrics.js';

export interface ProgressOptions {
  totalSteps: number;
  stream?: NodeJS.WriteStream;
  /** Force one line per step even on a TTY. */
  plain?: boolean;
}

export function createProgress(opts: ProgressOptions): {
  update(m: StepMetrics): void;
  log(line: string): void;
  done(): void;
} {
  const stream = opts.stream ?? process.stderr;
  const tty = !opts.plain && Boolean(stream.isTTY);
  const t0 = Date.now();
  let drawn = false;
  const f = (v: number | undefined, d = 3): string => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(d));
  const clear = (): void => {
    if (tty && drawn) stream.write('\r\x1b[2K');
    drawn = false;
  };
  return {
    update(m) {
      const done = m.step;
      const elapsed = (Date.now() - t0) / 1000;
      const eta = done > 0 ? (elapsed / done) * (opts.totalSteps - done) : NaN;
      const width = 20;
      const filled = Math.round((width * done) / Math.max(1, opts.totalSteps));
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
      // A step that reuses a generation batch (num_iterations > 1) generated nothing: no rollout rate.
      const tps = m['rollout/tokens_per_s'];
      const line =
        `${bar} step ${done}/${opts.totalSteps} reward ${f(m.reward)} acc ${f(m['rewards/accuracy/mean'], 2)} ` +
        `format ${f(m['rewards/format/mean'], 2)} len ${f(m['completions/mean_length'], 1)} kl ${f(m.kl, 4)} ` +
        `tok/s ${tps === undefined ? '–' : tps.toFixed(0)} ETA ${Number.isFinite(eta) ? formatDuration(eta) : '–'}`;
      if (tty) {
        clear();
        stream.write(line);
        drawn = true;
      } else {
        stream.write(line + '\n');
      }
    },
    log(line) {
      clear();
      stream.write(line + '\n');
    },
    done() {
      clear();
    },
  };
}

export function formatDuration(s: number): string {
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - 60 * m)).padStart(2, '0')}s`;
}

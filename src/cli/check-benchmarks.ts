// `check` for evaluation (split from check.ts, which runs every section in order): every benchmark in
// eval.benchmarks is known and its file is where the run will look (eval.benchmark_paths, then
// eval.benchmarks_dir, then the shipped benchmarks folder).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { EvalConfig } from '../eval/config.js';
import { getBenchmark } from '../eval/benchmarks.js';
import { benchmarksDir } from '../util/paths.js';
import { resolvePath, type CheckReport } from './check-report.js';

export function checkBenchmarks(cfg: EvalConfig, configFile: string, rep: CheckReport): void {
  const found: string[] = [];
  for (const name of cfg.benchmarks) {
    let def;
    try {
      def = getBenchmark(name);
    } catch (err) {
      rep.problems.push(`eval.benchmarks: ${(err as Error).message}`);
      continue;
    }
    if (def.name === 'synthetic') {
      found.push(name);
      continue;
    }
    const override = cfg.benchmark_paths[name];
    const file = override
      ? resolvePath(override, configFile)
      : def.file
        ? join(
            cfg.benchmarks_dir !== undefined ? resolvePath(cfg.benchmarks_dir, configFile) : benchmarksDir(),
            def.file,
          )
        : null;
    if (file === null)
      rep.problems.push(`eval.benchmark_paths.${name}: benchmark '${name}' ships no file; give the path of your copy`);
    else if (!existsSync(file))
      rep.problems.push(
        `eval: benchmark '${name}' file ${file} does not exist${override ? ` (eval.benchmark_paths.${name})` : ''}`,
      );
    else found.push(name);
  }
  if (found.length) rep.passed.push(`eval: benchmark files present for ${found.join(', ')}`);
}

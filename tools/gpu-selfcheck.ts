// node dist/tools/gpu-selfcheck.js [--large] [--json FILE] — every WebGPU op against the cpu op on
// this machine's adapter, twice: with every feature the adapter offers (the fast variants) and with
// shader-f16 / subgroups / subgroup-matrix switched off (the portable paths). Exit 1 when an op
// differs from the cpu op by more than 1e-3 relative (f16-stored operands are compared with the
// cpu op on the same rounded values).
import { writeFileSync } from 'node:fs';
import { scriptOptions } from '../src/cli/standard-flags.js';
import { createGpuContext } from '../src/ops/webgpu/context.js';
import { selfCheck, type SelfCheckRow } from '../src/ops/webgpu/selfcheck.js';

const { values: a } = scriptOptions({
  name: 'gpu-selfcheck',
  help: 'usage: node dist/tools/gpu-selfcheck.js [--large] [--json FILE]\n  Every WebGPU op against the cpu op, fast and portable variants',
  options: { large: { type: 'boolean', default: false }, json: { type: 'string' } },
});
const TOL = 1e-3;

async function main(): Promise<number> {
  const results: Record<string, { adapter: string; features: string[]; rows: SelfCheckRow[] }> = {};
  for (const [label, disable] of [
    ['all features', []],
    [
      'portable (no f16, subgroups, subgroup-matrix)',
      ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix'],
    ],
  ] as [string, string[]][]) {
    const ctx = await createGpuContext({ disableFeatures: disable });
    console.log(`\n${label}: ${ctx.info.adapter}; features: ${ctx.info.features.join(' ') || 'none'}`);
    const rows = await selfCheck(ctx, { large: a.large });
    for (const r of rows)
      console.log(
        `${r.relError <= TOL ? 'ok  ' : 'FAIL'}  ${r.op.padEnd(20)} ${r.shape.padEnd(36)} rel err ${r.relError.toExponential(2)}  ${r.ms.toFixed(0)} ms`,
      );
    results[label] = { adapter: ctx.info.adapter, features: ctx.info.features, rows };
    ctx.device.destroy();
  }
  if (a.json) writeFileSync(a.json, JSON.stringify(results, null, 2));
  const bad = Object.values(results)
    .flatMap((r) => r.rows)
    .filter((r) => !(r.relError <= TOL));
  console.log(bad.length ? `\n${bad.length} op check(s) failed` : '\nall op checks passed');
  return bad.length ? 1 : 0;
}

main().then(
  (rc) => process.exit(rc),
  (err) => {
    console.error(`gpu-selfcheck: ${(err as Error).message}`);
    process.exit(1);
  },
);

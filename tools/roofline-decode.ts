// node dist/tools/roofline-decode.js [--shapes 1.5b,0.5b] [--batches 1,2,...,64] [--context 2048]
//   [--weights f16|f32] [--kv f16|f32] [--lora-r 32] [--json FILE]
// The webgpu engine's decode step on paper (src/model/decode-cost.ts): weight, LoRA, KV-cache and
// logit bytes per generated token against the H200's 4.8 TB/s, the FLOPs against its f32 / f16 /
// bf16-tensor peaks, and the tokens/s the bound allows, for batch 1…64.
import { writeFileSync } from 'node:fs';
import { scriptOptions } from '../src/cli/standard-flags.js';
import { decodeCost } from '../src/model/decode-cost.js';
import { H200, shapeConfig } from '../src/model/shapes.js';

const HELP = `usage: node dist/tools/roofline-decode.js [--shapes 1.5b,0.5b] [--batches 1,2,4,...] [--context N] [--weights f16|f32] [--kv f16|f32] [--lora-r N] [--json FILE]
  The webgpu engine's decode step on paper: bytes and FLOPs per generated token against the H200's peaks,
  and the tokens/s the bound allows, per batch size.`;
const { values: a } = scriptOptions({
  name: 'roofline-decode',
  help: HELP,
  options: {
    shapes: { type: 'string', default: '1.5b,0.5b' },
    batches: { type: 'string', default: '1,2,4,8,16,32,48,64' },
    context: { type: 'string', default: '2048' },
    weights: { type: 'string', default: 'f16' },
    kv: { type: 'string', default: 'f16' },
    'lora-r': { type: 'string', default: '32' },
    json: { type: 'string' },
  },
});
const MB = 2 ** 20;
const out: unknown[] = [];
for (const shape of a.shapes!.split(',')) {
  const c = shapeConfig(shape);
  const rows = a
    .batches!.split(',')
    .map(Number)
    .map((batch) => ({
      batch,
      ...decodeCost(
        c,
        {
          batch,
          context: +a.context!,
          weightBytes: a.weights === 'f32' ? 4 : 2,
          kvBytes: a.kv === 'f32' ? 4 : 2,
          loraR: +a['lora-r']!,
        },
        H200,
      ),
    }));
  console.log(
    `\nDecode step, ${shape}, context ${a.context}, weights ${a.weights}, KV ${a.kv}, LoRA r ${a['lora-r']} (f32, unmerged); H200 ${H200.bytesPerS / 1e12} TB/s, f32 ${H200.f32 / 1e12} TFLOP/s`,
  );
  const cols = [
    'batch',
    'weights MB',
    'LoRA MB',
    'KV MB',
    'logits MB',
    'MB/token',
    'GFLOP',
    'mem ms',
    'f32 ms',
    'f16 ms',
    'tensor ms',
    'bound ms',
    'tokens/s',
  ];
  const cells = [
    cols,
    ...rows.map((r) => [
      String(r.batch),
      ...[
        r.weightBytes / MB,
        r.loraBytes / MB,
        r.kvBytes / MB,
        r.logitBytes / MB,
        r.bytesPerToken / MB,
        r.flops / 1e9,
        1e3 * r.memoryS,
        1e3 * r.computeF32S,
        1e3 * r.computeF16S,
        1e3 * r.computeTensorS,
        1e3 * r.stepS,
        r.tokensPerS,
      ].map((v) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toPrecision(2))),
    ]),
  ];
  const w = cols.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  for (const r of cells) console.log(r.map((s, i) => s.padStart(w[i]!)).join('  '));
  out.push({ shape, context: +a.context!, rows });
}
if (a.json) writeFileSync(a.json, JSON.stringify({ peaks: H200, shapes: out }, null, 2) + '\n');

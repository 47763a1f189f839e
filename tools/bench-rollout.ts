// npm run bench:rollout — rollout speed on this machine:
//   1. builtin engine tokens/s on the shipped tiny model (models/tiny): prefill and decode, batch 1
//      and batch 32 (and the default training batch, 16 prompts × 8);
//   2. adapter sync latency per MiB: WeightStore publish + snapshot + checksum verify + engine apply,
//      for the tiny adapter and for a Tina-sized one (rank 32 on all seven modules of the 1.5B model).
// WebLLM sync latency needs a GPU and a compiled model library: see tools/convert-to-mlc and the
// webllm tests. Prints a table and writes JSON (runs/bench-rollout.json, or --out PATH).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { loadavg } from 'node:os';
import { loadModel } from '../src/model/load.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { createLoraLayout, defaultLoraSettings, LORA_MODULES } from '../src/model/lora.js';
import { parseQwen2Config } from '../src/model/config.js';
import { createBuiltinEngine } from '../src/engines/builtin/index.js';
import { generateTaskItems } from '../src/data/tasks/index.js';
import { WeightStore } from '../src/runtime/weight-store.js';
import { repoRoot } from '../src/util/paths.js';
import { shutdownMatmulThreads } from '../src/ops/matmul.js';
import { scriptOptions } from '../src/cli/standard-flags.js';

const USAGE = `usage: node dist/tools/bench-rollout.js [--out PATH]   (npm run bench:rollout)

Rollout speed on this machine: builtin engine prefill/decode tokens/s on models/tiny (batch 1, 32 and
the training batch), and adapter sync latency per MiB (tiny and Tina-sized adapters).
  --out PATH   JSON report (default runs/bench-rollout.json)`;

const { values } = scriptOptions({ name: 'bench-rollout', help: USAGE, options: { out: { type: 'string' } } });
const out = values.out !== undefined ? resolve(values.out) : join(repoRoot(), 'runs', 'bench-rollout.json');
const modelDir = join(repoRoot(), 'models', 'tiny');
const model = loadModel(modelDir);
const tok = loadTokenizer(modelDir, model.config);
const engine = createBuiltinEngine({
  model,
  tokenizer: { decode: (ids) => tok.decode(ids, true), eosTokenIds: model.config.eosTokenIds },
  maxBatch: 256,
});
const items = generateTaskItems({ split: 'heldout', seed: 7, count: 128 });
const prompts = items.map((it) => ({
  ids: Int32Array.from(
    tok.encode(tok.applyChatTemplate([{ role: 'user', content: it.prompt }], { addGenerationPrompt: true })),
  ),
}));

const rows: Record<string, unknown>[] = [];
async function measure(label: string, nPrompts: number, n: number): Promise<void> {
  let best: typeof engine.lastStats | null = null;
  for (let rep = 0; rep < 3; rep++) {
    await engine.generate(prompts.slice(0, nPrompts), n, {
      temperature: 1,
      top_p: 1,
      top_k: 0,
      max_tokens: 48,
      seed: rep,
    });
    const s = { ...engine.lastStats };
    if (!best || s.seconds < best.seconds) best = s;
  }
  const promptTokens = prompts.slice(0, nPrompts).reduce((a, p) => a + p.ids.length, 0) * n;
  const decodeS = best!.seconds - best!.prefillSeconds;
  rows.push({
    case: label,
    sequences: best!.sequences,
    prompt_tokens: promptTokens,
    generated_tokens: best!.tokens,
    prefill_tok_s: Math.round(promptTokens / best!.prefillSeconds),
    decode_tok_s: Math.round(best!.tokens / decodeS),
    total_s: Number(best!.seconds.toFixed(3)),
  });
}
await measure('batch 1', 1, 1);
await measure('batch 32', 32, 1);
await measure('16 prompts × G 8', 16, 8);

function syncBench(label: string, size: number, readers: number): Record<string, unknown> {
  const store = WeightStore.create(size);
  const slots = Array.from({ length: readers }, (_, i) => store.registerReader(`r${i}`));
  const params = new Float32Array(size).map((_, i) => Math.sin(i));
  const dest = new Float32Array(size);
  const times: number[] = [];
  for (let rep = 0; rep < 10; rep++) {
    params[rep] += 1;
    const t0 = performance.now();
    const v = store.publish(params);
    const snap = store.snapshot(dest);
    if (!WeightStore.verify(snap)) throw new Error('checksum mismatch');
    const applied = Float32Array.from(snap.params); // what the builtin engine does on setAdapter
    for (const s of slots) store.ack(s, v);
    times.push(performance.now() - t0);
    if (applied.length !== size) throw new Error('size');
  }
  times.sort((a, b) => a - b);
  const mib = (size * 4) / 2 ** 20;
  return {
    case: label,
    params: size,
    MiB: Number(mib.toFixed(2)),
    readers,
    ms_median: Number(times[5]!.toFixed(3)),
    ms_per_MiB: Number((times[5]! / mib).toFixed(3)),
  };
}
const tinySize = createLoraLayout(model.config, defaultLoraSettings({ r: 16, alpha: 64 })).size;
const tina = parseQwen2Config(
  {
    hidden_size: 1536,
    num_hidden_layers: 28,
    num_attention_heads: 12,
    num_key_value_heads: 2,
    intermediate_size: 8960,
    vocab_size: 151936,
    max_position_embeddings: 131072,
    rope_theta: 10000,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: false,
  },
  'DeepSeek-R1-Distill-Qwen-1.5B',
);
const tinaSize = createLoraLayout(tina, { r: 32, alpha: 128, dropout: 0, targetModules: [...LORA_MODULES] }).size;
const sync = [
  syncBench('tiny adapter (r16, 7 modules)', tinySize, 1),
  syncBench('Tina adapter (r32, 7 modules, 1.5B)', tinaSize, 1),
  syncBench('Tina adapter, 4 readers', tinaSize, 4),
];

console.log(`builtin engine on models/tiny (load average ${loadavg()[0]!.toFixed(1)})`);
console.table(rows);
console.log('adapter sync (publish + snapshot + verify + engine copy + ack), builtin engine');
console.table(sync);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  JSON.stringify({ date: new Date().toISOString(), loadavg: loadavg(), generation: rows, sync }, null, 2) + '\n',
);
console.log(`wrote ${out}`);
await shutdownMatmulThreads();

// Evaluation on a real model with the builtin engine: the CLI run twice gives the same completions
// and verdicts; a PEFT adapter loaded from disk (CLI --adapter) and the same adapter published live
// through the WeightStore to the evaluator actor (real worker thread) give identical rows; the base
// model (version 0) matches the CLI without adapter; and the adapter really changes the output.
import t from 'tap';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { repoRoot } from '../../src/util/paths.js';
import { Rng } from '../../src/util/rng.js';
import { parseQwen2Config } from '../../src/model/config.js';
import { createRandomModel } from '../../src/model/weights.js';
import { saveModel } from '../../src/model/load.js';
import { defaultLoraSettings, initLoraAdapter } from '../../src/model/lora.js';
import { saveAdapterPeft } from '../../src/model/peft.js';
import { ActorSystem, WeightStore } from '../../src/runtime/index.js';
import { Protocols, type EvalReport } from '../../protocols/index.js';
import { TINY_VOCAB, TINY_EOS_ID, TINY_BOS_ID } from '../../src/data/tasks/index.js';
import { run as evalCli } from '../../src/cli/eval.js';

const work = mkdtempSync(join(tmpdir(), 'eval-model-'));
const modelDir = join(work, 'model');
const config = parseQwen2Config({
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  intermediate_size: 48,
  vocab_size: TINY_VOCAB.length,
  max_position_embeddings: 64,
  rope_theta: 10000,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: true,
  bos_token_id: TINY_BOS_ID,
  eos_token_id: TINY_EOS_ID,
});
// std 0.3: peaked, input-dependent distributions, so an adapter visibly changes samples.
saveModel(modelDir, createRandomModel(config, 5, { std: 0.3 }));
for (const f of ['tokenizer.json', 'tokenizer_config.json'])
  copyFileSync(join(repoRoot(), 'models', 'tiny', f), join(modelDir, f));

const lora = defaultLoraSettings({ r: 4, alpha: 8 });
const adapter = initLoraAdapter(config, lora, new Rng(9));
const rng = new Rng(10);
for (let i = 0; i < adapter.params.length; i++) adapter.params[i] = 0.5 * rng.normal(); // B ≠ 0: the adapter matters
const adapterDir = join(work, 'adapter');
saveAdapterPeft(adapterDir, adapter);

const common = ['--model', modelDir, '--bench', 'synthetic', '--synthetic-count', '12', '--max-new-tokens', '12'];
const rows = (dir: string): Record<string, unknown>[] =>
  readFileSync(join(dir, 'eval.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
const strip = (r: Record<string, unknown>): Record<string, unknown> => {
  const { version: _v, ...rest } = r;
  return rest;
};

t.test('CLI eval is deterministic: same completions and verdicts twice', async (t) => {
  const a = join(work, 'cli-a'),
    b = join(work, 'cli-b');
  t.equal(await evalCli([...common, '--out', a]), 0);
  t.equal(await evalCli([...common, '--out', b]), 0);
  const ra = rows(a),
    rb = rows(b);
  t.equal(ra.length, 12);
  t.same(rb, ra);
  t.ok(ra.every((r) => typeof r.completion === 'string' && r.policy_version === 0));
  const summary = JSON.parse(readFileSync(join(a, 'summary.json'), 'utf8'));
  t.equal(summary.benchmarks[0].problems, 12);
  t.match(readFileSync(join(a, 'summary.txt'), 'utf8'), /synthetic\s+[0-9.]+\s+12\s+0\s+1/);
});

t.test('CLI errors: unknown benchmark, missing model, bad option', async (t) => {
  t.equal(await evalCli(['--model', modelDir, '--bench', 'aime2024']), 2);
  t.equal(await evalCli(['--model', join(work, 'nope'), '--bench', 'synthetic', '--out', join(work, 'x')]), 1);
  t.equal(await evalCli(['--model', modelDir, '--bench', 'synthetic', '--samples', 'two']), 2);
  t.equal(await evalCli(['--bench', 'synthetic']), 2);
});

t.test('adapter from disk (CLI) equals the live adapter in the evaluator actor; base equals base', async (t) => {
  const cliBase = join(work, 'cli-a');
  const cliAdapter = join(work, 'cli-adapter');
  t.equal(await evalCli([...common, '--adapter', adapterDir, '--out', cliAdapter]), 0);
  const withAdapter = rows(cliAdapter);
  t.ok(withAdapter.every((r) => r.policy_version === 1));
  const changed = withAdapter.filter((r, i) => r.completion !== rows(cliBase)[i]!.completion).length;
  t.ok(changed > 0, `the adapter changes completions (${changed}/12 differ)`);

  const store = WeightStore.create(adapter.layout.size);
  const outDir = join(work, 'actor');
  const system = await ActorSystem.start({
    evaluator: {
      module: 'actors/evaluator.ts',
      config: { modelDir, weightStore: store.describe(), lora, eval: { synthetic_count: 12 }, outDir },
    },
  });
  try {
    const request = (version: number) => ({
      version,
      benchmarks: ['synthetic'],
      samplesPerProblem: 1,
      sampling: { temperature: 0.6, top_p: 0.95, top_k: 0, max_tokens: 12, seed: 42 },
    });
    const base = await system.ask<EvalReport>('evaluator', 'evaluate', request(0), { protocol: Protocols.EvalRequest });
    t.equal(base.version, 0);
    t.equal(store.publish(adapter.params, 1), 1);
    const live = await system.ask<EvalReport>('evaluator', 'evaluate', request(1), { protocol: Protocols.EvalRequest });
    t.equal(live.version, 1);
    t.equal(live.results[0]!.problems, 12);
    const actorRows = rows(outDir);
    t.equal(actorRows.length, 24);
    t.same(actorRows.slice(0, 12).map(strip), rows(cliBase), 'version 0 in the actor = CLI without adapter');
    t.same(actorRows.slice(12).map(strip), withAdapter, 'live version 1 = adapter loaded from disk');
    t.same(
      actorRows.slice(12).map((r) => r.version),
      new Array(12).fill(1),
    );
    const cliSummary = JSON.parse(readFileSync(join(cliAdapter, 'summary.json'), 'utf8'));
    t.equal(live.results[0]!.pass_at_1, cliSummary.benchmarks[0].pass_at_1);
    await t.rejects(
      system.ask('evaluator', 'evaluate', { ...request(1), benchmarks: ['nope'] }, { protocol: Protocols.EvalRequest }),
      /unknown benchmark 'nope'/,
    );
  } finally {
    await system.shutdown();
  }
});

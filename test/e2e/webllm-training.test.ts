// End to end: runTraining with model.engine 'webllm' — the rollout actor generates on WebLLM (in its
// worker thread, Dawn on SwiftShader here), the learner trains on the CPU, and after step 1 the new
// adapter reaches the GPU before step 2's rollouts (metrics rollout/policy_version), on a
// Qwen2-0.5B-shaped checkpoint we create and convert with tools/convert-to-mlc. Also: the config
// errors of a webllm run (missing mlc_dir / mlc_lib, top_k, mismatched artifacts) — those need the
// library file but no GPU.
//
// Needs LORACTOR_MLC_LIB and VK_ICD_FILENAMES (see webllm-engine.test.ts); skips otherwise.
// SwiftShader makes about a token a minute: 1 prompt × G 2 × 2 tokens per step, 2 steps.
import t from 'tap';
import { mlcLib, noMlcLib, noWebGpu, syntheticMlcModel } from '../helpers/webllm-fixtures.js';
import { mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const lib = mlcLib as string;
const noLib = noMlcLib;
const skip = noWebGpu;

/** The synthetic checkpoint + a chat template (user content as is), and its MLC conversion. */
async function fixtures(): Promise<{ hf: string; mlcDir: string; data: string }> {
  const { hf: src, mlcDir } = await syntheticMlcModel();
  // The training coordinator renders prompts with the model's chat template: a folder of links to
  // the shared checkpoint plus a tokenizer_config.json that has one.
  const hf = mkdtempSync(join(tmpdir(), 'loractor-webllm-train-hf-'));
  for (const f of readdirSync(src)) symlinkSync(join(src, f), join(hf, f));
  writeFileSync(
    join(hf, 'tokenizer_config.json'),
    JSON.stringify({ chat_template: '{% for m in messages %}{{ m.content }}{% endfor %}', eos_token: 't151643' }),
  );
  // Two-token prompts (t5 t6): every prefill token costs SwiftShader time.
  const data = join(hf, '..', `${hf.split('/').pop()}-data`);
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, 'train.jsonl'), JSON.stringify({ question: 't5 t6', answer: '11' }) + '\n');
  // A reward that tells two random completions apart (the built-ins score all of them 0 here), so
  // the advantages are non-zero, the learner really updates the adapter, and version 1 differs from W0.
  writeFileSync(
    join(data, 'token_id.mjs'),
    'export default (completions) => completions.map((c) => { const m = /t(\\d+)/.exec(c); return m ? (Number(m[1]) % 97) / 97 : 0; });\n',
  );
  return { hf, mlcDir, data };
}

function config(
  hf: string,
  mlcDir: string,
  data: string,
  model: Record<string, unknown> = {},
  grpo: Record<string, unknown> = {},
) {
  return {
    run: { seed: 3, max_steps: 2, checkpoint_every: 0 },
    model: { path: hf, engine: 'webllm', mlc_dir: mlcDir, mlc_lib: lib, ...model },
    lora: { lora_r: 4, lora_alpha: 16, lora_dropout: 0, lora_target_modules: ['q_proj', 'v_proj'] },
    data: {
      source: 'dataset',
      path: data,
      dataset_id: 'local/synthetic',
      system_prompt: 'none',
      chat_template: 'model',
    },
    grpo: {
      learning_rate: 1e-3,
      max_steps: 2,
      prompts_per_step: 1,
      num_generations: 2,
      per_device_train_batch_size: 2,
      gradient_accumulation_steps: 1,
      beta: 0.04,
      temperature: 1.0,
      top_p: 1.0,
      max_prompt_length: 8,
      max_completion_length: 2,
      warmup_ratio: 0,
      // The behaviour log-probs WebLLM reports enter the loss: non-finite ones would show as a skipped update.
      importance_sampling_correction: true,
      ...grpo,
    },
    rewards: { reward_funcs: [{ custom: join(data, 'token_id.mjs') }], reward_num_workers: 1 },
    eval: { benchmarks: ['synthetic'], synthetic_count: 1, eval_steps: 0, eval_before_training: false },
  };
}

t.test('webllm run: config errors name the field', { skip: noLib }, async (t) => {
  const { runTraining } = await import('../../src/coordinator/index.js');
  const { hf, mlcDir, data } = await fixtures();
  const out = mkdtempSync(join(tmpdir(), 'loractor-webllm-cfg-'));
  await t.rejects(
    runTraining(config(hf, mlcDir, data, { mlc_dir: undefined }), { outDir: out, quiet: true }),
    /model\.mlc_dir is required with model\.engine 'webllm'/,
  );
  await t.rejects(
    runTraining(config(hf, mlcDir, data, { mlc_lib: undefined }), { outDir: out, quiet: true }),
    /model\.mlc_lib is required/,
  );
  await t.rejects(
    runTraining(config(hf, mlcDir, data, { mlc_lib: join(out, 'nope.wasm') }), { outDir: out, quiet: true }),
    /model\.mlc_lib: model library not found: .*nope\.wasm/,
  );
  await t.rejects(
    runTraining(config(hf, mlcDir, data, {}, { top_k: 20 }), { outDir: out, quiet: true }),
    /grpo\.top_k 20 is not supported with model\.engine 'webllm'/,
  );
  // A checkpoint of another shape against these artifacts. The dataset is checked first (planRun's
  // order), and models/tiny's tokenizer cannot encode the synthetic prompt "t5 t6": warn, to get past it.
  const tinyRun = config('models/tiny', mlcDir, data);
  await t.rejects(
    runTraining({ ...tinyRun, data: { ...tinyRun.data, unencodable_text: 'warn' } }, { outDir: out, quiet: true }),
    /mismatched MLC artifact: .*mlc-chat-config\.json says hidden_size 896, .*models\/tiny\/config\.json says hidden_size 128/,
  );
});

t.test('runTraining with model.engine webllm: 2 steps, version 1 on the GPU before step 2', { skip }, async (t) => {
  const { runTraining } = await import('../../src/coordinator/index.js');
  const { hf, mlcDir, data } = await fixtures();
  const out = mkdtempSync(join(tmpdir(), 'loractor-webllm-run-'));
  const t0 = performance.now();
  const r = await runTraining(config(hf, mlcDir, data), { outDir: out, quiet: true });
  const wall = (performance.now() - t0) / 1000;
  t.comment(`runTraining (webllm, SwiftShader) wall time ${wall.toFixed(0)} s`);
  t.equal(r.steps, 2, 'the run finishes both steps');
  const m = r.metrics as Record<string, unknown>[];
  t.same(
    m.map((x) => x['rollout/policy_version']),
    [0, 1],
    'step 2 rolled out with version 1 (applied on the GPU after step 1)',
  );
  t.same(
    m.map((x) => x.policy_version),
    [1, 2],
  );
  for (const x of m) {
    t.equal(
      x.skipped_update,
      0,
      `step ${String(x.step)}: update applied (finite loss and gradients with WebLLM's behaviour log-probs)`,
    );
    for (const k of ['loss', 'kl', 'grad_norm'])
      t.ok(Number.isFinite(x[k] as number), `step ${String(x.step)}: ${k} ${String(x[k])} finite`);
    t.comment(
      `step ${String(x.step)}: ${JSON.stringify(Object.fromEntries(Object.entries(x).filter(([k]) => /loss|kl|reward$|completion_length|tokens_per_s|time\/rollout|sync|policy_version/.test(k))))}`,
    );
  }
  t.ok(
    (m[0]!.grad_norm as number) > 0 && (m[0]!.reward_std as number) > 0,
    'step 1 had a learning signal: version 1 is a real update, not W0 again',
  );
  t.ok(
    m.every((x) => (x['rollout/tokens_per_s'] as number) > 0),
    'rollout tokens/s reported',
  );
});

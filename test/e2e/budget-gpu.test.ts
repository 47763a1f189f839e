// The memory budget on the GPU: with model.engine "webgpu" each rollout actor's base matrices, paged
// f16 KV cache, resident adapter versions and decode logits are GPU lines (and the host no longer
// holds a KV cache); with learner.device "webgpu" the learner's weights, LoRA state and activations
// are GPU lines. A config that cannot fit the GPU (learner.gpu_memory_gib) is refused naming the knobs,
// by the library function, by `check` and by training.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { baseParams, estimateRunMemory, judgeMemory, loraParams, type BudgetKnobs } from '../../src/config/budget.js';
import { learnerMemory } from '../../src/model/cost.js';
import { LORA_MODULES } from '../../src/model/lora.js';
import { shapeConfig } from '../../src/model/shapes.js';
import { cli, smallConfig, writeJson } from '../helpers/cli-run.js';

const c15 = shapeConfig('1.5b');
// Tina / open-rs3 shapes: 8 prompts × G 6, 512 + 3584 tokens, r 32 on all seven modules.
const tina: BudgetKnobs = {
  model: c15,
  lora: { r: 32, targetModules: LORA_MODULES },
  promptsPerStep: 8,
  numGenerations: 6,
  perDeviceTrainBatchSize: 4,
  gradientAccumulationSteps: 12,
  promptTokens: 512,
  maxCompletionLength: 3584,
  referencePass: false,
  maxStaleness: 1,
  rolloutActors: 1,
  rolloutMaxBatch: 128,
  learnerRecovery: true,
};
const GiB = 2 ** 30;

t.test('webgpu engine: GPU weights, paged KV cache, adapter versions; no host KV cache', async (t) => {
  const cpuOnly = estimateRunMemory(tina);
  t.notOk(
    cpuOnly.some((i) => i.device === 'gpu'),
    'the builtin engine has no GPU lines',
  );
  t.ok(
    cpuOnly.some((i) => /rollout KV caches/.test(i.item)),
    'and a host KV cache',
  );
  t.same(judgeMemory(cpuOnly, 1, 'gpu'), { total: 0, available: 1 }, 'nothing to judge on the GPU');

  const items = estimateRunMemory({ ...tina, engine: 'webgpu' });
  t.notOk(
    items.some((i) => /rollout KV caches/.test(i.item)),
    'no host KV cache with the webgpu engine',
  );
  const gpu = items.filter((i) => i.device === 'gpu');
  const kv = gpu.find((i) => /paged KV cache/.test(i.item))!;
  // 48 sequences (min(completions, rollout_max_batch)) × 4096 tokens (whole pages of 16) × 28 layers × K and V × 2 kv heads × 128 × 2 bytes
  t.equal(kv.bytes, 48 * 4096 * 28 * 2 * 2 * 128 * 2, `KV cache ${(kv.bytes / GiB).toFixed(2)} GiB`);
  t.match(kv.item, /48 sequences × 4096 tokens, f16/);
  t.equal(gpu.find((i) => /rollout base weights/.test(i.item))!.bytes, baseParams(c15) * 2, 'f16 base weights');
  t.equal(
    gpu.find((i) => /adapter versions/.test(i.item))!.bytes,
    2 * loraParams(c15, tina.lora) * 4,
    'max_staleness + 1 = 2 resident versions',
  );
  const f32 = estimateRunMemory({ ...tina, engine: 'webgpu', rolloutWeightDtype: 'f32' }).find((i) =>
    /paged KV cache/.test(i.item),
  )!;
  t.equal(f32.bytes, 2 * kv.bytes, 'an f32 KV cache is twice the f16 one');
  const two = estimateRunMemory({ ...tina, engine: 'webgpu', rolloutActors: 2 }).find((i) =>
    /paged KV cache/.test(i.item),
  )!;
  t.equal(two.bytes, kv.bytes, 'two actors hold half the sequences each');
  // Partial last page: 100 + 3584 = 3684 tokens → 231 pages of 16 = 3696.
  const odd = estimateRunMemory({ ...tina, engine: 'webgpu', promptTokens: 100 }).find((i) =>
    /paged KV cache/.test(i.item),
  )!;
  t.equal(odd.bytes, 48 * 3696 * 28 * 2 * 2 * 128 * 2);

  const total = gpu.reduce((a, i) => a + i.bytes, 0);
  t.ok(judgeMemory(items, 141 * GiB, 'gpu').problem === undefined, `fits an H200 (${(total / GiB).toFixed(1)} GiB)`);
  const v = judgeMemory(items, 8 * GiB, 'gpu');
  t.match(v.problem, /the GPU has 8\.00 GiB/);
  t.match(
    v.problem,
    /GPU: rollout paged KV cache .*: lower model\.rollout_max_batch, grpo\.max_completion_length/,
    'names the knobs of the KV cache',
  );
});

t.test('webgpu learner: its weights, LoRA state and activations move to the GPU', async (t) => {
  const items = estimateRunMemory({ ...tina, gpuLearner: { weightDtype: 'f16', recompute: true, dropout: false } });
  t.notOk(
    items.some((i) => i.device === 'cpu' && /learner activations/.test(i.item)),
    'no host activations',
  );
  const gpu = items.filter((i) => i.device === 'gpu');
  const est = learnerMemory(
    {
      config: c15,
      sequences: 48,
      promptLength: 512,
      completionLength: 3584,
      microBatchSequences: 4,
      loraR: 32,
      loraModules: LORA_MODULES,
      weightBytes: 2,
      reference: false,
      recompute: true,
    },
    { dropout: false, chunkLogitsBytes: 256 * 2 ** 20 },
  );
  t.equal(
    gpu.reduce((a, i) => a + i.bytes, 0),
    est.total,
    'the GPU lines are the learner estimate of src/model/cost.ts',
  );
  const v = judgeMemory(items, 2 * GiB, 'gpu');
  t.match(v.problem, /learner\.weight_dtype|grpo\.per_device_train_batch_size/);
  const both = estimateRunMemory({
    ...tina,
    engine: 'webgpu',
    gpuLearner: { weightDtype: 'f16', recompute: true, dropout: false },
  }).filter((i) => i.device === 'gpu');
  t.ok(
    both.some((i) => /rollout/.test(i.item)) && both.some((i) => /learner/.test(i.item)),
    'engine and learner lines add up on one GPU',
  );
});

t.test('check and training refuse a webgpu-engine config that cannot fit learner.gpu_memory_gib', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'loractor-budget-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = smallConfig((c) => {
    c.model.engine = 'webgpu';
    c.learner = { ...(c.learner ?? {}), gpu_memory_gib: 0.001 };
    c.run.out_dir = join(dir, 'run');
  });
  const file = writeJson(join(dir, 'cfg.json'), cfg);
  const chk = cli(['check', `--actors=${file}`]);
  t.not(chk.status, 0, 'check fails');
  t.match(
    chk.stdout + chk.stderr,
    /the GPU has 1\.0 MiB.*lower .*(model\.rollout_weight_dtype|model\.rollout_max_batch)/s,
    'check names the knobs',
  );
  t.match(chk.stdout + chk.stderr, /learner\.gpu_memory_gib 0\.001/);
  const run = cli([`--actors=${file}`]);
  t.not(run.status, 0, 'training refuses');
  t.match(
    run.stderr,
    /config: memory: the run needs about .* the GPU has 1\.0 MiB.*\(learner\.gpu_memory_gib/s,
    'training names the field',
  );
  // The same config with room on the GPU passes the check's GPU line.
  const ok = writeJson(join(dir, 'ok.json'), { ...cfg, learner: { ...cfg.learner, gpu_memory_gib: 80 } });
  const chk2 = cli(['check', `--actors=${ok}`]);
  t.match(chk2.stdout + chk2.stderr, /of the GPU's 80\.00 GiB/);
});

// Checkpoint file names: the resume state is loractor_state.json (HF Trainer owns trainer_state.json
// and its schema), checkpoints written under the old name still resume, and the model card names
// the base model the way the hub reads it.
import t from 'tap';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CHECKPOINT_FORMAT,
  RESUME_STATE_FILE,
  checkpointTempDir,
  findResumePoint,
  sealCheckpoint,
  type TrainerState,
} from '../../src/coordinator/checkpoint.js';
import { renderModelCard } from '../../src/coordinator/model-card.js';
import { createHash } from 'node:crypto';
import { writeSafetensors } from '../../src/model/safetensors.js';
import { createAdamWState, serializeAdamWState } from '../../src/rl/optimizer.js';

/** A real (tiny) adapter and optimizer state: resume checks that both load and are finite. */
function putAdapterFiles(dir: string): void {
  writeSafetensors(join(dir, 'adapter_model.safetensors'), [
    { name: 'base_model.model.lora_A.weight', dtype: 'F32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
  ]);
  writeFileSync(join(dir, 'optimizer.bin'), serializeAdamWState(createAdamWState(4)));
}

const state = (step: number): TrainerState => ({
  format: CHECKPOINT_FORMAT,
  step,
  policy_version: step,
  seed: 1,
  config_sha256: 'x',
  prompt_sampler: null,
  learner_dropout_rng: { s: [1, 2, 3, 4] } as never,
  evals: [],
  time: '2026-01-01T00:00:00Z',
});

t.test('a sealed checkpoint holds loractor_state.json and README.md, not trainer_state.json', async (t) => {
  const run = mkdtempSync(join(tmpdir(), 'loractor-ckpt-'));
  const tmp = checkpointTempDir(run, 3);
  mkdirSync(tmp);
  putAdapterFiles(tmp);
  writeFileSync(join(tmp, 'adapter_config.json'), '{}');
  const dir = sealCheckpoint(run, tmp, state(3), '# card\n');
  t.equal(RESUME_STATE_FILE, 'loractor_state.json');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { files: { file: string }[] };
  const files = manifest.files.map((f) => f.file);
  t.ok(files.includes('loractor_state.json') && files.includes('README.md'), 'state and card are in the manifest');
  t.notOk(files.includes('trainer_state.json'));
  t.equal(findResumePoint(run).state.step, 3);
});

t.test('a checkpoint written with the old trainer_state.json name still resumes', async (t) => {
  const run = mkdtempSync(join(tmpdir(), 'loractor-ckpt-old-'));
  const dir = join(run, 'checkpoint-2');
  mkdirSync(dir);
  const put = (f: string, body: string) => writeFileSync(join(dir, f), body);
  putAdapterFiles(dir);
  put('trainer_state.json', JSON.stringify(state(2)));
  const entries = ['adapter_model.safetensors', 'optimizer.bin', 'trainer_state.json'].map((file) => {
    const b = readFileSync(join(dir, file));
    return { file, bytes: b.length, sha256: createHash('sha256').update(b).digest('hex') };
  });
  put('manifest.json', JSON.stringify({ format: CHECKPOINT_FORMAT, files: entries }));
  const p = findResumePoint(run);
  t.equal(p.dir, dir);
  t.equal(p.state.step, 2);
});

t.test('model card: hub id in the front matter, adapter and training facts, evaluations up to the step', async (t) => {
  const card = renderModelCard({
    baseModel: 'deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B',
    step: 10,
    lastStep: 40,
    lora: { r: 32, alpha: 128, dropout: 0.05, targetModules: ['q_proj', 'v_proj'] },
    training: { loss_type: 'grpo', beta: 0.04, num_generations: 8 },
    metrics: { step: 10, elapsed_s: 5, reward: 1.25, reward_std: 0.5 },
    evals: [
      { step: 0, policy_version: 0, pass_at_1: { aime24: 0.1 }, average: 0.1 },
      { step: 20, policy_version: 20, pass_at_1: { aime24: 0.3 }, average: 0.3 },
    ],
  });
  t.match(card, /^---\nbase_model: "deepseek-ai\/DeepSeek-R1-Distill-Qwen-1\.5B"\nlibrary_name: peft\n/);
  t.match(card, /LoRA r 32, alpha 128 \(scale 4\)/);
  t.match(card, /\| loss_type \| grpo \|/);
  t.match(card, /\| reward \| 1\.25 \|/);
  t.match(card, /\| 0 \| 10\.0% \| 10\.0% \|/);
  t.notMatch(card, /30\.0%/, "a later evaluation is not in an earlier checkpoint's card");
  const local = renderModelCard({
    baseModel: '/models/tiny',
    step: 1,
    lastStep: 1,
    lora: { r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj'] },
    training: {},
    evals: [],
  });
  t.notMatch(local, /base_model:/, 'a folder path is not written as a hub base_model');
});

// Loading and saving a Qwen2 model directory in Hugging Face layout: config.json +
// model.safetensors (or sharded: model.safetensors.index.json + shards). Weights are converted to
// f32 once, straight into one SharedArrayBuffer (see weights.ts describeModel/attachModel).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readQwen2Config, toHfConfig } from './config.js';
import {
  readSafetensorsHeader,
  readTensorInto,
  writeSafetensors,
  type SafetensorsDtype,
  type SafetensorsHeader,
} from './safetensors.js';
import { allocSharedWeights, weightEntries, weightSpecs, type Model } from './weights.js';

function shardHeaders(dir: string): Map<string, SafetensorsHeader> {
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  const byTensor = new Map<string, SafetensorsHeader>();
  if (existsSync(single)) {
    const h = readSafetensorsHeader(single);
    for (const name of h.entries.keys()) byTensor.set(name, h);
    return byTensor;
  }
  if (!existsSync(index)) throw new Error(`${dir}: no model.safetensors or model.safetensors.index.json`);
  let map: Record<string, string>;
  try {
    map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> }).weight_map;
    if (typeof map !== 'object' || map === null) throw new Error('field "weight_map" missing');
  } catch (err) {
    throw new Error(`${index}: ${(err as Error).message}`);
  }
  const headers = new Map<string, SafetensorsHeader>();
  for (const [name, file] of Object.entries(map)) {
    if (!headers.has(file)) headers.set(file, readSafetensorsHeader(join(dir, file)));
    byTensor.set(name, headers.get(file)!);
  }
  return byTensor;
}

/** Loads config.json + weights; any missing tensor or wrong shape is an error naming file and tensor. */
export function loadModel(dir: string): Model<Float32Array> {
  const config = readQwen2Config(join(dir, 'config.json'));
  const byTensor = shardHeaders(dir);
  const { weights } = allocSharedWeights(config);
  const specs = new Map(weightSpecs(config).map((s) => [s.name, s.shape]));
  for (const [name, arr] of weightEntries(config, weights)) {
    const h = byTensor.get(name);
    if (!h) throw new Error(`${dir}: tensor "${name}" is missing from the model weights`);
    readTensorInto(h, name, arr, specs.get(name));
  }
  for (const h of new Set(byTensor.values())) if (h.unclaimed) throw new Error(h.unclaimed);
  // Tensors the config does not account for mean config.json and the weights disagree (e.g. a
  // num_hidden_layers smaller than the checkpoint's): transformers only warns, and the run would
  // silently train a truncated model. Tolerated: a tied lm_head.weight, and rotary inv_freq buffers
  // some older exports carry.
  const unused = [...byTensor.keys()].filter(
    (n) => !specs.has(n) && !(n === 'lm_head.weight' && config.tieWordEmbeddings) && !n.endsWith('rotary_emb.inv_freq'),
  );
  if (unused.length) {
    throw new Error(
      `${dir}: ${unused.length} tensor(s) in the weights are not used by config.json (${unused.slice(0, 3).join(', ')}${unused.length > 3 ? ', …' : ''}): config.json does not match the checkpoint (num_hidden_layers ${config.numLayers}, tie_word_embeddings ${config.tieWordEmbeddings})`,
    );
  }
  return { config, weights };
}

/** Writes config.json and model.safetensors (transformers-compatible names). */
export function saveModel(
  dir: string,
  model: Model<Float32Array>,
  dtype: SafetensorsDtype = 'F32',
  extraConfig: Record<string, unknown> = {},
): void {
  mkdirSync(dir, { recursive: true });
  const cfg = {
    ...toHfConfig(model.config),
    torch_dtype: dtype === 'F32' ? 'float32' : dtype === 'F16' ? 'float16' : 'bfloat16',
    ...extraConfig,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  const specs = new Map(weightSpecs(model.config).map((s) => [s.name, s.shape]));
  writeSafetensors(
    join(dir, 'model.safetensors'),
    weightEntries(model.config, model.weights).map(([name, data]) => ({ name, shape: specs.get(name)!, data, dtype })),
    { format: 'pt' },
  );
}

// PEFT adapter checkpoints: adapter_config.json + adapter_model.safetensors with PEFT key names
// (base_model.model.<module>.lora_A.weight), so they load in PEFT / vLLM / transformers unchanged.
import { mkdirSync, readFileSync } from 'node:fs';
import { writeFileNamed, writingFile } from '../util/fs-write.js';
import { join } from 'node:path';
import type { Qwen2Config } from './config.js';
import { createLoraLayout, LORA_MODULES, validateLoraSettings, type LoraAdapter } from './lora.js';
import { readSafetensorsHeader, readTensorInto, writeSafetensors, type SafetensorsDtype } from './safetensors.js';
import type { LoraSettings } from './adapter-layout.js';

/** Layout name (model.layers.3.self_attn.q_proj.lora_A) → PEFT key. */
export const peftKey = (name: string): string => `base_model.model.${name}.weight`;

/** adapter_config.json as PEFT (0.13+) writes it for a LoRA on a causal LM. */
export function peftAdapterConfig(
  settings: LoraSettings,
  baseModel: string,
  inferenceMode = true,
): Record<string, unknown> {
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: baseModel,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: inferenceMode,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: settings.alpha,
    lora_dropout: settings.dropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: settings.r,
    rank_pattern: {},
    revision: null,
    target_modules: [...settings.targetModules].sort(),
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: false,
  };
}

export function saveAdapterPeft(
  dir: string,
  adapter: LoraAdapter<Float32Array>,
  opts: { baseModel?: string; dtype?: SafetensorsDtype } = {},
): void {
  mkdirSync(dir, { recursive: true });
  writeFileNamed(
    join(dir, 'adapter_config.json'),
    JSON.stringify(peftAdapterConfig(adapter.settings, opts.baseModel ?? ''), null, 2) + '\n',
  );
  const file = join(dir, 'adapter_model.safetensors');
  writingFile(file, () =>
    writeSafetensors(
      file,
      adapter.layout.tensors.map((t) => ({
        name: peftKey(t.name),
        shape: t.shape,
        data: adapter.params.subarray(t.offset, t.offset + t.shape[0]! * t.shape[1]!),
        dtype: opts.dtype ?? 'F32',
      })),
      { format: 'pt' },
    ),
  );
}

/** Reads adapter_config.json into LoraSettings, refusing what this model cannot apply. */
export function readPeftConfig(path: string): { settings: LoraSettings; baseModel: string } {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${path}: cannot read adapter config (${(err as Error).message})`);
  }
  if (raw.peft_type !== 'LORA')
    throw new Error(`${path}: field "peft_type" must be "LORA", got ${JSON.stringify(raw.peft_type)}`);
  if (raw.bias !== undefined && raw.bias !== 'none')
    throw new Error(`${path}: field "bias" must be "none", got ${JSON.stringify(raw.bias)}`);
  if (raw.use_dora === true) throw new Error(`${path}: field "use_dora" is true; DoRA is not supported`);
  if (raw.use_rslora === true) throw new Error(`${path}: field "use_rslora" is true; rsLoRA scaling is not supported`);
  if (raw.fan_in_fan_out === true) throw new Error(`${path}: field "fan_in_fan_out" must be false for Qwen2`);
  for (const f of ['rank_pattern', 'alpha_pattern'] as const) {
    if (raw[f] && typeof raw[f] === 'object' && Object.keys(raw[f] as object).length > 0)
      throw new Error(`${path}: field "${f}" is not supported (per-module ranks)`);
  }
  let targets = raw.target_modules;
  if (typeof targets === 'string') targets = targets === 'all-linear' ? [...LORA_MODULES] : [targets];
  if (!Array.isArray(targets)) throw new Error(`${path}: field "target_modules" must be a list of module names`);
  const order = LORA_MODULES as readonly string[];
  const settings: LoraSettings = {
    r: raw.r as number,
    alpha: raw.lora_alpha as number,
    dropout: (raw.lora_dropout as number | undefined) ?? 0,
    targetModules: [...(targets as string[])].sort((a, b) => order.indexOf(a) - order.indexOf(b)),
  };
  validateLoraSettings(settings, path);
  return { settings, baseModel: typeof raw.base_model_name_or_path === 'string' ? raw.base_model_name_or_path : '' };
}

/** Loads a PEFT adapter for this model config into a new flat block (SharedArrayBuffer-backed). */
export function loadAdapterPeft(dir: string, config: Qwen2Config): LoraAdapter<Float32Array> & { baseModel: string } {
  const { settings, baseModel } = readPeftConfig(join(dir, 'adapter_config.json'));
  const layout = createLoraLayout(config, settings);
  const file = join(dir, 'adapter_model.safetensors');
  const h = readSafetensorsHeader(file);
  const params = new Float32Array(new SharedArrayBuffer(layout.size * 4));
  const expected = new Set<string>();
  for (const t of layout.tensors) {
    const key = peftKey(t.name);
    expected.add(key);
    readTensorInto(h, key, params.subarray(t.offset, t.offset + t.shape[0]! * t.shape[1]!), t.shape);
  }
  for (const key of h.entries.keys()) {
    if (!expected.has(key))
      throw new Error(
        `${file}: tensor "${key}" is not part of a LoRA with target_modules ${JSON.stringify(settings.targetModules)} on this model`,
      );
  }
  return { settings, layout, params, baseModel };
}

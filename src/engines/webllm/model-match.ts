// Do the MLC artifacts WebLLM will load hold the same model the learner trains? The learner and the
// WebLLM rollouts share one adapter layout, so the MLC build must have the Hugging Face checkpoint's
// shape; a mismatch found here is a clear start-up error instead of a sync that cannot be merged
// (or, worse, a model that loads but is not the one being trained).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Qwen2Config } from '../../model/config.js';
import { loadMlcArtifacts } from './mlc-artifacts.js';

/** The shape fields compared: mlc-chat-config.json model_config key → Qwen2Config key. */
const FIELDS: [mlc: string, hf: keyof Qwen2Config, hfJson: string][] = [
  ['hidden_size', 'hiddenSize', 'hidden_size'],
  ['num_hidden_layers', 'numLayers', 'num_hidden_layers'],
  ['num_attention_heads', 'numHeads', 'num_attention_heads'],
  ['num_key_value_heads', 'numKvHeads', 'num_key_value_heads'],
  ['intermediate_size', 'intermediateSize', 'intermediate_size'],
  ['vocab_size', 'vocabSize', 'vocab_size'],
];

/**
 * Throws "mismatched MLC artifact: <mlcDir>/mlc-chat-config.json says <field> X, <hfConfigFile> says Y"
 * for the first shape field that differs (or a clear error when the file is missing / unreadable).
 */
export function checkMlcMatchesModel(mlcDir: string, model: Qwen2Config, hfConfigFile: string): void {
  const file = join(mlcDir, 'mlc-chat-config.json');
  if (!existsSync(file)) throw new Error(`missing MLC artifact: ${file} (write it with tools/convert-to-mlc)`);
  let chat: { model_config?: Record<string, unknown> };
  try {
    chat = JSON.parse(readFileSync(file, 'utf8')) as typeof chat;
  } catch (e) {
    throw new Error(`MLC artifact ${file} is not valid JSON (${(e as Error).message})`);
  }
  const mc = chat.model_config;
  if (!mc || typeof mc !== 'object') throw new Error(`MLC artifact ${file}: no "model_config" object`);
  for (const [key, hfKey, hfJson] of FIELDS) {
    const raw = mc[key] ?? (key === 'num_key_value_heads' ? mc.num_attention_heads : undefined);
    const want = model[hfKey];
    if (raw !== want) {
      throw new Error(
        `mismatched MLC artifact: ${file} says ${key} ${raw === undefined ? '(missing)' : JSON.stringify(raw)}, ${hfConfigFile} says ${hfJson} ${String(want)}`,
      );
    }
  }
}

export interface WebLlmRolloutPaths {
  mlcDir: string;
  libFile: string;
}

/** The model section's webllm fields, required and resolved; missing files are errors naming the field. */
export function requireWebLlmPaths(
  section: { mlc_dir?: string; mlc_lib?: string },
  resolvePath: (p: string) => string,
): WebLlmRolloutPaths {
  if (!section.mlc_dir)
    throw new Error(
      "config: model.mlc_dir is required with model.engine 'webllm' (the MLC artifacts folder written by tools/convert-to-mlc)",
    );
  if (!section.mlc_lib)
    throw new Error(
      "config: model.mlc_lib is required with model.engine 'webllm' (the compiled WebLLM model library, *.wasm)",
    );
  const mlcDir = resolvePath(section.mlc_dir);
  const libFile = resolvePath(section.mlc_lib);
  if (!existsSync(join(mlcDir, 'mlc-chat-config.json')))
    throw new Error(`config: model.mlc_dir ${mlcDir}: missing MLC artifact ${join(mlcDir, 'mlc-chat-config.json')}`);
  if (!existsSync(libFile)) throw new Error(`config: model.mlc_lib: model library not found: ${libFile}`);
  return { mlcDir, libFile };
}

/**
 * Start-up checks of a WebLLM training run: the artifacts fit the library and the checkpoint, and
 * the sampling settings are ones web-llm can honour (it has no top-k: sampling with top_k > 0 would
 * silently differ from the distribution the learner's log-probs assume).
 */
export function checkWebLlmRollout(
  paths: WebLlmRolloutPaths,
  opts: { model: Qwen2Config; modelDir: string; topK: number },
): WebLlmRolloutPaths {
  if (opts.topK > 0)
    throw new Error(
      `config: grpo.top_k ${opts.topK} is not supported with model.engine 'webllm' (web-llm 0.2.79 has no top-k sampling); set grpo.top_k to 0 or use the builtin engine`,
    );
  checkMlcMatchesModel(paths.mlcDir, opts.model, join(opts.modelDir, 'config.json'));
  loadMlcArtifacts(paths.mlcDir, paths.libFile); // shards, tokenizer, and every parameter the library needs
  return paths;
}

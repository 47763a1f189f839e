// Hugging Face config.json for the Qwen2 family (Qwen2ForCausalLM; DeepSeek-R1-Distill-Qwen uses the
// same architecture). Qwen2 always has q/k/v biases and no o_proj bias. Every validation error
// names the file and the field.
import { readFileSync } from 'node:fs';

export interface Qwen2Config {
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  ropeTheta: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  vocabSize: number;
  maxPositionEmbeddings: number;
  bosTokenId: number | null;
  /** All ids that end generation (config.json's eos_token_id may be a number or a list). */
  eosTokenIds: number[];
}

function posInt(raw: Record<string, unknown>, field: string, where: string, fallback?: number): number {
  const v = raw[field] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new Error(`${where}: field "${field}" must be a positive integer, got ${JSON.stringify(raw[field])}`);
  }
  return v;
}

function posNum(raw: Record<string, unknown>, field: string, where: string, fallback: number): number {
  const v = raw[field] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new Error(`${where}: field "${field}" must be a positive number, got ${JSON.stringify(raw[field])}`);
  }
  return v;
}

function tokenIds(raw: Record<string, unknown>, field: string, where: string, vocab: number): number[] {
  const v = raw[field];
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const id of list) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocab) {
      throw new Error(`${where}: field "${field}" must be token id(s) in [0, ${vocab}), got ${JSON.stringify(v)}`);
    }
  }
  return list as number[];
}

/** Validates a parsed config.json object; `where` names the file in errors. */
export function parseQwen2Config(raw: unknown, where = 'config.json'): Qwen2Config {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${where}: must be a JSON object`);
  const r = raw as Record<string, unknown>;
  if (r.model_type !== undefined && r.model_type !== 'qwen2') {
    throw new Error(
      `${where}: field "model_type" is ${JSON.stringify(r.model_type)}; only "qwen2" models are supported`,
    );
  }
  const hiddenSize = posInt(r, 'hidden_size', where);
  const numHeads = posInt(r, 'num_attention_heads', where);
  const numKvHeads = posInt(r, 'num_key_value_heads', where, numHeads);
  if (hiddenSize % numHeads !== 0)
    throw new Error(
      `${where}: field "hidden_size" (${hiddenSize}) must be divisible by "num_attention_heads" (${numHeads})`,
    );
  if (numHeads % numKvHeads !== 0)
    throw new Error(
      `${where}: field "num_attention_heads" (${numHeads}) must be divisible by "num_key_value_heads" (${numKvHeads})`,
    );
  const headDim = r.head_dim === undefined ? hiddenSize / numHeads : posInt(r, 'head_dim', where);
  if (headDim * numHeads !== hiddenSize)
    throw new Error(`${where}: field "head_dim" (${headDim}) × num_attention_heads must equal hidden_size`);
  if (headDim % 2 !== 0) throw new Error(`${where}: head dimension ${headDim} must be even for RoPE`);
  const vocabSize = posInt(r, 'vocab_size', where);
  if (r.hidden_act !== undefined && r.hidden_act !== 'silu')
    throw new Error(`${where}: field "hidden_act" must be "silu", got ${JSON.stringify(r.hidden_act)}`);
  if (r.tie_word_embeddings !== undefined && typeof r.tie_word_embeddings !== 'boolean') {
    throw new Error(`${where}: field "tie_word_embeddings" must be a boolean`);
  }
  const bos = tokenIds(r, 'bos_token_id', where, vocabSize);
  return {
    hiddenSize,
    numLayers: posInt(r, 'num_hidden_layers', where),
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: posInt(r, 'intermediate_size', where),
    ropeTheta: posNum(r, 'rope_theta', where, 10000),
    rmsNormEps: posNum(r, 'rms_norm_eps', where, 1e-6),
    tieWordEmbeddings: r.tie_word_embeddings === true,
    vocabSize,
    maxPositionEmbeddings: posInt(r, 'max_position_embeddings', where, 32768),
    bosTokenId: bos.length > 0 ? bos[0]! : null,
    eosTokenIds: tokenIds(r, 'eos_token_id', where, vocabSize),
  };
}

export function readQwen2Config(path: string): Qwen2Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read model config (${(err as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: invalid JSON (${(err as Error).message})`);
  }
  return parseQwen2Config(raw, path);
}

/** The config.json object transformers writes for this config (Qwen2ForCausalLM). */
export function toHfConfig(c: Qwen2Config): Record<string, unknown> {
  return {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    intermediate_size: c.intermediateSize,
    hidden_act: 'silu',
    rope_theta: c.ropeTheta,
    rms_norm_eps: c.rmsNormEps,
    tie_word_embeddings: c.tieWordEmbeddings,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.maxPositionEmbeddings,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds,
    attention_dropout: 0,
    use_sliding_window: false,
    torch_dtype: 'float32',
  };
}

// The two config files of convert-to-mlc (tools/convert-to-mlc.ts): the Hugging Face config.json it
// reads (Qwen2 fields, checked) and the mlc-chat-config.json it writes for WebLLM, with the
// conversation templates web-llm understands.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { MlcModelConfig } from '../../src/engines/webllm/mlc-artifacts.js';

export interface Qwen2HfConfig extends MlcModelConfig {
  rms_norm_eps: number;
  rope_theta: number;
  tie_word_embeddings: boolean;
  eos_token_id: number | number[];
  bos_token_id?: number;
}

export function readHfConfig(file: string): Qwen2HfConfig {
  if (!existsSync(file)) throw new Error(`convert-to-mlc: missing ${file}`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`convert-to-mlc: ${file} is not valid JSON (${(e as Error).message})`);
  }
  if (raw.model_type !== undefined && raw.model_type !== 'qwen2')
    throw new Error(`convert-to-mlc: ${file}: model_type "${String(raw.model_type)}" is not supported (qwen2)`);
  const num = (k: string, def?: number): number => {
    const v = raw[k] ?? def;
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new Error(`convert-to-mlc: ${file}: field ${k} must be a number (got ${JSON.stringify(raw[k])})`);
    return v;
  };
  return {
    hidden_size: num('hidden_size'),
    intermediate_size: num('intermediate_size'),
    num_hidden_layers: num('num_hidden_layers'),
    num_attention_heads: num('num_attention_heads'),
    num_key_value_heads: num('num_key_value_heads', num('num_attention_heads')),
    vocab_size: num('vocab_size'),
    rms_norm_eps: num('rms_norm_eps', 1e-6),
    rope_theta: num('rope_theta', 10000),
    tie_word_embeddings: raw.tie_word_embeddings === true,
    eos_token_id: (raw.eos_token_id as number | number[] | undefined) ?? 151643,
    bos_token_id: raw.bos_token_id as number | undefined,
  };
}

/** Conversation templates web-llm understands (fields of its ConvTemplateConfig). */
function convTemplate(name: string, stopIds: number[]): Record<string, unknown> {
  if (name === 'chatml' || name === 'qwen2') {
    return {
      name: 'chatml',
      system_template: '<|im_start|>system\n{system_message}<|im_end|>\n',
      system_message: 'You are a helpful assistant.',
      roles: { user: '<|im_start|>user', assistant: '<|im_start|>assistant' },
      role_templates: { user: '{user_message}', assistant: '{assistant_message}', tool: '{tool_message}' },
      messages: [],
      seps: ['<|im_end|>\n'],
      role_content_sep: '\n',
      role_empty_sep: '\n',
      stop_str: ['<|im_end|>'],
      system_prefix_token_ids: null,
      stop_token_ids: stopIds,
      add_role_after_system_message: true,
    };
  }
  if (name === 'raw') {
    return {
      name: 'raw',
      system_template: '{system_message}',
      system_message: '',
      roles: { user: '', assistant: '' },
      role_templates: { user: '{user_message}', assistant: '{assistant_message}', tool: '{tool_message}' },
      messages: [],
      seps: [''],
      role_content_sep: '',
      role_empty_sep: '',
      stop_str: [],
      system_prefix_token_ids: null,
      stop_token_ids: stopIds,
      add_role_after_system_message: true,
    };
  }
  throw new Error(`convert-to-mlc: --conv-template ${name} is not known (chatml, raw)`);
}

/** The conversion options mlc-chat-config.json records (a subset of ConvertOptions). */
export interface ChatConfigOptions {
  model: string;
  convTemplate?: string;
  contextWindow?: number;
  prefillChunk?: number;
}

/** mlc-chat-config.json: the model config, sampling defaults, tokenizer and conversation template. */
export function mlcChatConfig(opts: ChatConfigOptions, cfg: Qwen2HfConfig, dtype: string): Record<string, unknown> {
  const eos = Array.isArray(cfg.eos_token_id) ? cfg.eos_token_id : [cfg.eos_token_id];
  const ctx = opts.contextWindow ?? 4096;
  const prefill = opts.prefillChunk ?? 1024;
  const hd = cfg.hidden_size / cfg.num_attention_heads;
  return {
    model_type: 'qwen2',
    quantization: dtype === 'q4f16_1' ? 'q4f16_1' : dtype === 'f16' ? 'q0f16' : 'q0f32',
    model_config: {
      ...cfg,
      head_dim: hd,
      context_window_size: ctx,
      prefill_chunk_size: prefill,
      tensor_parallel_shards: 1,
    },
    vocab_size: cfg.vocab_size,
    context_window_size: ctx,
    sliding_window_size: -1,
    prefill_chunk_size: prefill,
    attention_sink_size: -1,
    tensor_parallel_shards: 1,
    temperature: 1.0,
    presence_penalty: 0.0,
    frequency_penalty: 0.0,
    repetition_penalty: 1.0,
    top_p: 1.0,
    tokenizer_files: ['tokenizer.json'],
    tokenizer_info: {
      token_postproc_method: 'byte_level',
      prepend_space_in_encode: false,
      strip_space_in_decode: false,
    },
    conv_template: convTemplate(opts.convTemplate ?? 'chatml', eos),
    pad_token_id: 0,
    bos_token_id: cfg.bos_token_id ?? eos[0],
    eos_token_id: eos,
    loractor: { source: resolve(opts.model), storage: dtype },
  };
}

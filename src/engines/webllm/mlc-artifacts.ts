// Reading and checking local MLC artifacts before web-llm sees them: mlc-chat-config.json,
// ndarray-cache.json (+ shards), tokenizer, and the parameter table embedded in the compiled model
// library. A missing file or a name/shape/dtype mismatch is reported here with the file and
// parameter, instead of as a silent wasm abort deep inside the load.
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { bf16ToF32, f16ToF32 } from './half-floats.js';

export interface MlcParamMeta {
  name: string;
  shape: number[];
  dtype: string;
}
export interface MlcLibMetadata {
  model_type: string;
  quantization: string;
  params: MlcParamMeta[];
  [k: string]: unknown;
}

export interface MlcRecord {
  name: string;
  shape: number[];
  dtype: string;
  format: string;
  nbytes: number;
  byteOffset: number;
}
export interface MlcShard {
  dataPath: string;
  nbytes: number;
  records: MlcRecord[];
}

export interface MlcModelConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  vocab_size: number;
}

export interface MlcArtifacts {
  dir: string;
  chatConfig: Record<string, unknown>;
  modelConfig: MlcModelConfig;
  shards: MlcShard[];
  records: Map<string, { shard: MlcShard; rec: MlcRecord }>;
  lib: MlcLibMetadata;
}

function readJson(file: string): Record<string, unknown> {
  if (!existsSync(file)) throw new Error(`MLC artifacts: missing ${file}`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`MLC artifacts: ${file} is not valid JSON (${(e as Error).message})`);
  }
}

/** The JSON metadata (`_metadata`: model_type, quantization, params...) embedded in a model library. */
export function readMlcLibMetadata(libFile: string): MlcLibMetadata {
  if (!existsSync(libFile)) throw new Error(`MLC model library not found: ${libFile}`);
  const text = readFileSync(libFile).toString('latin1');
  const at = text.search(/"params":\s*\[/);
  if (at < 0) throw new Error(`MLC model library ${libFile}: no embedded "params" metadata (not an MLC LLM library?)`);
  // Walk back to each '{' before the key and take the first that parses as a complete JSON object.
  for (
    let start = text.lastIndexOf('{', at);
    start >= 0 && at - start < 4096;
    start = text.lastIndexOf('{', start - 1)
  ) {
    let depth = 0;
    let inStr = false;
    for (let i = start; i < text.length; i++) {
      const ch = text[i];
      if (inStr) {
        if (ch === '\\') i++;
        else if (ch === '"') inStr = false;
      } else if (ch === '"') inStr = true;
      else if (ch === '{' || ch === '[') depth++;
      else if (ch === '}' || ch === ']') {
        depth--;
        if (depth === 0) {
          try {
            const obj = JSON.parse(text.slice(start, i + 1)) as MlcLibMetadata;
            if (Array.isArray(obj.params)) return obj;
          } catch {
            /* not this brace */
          }
          break;
        }
      }
    }
  }
  throw new Error(`MLC model library ${libFile}: cannot parse the embedded metadata`);
}

/** Load and cross-check the artifacts in mlcDir against the model library. */
export function loadMlcArtifacts(mlcDir: string, libFile: string): MlcArtifacts {
  const cfgFile = join(mlcDir, 'mlc-chat-config.json');
  const chatConfig = readJson(cfgFile);
  const cacheFile = join(mlcDir, 'ndarray-cache.json');
  const cache = readJson(cacheFile);
  const tokFiles = (chatConfig.tokenizer_files as string[] | undefined) ?? ['tokenizer.json'];
  for (const t of tokFiles)
    if (!existsSync(join(mlcDir, t)))
      throw new Error(`MLC artifacts: missing tokenizer file ${join(mlcDir, t)} (listed in ${cfgFile})`);
  const mc = (chatConfig.model_config ?? {}) as Record<string, unknown>;
  const num = (k: keyof MlcModelConfig): number => {
    const v = mc[k] ?? (k === 'num_key_value_heads' ? mc.num_attention_heads : undefined);
    if (typeof v !== 'number') throw new Error(`MLC artifacts: ${cfgFile}: model_config.${k} must be a number`);
    return v;
  };
  const modelConfig: MlcModelConfig = {
    hidden_size: num('hidden_size'),
    intermediate_size: num('intermediate_size'),
    num_hidden_layers: num('num_hidden_layers'),
    num_attention_heads: num('num_attention_heads'),
    num_key_value_heads: num('num_key_value_heads'),
    vocab_size: num('vocab_size'),
  };
  if (!Array.isArray(cache.records)) throw new Error(`MLC artifacts: ${cacheFile}: "records" must be an array`);
  const shards = cache.records as MlcShard[];
  const records = new Map<string, { shard: MlcShard; rec: MlcRecord }>();
  for (const shard of shards) {
    const f = join(mlcDir, shard.dataPath);
    if (!existsSync(f)) throw new Error(`MLC artifacts: missing shard ${f} (listed in ${cacheFile})`);
    for (const rec of shard.records) records.set(rec.name, { shard, rec });
  }
  const lib = readMlcLibMetadata(libFile);
  if (lib.model_type !== chatConfig.model_type) {
    throw new Error(
      `MLC artifacts: ${cfgFile} model_type ${String(chatConfig.model_type)} ≠ library ${libFile} model_type ${lib.model_type}`,
    );
  }
  for (const p of lib.params) {
    const r = records.get(p.name);
    if (!r) throw new Error(`MLC artifacts: ${cacheFile} has no parameter ${p.name} required by ${libFile}`);
    if (r.rec.shape.join(',') !== p.shape.join(',')) {
      throw new Error(
        `MLC artifacts: ${cacheFile}: ${p.name} has shape [${r.rec.shape}], library ${libFile} expects [${p.shape}]`,
      );
    }
    if (r.rec.dtype !== p.dtype)
      throw new Error(`MLC artifacts: ${cacheFile}: ${p.name} has dtype ${r.rec.dtype}, library expects ${p.dtype}`);
  }
  // q4 libraries store the embedding as model.embed_tokens.q_weight / q_scale (rows = vocabulary).
  const embed = lib.params.find(
    (p) => p.name === 'model.embed_tokens.weight' || p.name === 'model.embed_tokens.q_weight',
  );
  if (Number(chatConfig.vocab_size) !== embed?.shape[0]) {
    throw new Error(
      `MLC artifacts: ${cfgFile} vocab_size ${String(chatConfig.vocab_size)} does not match the library's embedding rows`,
    );
  }
  return { dir: mlcDir, chatConfig, modelConfig, shards, records, lib };
}

/** A stored parameter's raw bytes as the shard holds them (with its record). */
export function readMlcParamBytes(a: MlcArtifacts, name: string): { rec: MlcRecord; bytes: Uint8Array } {
  const r = a.records.get(name);
  if (!r) throw new Error(`MLC artifacts: no parameter ${name} in ${join(a.dir, 'ndarray-cache.json')}`);
  const { rec, shard } = r;
  const buf = new Uint8Array(rec.nbytes);
  const fd = openSync(join(a.dir, shard.dataPath), 'r');
  try {
    if (readSync(fd, buf, 0, rec.nbytes, rec.byteOffset) !== rec.nbytes)
      throw new Error(`MLC artifacts: short read of ${name} in ${shard.dataPath}`);
  } finally {
    closeSync(fd);
  }
  return { rec, bytes: buf };
}

/** A stored parameter widened to f32 (the frozen base W0 that LoRA merges start from). */
export function readMlcParamF32(a: MlcArtifacts, name: string): Float32Array {
  const { rec, bytes: buf } = readMlcParamBytes(a, name);
  if (rec.format === 'f32-to-bf16') return bf16ToF32(new Uint16Array(buf.buffer));
  if (rec.format === 'raw' && rec.dtype === 'float32') return new Float32Array(buf.buffer);
  if (rec.format === 'raw' && rec.dtype === 'float16') return f16ToF32(new Uint16Array(buf.buffer));
  throw new Error(`MLC artifacts: ${name}: storage ${rec.format}/${rec.dtype} cannot be merged (quantized weights)`);
}

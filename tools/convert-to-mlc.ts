// Hugging Face Qwen2 checkpoint (config.json + model.safetensors + tokenizer.json) → MLC artifacts
// for WebLLM (mlc-chat-config.json, ndarray-cache.json, params_shard_*.bin, tokenizer.json), in the
// layout the compiled Qwen2 model libraries expect: q,k,v fused into self_attn.c_attn (rows q|k|v,
// biases likewise), gate,up fused into mlp.gate_up_proj (rows gate|up), tied embeddings kept as
// model.embed_tokens.weight only. One checkpoint then feeds both the learner and WebLLM.
//
//   node dist/tools/convert-to-mlc.js --model HF_DIR --out MLC_DIR [--dtype f32-to-bf16|f16|f32|q4f16_1]
//        [--conv-template chatml|raw] [--context-window 4096] [--prefill-chunk 1024]
//
// --dtype q4f16_1 writes what MLC's q4f16_1 libraries load: every linear weight and the embedding
// as <name>.q_weight / <name>.q_scale (src/engines/webllm/q4f16.ts), biases and norms as f16.
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { f32ToBf16, f32ToF16 } from '../src/engines/webllm/half-floats.js';
import { writeAll } from '../src/util/fs-write.js';
import { q4Groups, q4ParamNames, q4WordsPerRow, quantizeQ4 } from '../src/engines/webllm/q4f16.js';
import { readSafetensorsHeader, readTensorInto, type SafetensorsHeader } from '../src/model/safetensors.js';
import { isMainScript, scriptArgs, UsageError } from '../src/cli/standard-flags.js';
import { mlcChatConfig, type Qwen2HfConfig, readHfConfig } from './convert-to-mlc/config-files.js';

export type MlcStorageDtype = 'f32-to-bf16' | 'f16' | 'f32' | 'q4f16_1';
const STORAGE_DTYPES: MlcStorageDtype[] = ['f32-to-bf16', 'f16', 'f32', 'q4f16_1'];

export interface ConvertOptions {
  model: string;
  out: string;
  /** How weights are stored: f32-to-bf16 (for q0f32 libs; default), f16 (q0f16 libs), f32 (raw; large embeddings overflow the lib's 2 GiB heap), q4f16_1 (q4f16_1 libs). */
  dtype?: MlcStorageDtype;
  /** chatml (Qwen2 chat) or raw (plain completion, no roles). */
  convTemplate?: string;
  contextWindow?: number;
  prefillChunk?: number;
  /** Target shard size in bytes (a tensor larger than this gets its own shard). */
  shardBytes?: number;
}

export interface ConvertResult {
  out: string;
  params: { name: string; shape: number[]; dtype: string }[];
  totalBytes: number;
}

/** The MLC parameter list (name, shape) for a Qwen2 config, in the compiled libraries' order. */
export function mlcQwen2Params(
  c: Pick<
    Qwen2HfConfig,
    | 'hidden_size'
    | 'intermediate_size'
    | 'num_hidden_layers'
    | 'num_attention_heads'
    | 'num_key_value_heads'
    | 'vocab_size'
    | 'tie_word_embeddings'
  >,
): { name: string; shape: number[] }[] {
  const d = c.hidden_size;
  const hd = d / c.num_attention_heads;
  const qkv = (c.num_attention_heads + 2 * c.num_key_value_heads) * hd;
  const out = [{ name: 'model.embed_tokens.weight', shape: [c.vocab_size, d] }];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}.`;
    out.push(
      { name: p + 'self_attn.c_attn.weight', shape: [qkv, d] },
      { name: p + 'self_attn.c_attn.bias', shape: [qkv] },
      { name: p + 'self_attn.o_proj.weight', shape: [d, d] },
      { name: p + 'mlp.gate_up_proj.weight', shape: [2 * c.intermediate_size, d] },
      { name: p + 'mlp.down_proj.weight', shape: [d, c.intermediate_size] },
      { name: p + 'input_layernorm.weight', shape: [d] },
      { name: p + 'post_attention_layernorm.weight', shape: [d] },
    );
  }
  out.push({ name: 'model.norm.weight', shape: [d] });
  if (!c.tie_word_embeddings) out.push({ name: 'lm_head.weight', shape: [c.vocab_size, d] });
  return out;
}

/** HF source tensors (concatenated along rows, in order) for one MLC parameter. */
export function hfSourcesFor(mlcName: string): string[] {
  const m = /^(model\.layers\.\d+\.)(self_attn\.c_attn|mlp\.gate_up_proj)\.(weight|bias)$/.exec(mlcName);
  if (!m) return [mlcName];
  const [, p, mod, kind] = m;
  if (mod === 'self_attn.c_attn') return ['q_proj', 'k_proj', 'v_proj'].map((s) => `${p}self_attn.${s}.${kind}`);
  return ['gate_proj', 'up_proj'].map((s) => `${p}mlp.${s}.${kind}`);
}

/** The shape a Hugging Face Qwen2 tensor must have under this config. */
export function hfQwen2Shape(name: string, c: Qwen2HfConfig): number[] {
  const d = c.hidden_size;
  const hd = d / c.num_attention_heads;
  const q = c.num_attention_heads * hd;
  const kv = c.num_key_value_heads * hd;
  const m =
    /\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj|input_layernorm|post_attention_layernorm)\.(weight|bias)$/.exec(
      name,
    );
  if (!m) return name.endsWith('norm.weight') ? [d] : [c.vocab_size, d];
  const rows: Record<string, number[]> = {
    q_proj: [q, d],
    k_proj: [kv, d],
    v_proj: [kv, d],
    o_proj: [d, q],
    gate_proj: [c.intermediate_size, d],
    up_proj: [c.intermediate_size, d],
    down_proj: [d, c.intermediate_size],
    input_layernorm: [d],
    post_attention_layernorm: [d],
  };
  const shape = rows[m[1]!]!;
  return m[2] === 'bias' ? [shape[0]!] : shape;
}

interface EncodedParam {
  name: string;
  shape: number[];
  dtype: string;
  format: string;
  bytes: Uint8Array;
}

/** Linear weights (and the embedding / lm_head) that a q4f16_1 library holds quantized. */
function isQ4Quantized(name: string): boolean {
  return /(\.(c_attn|o_proj|gate_up_proj|down_proj)|^model\.embed_tokens|^lm_head)\.weight$/.test(name);
}

/** One MLC parameter's stored record(s): one for q0 storage, q_weight + q_scale for a q4 linear. */
function encodeParam(name: string, shape: number[], f32: Float32Array, dtype: MlcStorageDtype): EncodedParam[] {
  if (dtype === 'q4f16_1') {
    if (!isQ4Quantized(name)) return [{ name, shape, dtype: 'float16', format: 'raw', bytes: u8(f32ToF16(f32)) }];
    const [rows, cols] = shape as [number, number];
    const q = quantizeQ4(f32, { rows, cols });
    const { qWeight, qScale } = q4ParamNames(name);
    return [
      { name: qWeight, shape: [rows, q4WordsPerRow(cols)], dtype: 'uint32', format: 'raw', bytes: u8(q.words) },
      { name: qScale, shape: [rows, q4Groups(cols)], dtype: 'float16', format: 'raw', bytes: u8(q.scales) },
    ];
  }
  const bytes = dtype === 'f32' ? u8(f32) : u8(dtype === 'f16' ? f32ToF16(f32) : f32ToBf16(f32));
  const recDtype = dtype === 'f16' ? 'float16' : 'float32';
  return [{ name, shape, dtype: recDtype, format: dtype === 'f32-to-bf16' ? 'f32-to-bf16' : 'raw', bytes }];
}

function u8(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The checkpoint's parts, checked to exist: config.json read, model.safetensors' header, tokenizer.json. */
interface SourceCheckpoint {
  cfg: Qwen2HfConfig;
  stFile: string;
  tokFile: string;
  header: SafetensorsHeader;
}

function checkedDtype(dtype: MlcStorageDtype): MlcStorageDtype {
  if (!STORAGE_DTYPES.includes(dtype))
    throw new Error(`convert-to-mlc: --dtype ${dtype} is not one of ${STORAGE_DTYPES.join(', ')}`);
  return dtype;
}

function readCheckpoint(model: string): SourceCheckpoint {
  const cfg = readHfConfig(join(model, 'config.json'));
  const stFile = join(model, 'model.safetensors');
  if (!existsSync(stFile)) throw new Error(`convert-to-mlc: missing ${stFile}`);
  const tokFile = join(model, 'tokenizer.json');
  if (!existsSync(tokFile)) throw new Error(`convert-to-mlc: missing ${tokFile}`);
  return { cfg, stFile, tokFile, header: readSafetensorsHeader(stFile) };
}

/** One HF source tensor as f32, its shape checked against what config.json implies. */
function readSourceTensor(src: SourceCheckpoint, name: string, mlcName: string): Float32Array {
  const info = src.header.entries.get(name);
  if (!info) throw new Error(`convert-to-mlc: ${src.stFile}: missing tensor ${name} (needed for ${mlcName})`);
  const want = hfQwen2Shape(name, src.cfg);
  if (info.shape.join(',') !== want.join(','))
    throw new Error(
      `convert-to-mlc: ${src.stFile}: tensor ${name} has shape [${info.shape}], config.json implies [${want}]`,
    );
  const data = new Float32Array(info.shape.reduce((a, b) => a * b, 1));
  readTensorInto(src.header, name, data);
  return data;
}

/** One MLC parameter's values: its HF sources concatenated along rows, which must fill it exactly. */
function gatherParam(src: SourceCheckpoint, p: { name: string; shape: number[] }): Float32Array {
  const count = p.shape.reduce((a, b) => a * b, 1);
  const f32 = new Float32Array(count);
  let rowOff = 0;
  for (const name of hfSourcesFor(p.name)) {
    const data = readSourceTensor(src, name, p.name);
    if (rowOff + data.length > count)
      throw new Error(`convert-to-mlc: ${src.stFile}: tensor ${name} overflows ${p.name} [${p.shape}]`);
    f32.set(data, rowOff);
    rowOff += data.length;
  }
  if (rowOff !== count)
    throw new Error(
      `convert-to-mlc: ${src.stFile}: sources of ${p.name} give ${rowOff} values, expected ${count} ([${p.shape}])`,
    );
  return f32;
}

interface Shard {
  dataPath: string;
  format: 'raw-shard';
  nbytes: number;
  records: Record<string, unknown>[];
}

/** The shards written so far and the open one (cur, its file fd): records append to it until it is full. */
interface ShardSink {
  dir: string;
  shardBytes: number;
  shards: Shard[];
  cur: Shard | null;
  fd: number;
  totalBytes: number;
  written: ConvertResult['params'];
}

function openShard(sink: ShardSink): Shard {
  if (sink.fd >= 0) closeSync(sink.fd);
  const s: Shard = { dataPath: `params_shard_${sink.shards.length}.bin`, format: 'raw-shard', nbytes: 0, records: [] };
  sink.shards.push(s);
  sink.fd = openSync(join(sink.dir, s.dataPath), 'w');
  return s;
}

/** Appends one stored record; a record larger than shardBytes gets a shard of its own. */
function appendRecord(sink: ShardSink, e: EncodedParam): void {
  const nbytes = e.bytes.byteLength;
  if (!sink.cur || (sink.cur.nbytes > 0 && sink.cur.nbytes + nbytes > sink.shardBytes)) sink.cur = openShard(sink);
  sink.cur.records.push({
    name: e.name,
    shape: e.shape,
    dtype: e.dtype,
    format: e.format,
    nbytes,
    byteOffset: sink.cur.nbytes,
  });
  writeAll(sink.fd, e.bytes);
  sink.cur.nbytes += nbytes;
  sink.totalBytes += nbytes;
  sink.written.push({ name: e.name, shape: e.shape, dtype: e.dtype });
}

/** Every parameter, in the libraries' order, encoded and written to params_shard_*.bin in dir. */
function writeParamShards(
  dir: string,
  params: { name: string; shape: number[] }[],
  src: SourceCheckpoint,
  dtype: MlcStorageDtype,
  shardBytes: number,
): ShardSink {
  const sink: ShardSink = { dir, shardBytes, shards: [], cur: null, fd: -1, totalBytes: 0, written: [] };
  try {
    for (const p of params) {
      const f32 = gatherParam(src, p);
      for (const e of encodeParam(p.name, p.shape, f32, dtype)) appendRecord(sink, e);
    }
  } finally {
    if (sink.fd >= 0) closeSync(sink.fd);
  }
  return sink;
}

function writeNdarrayCache(dir: string, sink: ShardSink, params: { shape: number[] }[]): void {
  const paramCount = params.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
  const { written, totalBytes } = sink;
  writeFileSync(
    join(dir, 'ndarray-cache.json'),
    JSON.stringify(
      {
        metadata: { ParamSize: written.length, ParamBytes: totalBytes, BitsPerParam: (8 * totalBytes) / paramCount },
        records: sink.shards,
      },
      null,
      1,
    ),
  );
}

export function convertToMlc(opts: ConvertOptions): ConvertResult {
  const dtype = checkedDtype(opts.dtype ?? 'f32-to-bf16');
  const src = readCheckpoint(opts.model);
  const params = mlcQwen2Params(src.cfg);
  mkdirSync(opts.out, { recursive: true });
  const sink = writeParamShards(opts.out, params, src, dtype, opts.shardBytes ?? 32 * 1024 * 1024);
  writeNdarrayCache(opts.out, sink, params);
  writeFileSync(join(opts.out, 'mlc-chat-config.json'), JSON.stringify(mlcChatConfig(opts, src.cfg, dtype), null, 2));
  copyFileSync(src.tokFile, join(opts.out, 'tokenizer.json'));
  return { out: opts.out, params: sink.written, totalBytes: sink.totalBytes };
}

const USAGE = `usage: node dist/tools/convert-to-mlc.js --model HF_DIR --out MLC_DIR [--dtype f32-to-bf16|f16|f32|q4f16_1] [--conv-template chatml|raw]
       [--context-window N] [--prefill-chunk N]

Converts a Hugging Face Qwen2 checkpoint into WebLLM's MLC layout (ndarray-cache shards,
mlc-chat-config.json, tokenizer.json), the weights a model.engine "webllm" run loads.`;

function parseArgs(argv: string[]): ConvertOptions {
  const o: Partial<ConvertOptions> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new UsageError(`${a} needs a value`);
      return x;
    };
    if (a === '--model') o.model = v();
    else if (a === '--out') o.out = v();
    else if (a === '--dtype') o.dtype = v() as MlcStorageDtype;
    else if (a === '--conv-template') o.convTemplate = v();
    else if (a === '--context-window') o.contextWindow = Number(v());
    else if (a === '--prefill-chunk') o.prefillChunk = Number(v());
    else throw new UsageError(`unknown argument ${a}`);
  }
  if (!o.model || !o.out) throw new UsageError('--model HF_DIR and --out MLC_DIR are required');
  return o as ConvertOptions;
}

if (isMainScript(import.meta.url)) {
  const t0 = Date.now();
  const r = convertToMlc(parseArgs(scriptArgs({ name: 'convert-to-mlc', help: USAGE })));
  console.log(
    JSON.stringify({ out: r.out, params: r.params.length, bytes: r.totalBytes, seconds: (Date.now() - t0) / 1000 }),
  );
}

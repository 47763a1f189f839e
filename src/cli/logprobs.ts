// `loractor logprobs --model DIR [--adapter DIR] --in FILE.jsonl [--out FILE.jsonl] [--reference]
//  [--temperature T] [--batch-size N] [--device cpu|webgpu] [--weight-dtype f32|f16]`: per-token
// log-probs of given completions, on the cpu or on the WebGPU adapter (the learner's kernels).
// Input lines: {"prompt_ids": [int...], "completion_ids": [int...]} (blank lines are skipped).
// Output lines: {"line": N, "logprobs": [...], "sum": S} — log p(completion_ids[i] | prompt, completion[<i])
// under logits / temperature. --reference switches the adapter off (LoRA scale 0: the reference
// policy). Any malformed line aborts the run before computing, naming file and line: not UTF-8, not
// JSON, ids outside the vocabulary, or prompt + completion longer than the model's context. Exit
// codes: 0 ok, 1 bad input or model, 2 usage.
import { writeFileSync } from 'node:fs';
import { readUtf8Lines } from '../util/utf8.js';
import { parseArgs } from 'node:util';
import { loadModel } from '../model/load.js';
import { loadAdapterPeft } from '../model/peft.js';
import { loraScale } from '../model/lora.js';
import { completionLogprobs, completionLogprobsOn, type PromptCompletion } from '../model/logprobs.js';
import type { LoraAdapter } from '../model/lora.js';
import type { Model } from '../model/weights.js';

export const USAGE = `usage: loractor logprobs --model DIR [--adapter DIR] --in FILE.jsonl [--out FILE.jsonl] [--reference] [--temperature T] [--batch-size N]
                         [--device cpu|webgpu] [--weight-dtype f32|f16]
  --device webgpu runs the learner's WGSL kernels on the adapter Dawn finds (base matrices stored as
  --weight-dtype, default f32; f16 halves memory at ~1e-3 relative log-prob error)
  input lines:  {"prompt_ids": [...], "completion_ids": [...]}
  output lines: {"line": N, "logprobs": [...], "sum": S}`;

function idList(v: unknown, field: string, where: string, vocab: number): number[] {
  if (!Array.isArray(v)) throw new Error(`${where}: field "${field}" must be an array of token ids`);
  for (const id of v) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocab) {
      throw new Error(`${where}: field "${field}" holds ${JSON.stringify(id)}, not a token id in [0, ${vocab})`);
    }
  }
  return v as number[];
}

/** Parses the input JSONL; throws naming file and line on the first bad line (context: the model's max_position_embeddings). */
export function parseLogprobsInput(
  text: string,
  file: string,
  vocab: number,
  context = Infinity,
): { line: number; item: PromptCompletion }[] {
  const out: { line: number; item: PromptCompletion }[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    const where = `${file}:${line}`;
    let obj: unknown;
    try {
      obj = JSON.parse(raw);
    } catch (err) {
      throw new Error(`${where}: invalid JSON (${(err as Error).message})`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
      throw new Error(`${where}: expected an object {"prompt_ids", "completion_ids"}`);
    const o = obj as Record<string, unknown>;
    // Length first: a line far past the context is refused before its ids are even looked at.
    const len =
      (Array.isArray(o.prompt_ids) ? o.prompt_ids.length : 0) +
      (Array.isArray(o.completion_ids) ? o.completion_ids.length : 0);
    if (len > context)
      throw new Error(
        `${where}: prompt_ids + completion_ids hold ${len} tokens; the model's context is ${context} (config.json max_position_embeddings)`,
      );
    const prompt = idList(o.prompt_ids, 'prompt_ids', where, vocab);
    const completion = idList(o.completion_ids, 'completion_ids', where, vocab);
    if (prompt.length === 0) throw new Error(`${where}: field "prompt_ids" is empty (the first token needs a prefix)`);
    out.push({ line, item: { prompt, completion } });
  });
  return out;
}

export async function run(argv: string[]): Promise<number> {
  const s = logprobsSettings(argv);
  if (typeof s === 'number') return s;
  try {
    const outText = await logprobsText(s);
    if (s.out) writeFileSync(s.out, outText);
    else process.stdout.write(outText);
    return 0;
  } catch (err) {
    console.error(`loractor logprobs: ${(err as Error).message}`);
    return 1;
  }
}

interface LogprobsSettings {
  model: string;
  adapter: string | undefined;
  in: string;
  out: string | undefined;
  reference: boolean;
  temperature: number;
  batchSize: number;
  device: 'cpu' | 'webgpu';
  weightDtype: 'f32' | 'f16';
}

/** The settings of a logprobs command line, or the exit code (2) after printing its usage error. */
function logprobsSettings(argv: string[]): LogprobsSettings | number {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string' },
        adapter: { type: 'string' },
        in: { type: 'string' },
        out: { type: 'string' },
        reference: { type: 'boolean', default: false },
        temperature: { type: 'string', default: '1' },
        'batch-size': { type: 'string', default: '16' },
        device: { type: 'string', default: 'cpu' },
        'weight-dtype': { type: 'string', default: 'f32' },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`loractor logprobs: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!values.model || !values.in) {
    console.error(`loractor logprobs: --model and --in are required\n${USAGE}`);
    return 2;
  }
  const temperature = Number(values.temperature);
  if (!(temperature > 0)) {
    console.error(`loractor logprobs: --temperature must be a positive number, got ${values.temperature}`);
    return 2;
  }
  const batchSize = Number(values['batch-size']);
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    console.error(`loractor logprobs: --batch-size must be a positive integer`);
    return 2;
  }
  const device = values.device,
    weightDtype = values['weight-dtype'];
  if (device !== 'cpu' && device !== 'webgpu') {
    console.error(`loractor logprobs: --device must be cpu or webgpu, got ${device}`);
    return 2;
  }
  if (weightDtype !== 'f32' && weightDtype !== 'f16') {
    console.error(`loractor logprobs: --weight-dtype must be f32 or f16, got ${weightDtype}`);
    return 2;
  }
  return {
    model: values.model,
    adapter: values.adapter,
    in: values.in,
    out: values.out,
    reference: values.reference,
    temperature,
    batchSize,
    device,
    weightDtype,
  };
}

/** The output JSONL: one line per input line with its completion's log-probs and their sum. */
async function logprobsText(s: LogprobsSettings): Promise<string> {
  const model = loadModel(s.model);
  const adapter = s.adapter ? loadAdapterPeft(s.adapter, model.config) : null;
  const rows = readLogprobsInput(s.in, model);
  const useAdapter = adapter && !s.reference ? adapter : null;
  const scale = useAdapter ? loraScale(useAdapter.settings) : 0;
  const items = rows.map((r) => r.item);
  const { temperature, batchSize, weightDtype } = s;
  const lps =
    s.device === 'webgpu'
      ? await onWebGpu(model, useAdapter, scale, items, { temperature, batchSize, weightDtype })
      : completionLogprobs(model, useAdapter, scale, items, { temperature, batchSize });
  const lines = rows.map((r, i) => {
    const lp = Array.from(lps[i]!);
    return JSON.stringify({ line: r.line, logprobs: lp, sum: lp.reduce((a, b) => a + b, 0) });
  });
  return lines.join('\n') + (lines.length ? '\n' : '');
}

/** The --in file's lines, decoded strictly and checked against the model's vocabulary and context. */
function readLogprobsInput(file: string, model: Model<Float32Array>): { line: number; item: PromptCompletion }[] {
  let input;
  try {
    input = readUtf8Lines(file);
  } catch (err) {
    throw new Error(`${file}: cannot read (${(err as Error).message})`);
  }
  const bad = input.find((l) => l.text === null);
  if (bad) throw new Error(`${file}:${bad.line}: not valid UTF-8 (the file must be UTF-8 encoded)`);
  return parseLogprobsInput(
    input.map((l) => l.text).join('\n'),
    file,
    model.config.vocabSize,
    model.config.maxPositionEmbeddings,
  );
}

/** The same batches on the WebGPU kernels (Dawn is loaded only here). */
async function onWebGpu(
  model: Model<Float32Array>,
  adapter: LoraAdapter<Float32Array> | null,
  scale: number,
  items: PromptCompletion[],
  o: { temperature: number; batchSize: number; weightDtype: 'f16' | 'f32' },
): Promise<Float64Array[]> {
  const { createGpuContext, uploadTensor } = await import('../ops/webgpu/context.js');
  const { webgpuOps } = await import('../ops/webgpu/index.js');
  const { uploadModel } = await import('../ops/webgpu/model-upload.js');
  const ctx = await createGpuContext();
  try {
    const { model: gmodel, report } = uploadModel(ctx, model, { weightDtype: o.weightDtype });
    if (report.keptF32.length)
      console.error(`loractor logprobs: kept in f32 (values outside the f16 range): ${report.keptF32.join(', ')}`);
    const gadapter = adapter
      ? { ...adapter, params: uploadTensor(ctx, adapter.params, 'f32', 'lora params', true) }
      : null;
    return await completionLogprobsOn(webgpuOps(ctx), gmodel, gadapter, scale, items, o);
  } finally {
    ctx.device.destroy();
  }
}

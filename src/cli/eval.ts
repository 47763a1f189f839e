// `loractor eval --model DIR [--adapter DIR] --bench aime24,math500 [--limit N] [--samples k]
//  [--out DIR] [--strict] [--temperature T] [--top-p P] [--max-new-tokens N] [--seed S] [--data-seed S]
//  [--batch-size B] [--benchmarks-dir DIR] [--gpqa-path FILE] [--synthetic-count N]`
// Evaluates a model (+ PEFT adapter) on benchmarks with the builtin CPU engine, prints a table
// (per benchmark and average), shows progress on stderr, writes eval.jsonl + summary.json +
// summary.txt into --out (default runs/eval-<time>).
import { parseArgs } from 'node:util';
import { totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { loadModel } from '../model/load.js';
import { loadTokenizer } from '../model/tokenizer.js';
import { loadAdapterPeft } from '../model/peft.js';
import { createBuiltinEngine } from '../engines/builtin/index.js';
import { parseEvalConfig, type EvalConfig } from '../eval/config.js';
import { parseBenchList } from '../eval/benchmarks.js';
import { chatRendererFrom, engineDecoder, type ChatRenderer } from '../eval/prompt-renderer.js';
import type { LoadedBenchmark } from '../eval/benchmarks.js';
import { loadConfiguredBenchmarks, evaluateOnEngine } from '../eval/session.js';
import { createEvalProgress, formatTable, writeEvalOutputs } from '../eval/report.js';

export const USAGE = `usage: loractor eval --model DIR [--adapter DIR] --bench NAME[,NAME...] [--limit N] [--samples K] [--out DIR] [--strict]
       [--temperature T] [--top-p P] [--max-new-tokens N] [--seed S] [--data-seed S] [--batch-size B]
       [--benchmarks-dir DIR] [--gpqa-path FILE] [--synthetic-count N] [--unencodable-text error|warn]
benchmarks: aime24 aime25 amc23 math500 minerva gsm8k gpqa (needs --gpqa-path) synthetic`;

function num(v: string | undefined, flag: string, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)))
    throw new UsageError(`--${flag} must be ${integer ? 'an integer' : 'a number'}, got '${v}'`);
  return n;
}

class UsageError extends Error {}

function configFrom(argv: string[]): {
  cfg: EvalConfig;
  model: string;
  adapter: string | null;
  out: string;
  maxNewTokensGiven: boolean;
} {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: 'string' },
        adapter: { type: 'string' },
        bench: { type: 'string' },
        limit: { type: 'string' },
        samples: { type: 'string' },
        out: { type: 'string' },
        strict: { type: 'boolean' },
        temperature: { type: 'string' },
        'top-p': { type: 'string' },
        'max-new-tokens': { type: 'string' },
        seed: { type: 'string' },
        'batch-size': { type: 'string' },
        'data-seed': { type: 'string' },
        'benchmarks-dir': { type: 'string' },
        'gpqa-path': { type: 'string' },
        'synthetic-count': { type: 'string' },
        'unencodable-text': { type: 'string' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (!values.model) throw new UsageError('--model DIR is required');
  if (!values.bench) throw new UsageError('--bench NAME[,NAME...] is required');
  let benchmarks: string[];
  try {
    benchmarks = parseBenchList(values.bench);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const raw: Record<string, unknown> = {
    benchmarks,
    limit: num(values.limit, 'limit', true),
    num_samples: num(values.samples, 'samples', true),
    temperature: num(values.temperature, 'temperature', false),
    top_p: num(values['top-p'], 'top-p', false),
    max_new_tokens: num(values['max-new-tokens'], 'max-new-tokens', true),
    seed: num(values.seed, 'seed', true),
    data_seed: num(values['data-seed'], 'data-seed', true),
    batch_size: num(values['batch-size'], 'batch-size', true),
    strict: values.strict ?? false,
    benchmarks_dir: values['benchmarks-dir'] !== undefined ? resolve(values['benchmarks-dir']) : undefined,
    benchmark_paths: values['gpqa-path'] ? { gpqa: resolve(values['gpqa-path']) } : {},
    synthetic_count: num(values['synthetic-count'], 'synthetic-count', true),
    unencodable_text: values['unencodable-text'],
  };
  for (const k of Object.keys(raw)) if (raw[k] === undefined) delete raw[k];
  let cfg: EvalConfig;
  try {
    cfg = parseEvalConfig(raw, 'eval options');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return {
    cfg,
    model: resolve(values.model),
    adapter: values.adapter ? resolve(values.adapter) : null,
    out: resolve(values.out ?? join('runs', `eval-${stamp}`)),
    maxNewTokensGiven: values['max-new-tokens'] !== undefined,
  };
}

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = configFrom(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      if (err.message) console.error(`loractor eval: ${err.message}`);
      console.error(USAGE);
      return 2;
    }
    throw err;
  }
  const { cfg, model: modelDir, adapter: adapterDir, out, maxNewTokensGiven } = parsed;
  try {
    const benchmarks = loadConfiguredBenchmarks(cfg); // name / file / strict-line errors before the model loads
    for (const b of benchmarks)
      for (const i of b.issues) console.error(`warning: ${i.file}:${i.line}: ${i.message} (skipped)`);
    const model = loadModel(modelDir);
    const tokenizer = loadTokenizer(modelDir, model.config);
    const engine = createBuiltinEngine({ model, tokenizer: engineDecoder(tokenizer, model.config.eosTokenIds) });
    if (adapterDir) {
      const a = loadAdapterPeft(adapterDir, model.config);
      await engine.setAdapter({ version: 1, settings: a.settings, layout: a.layout, params: a.params });
    }
    const renderer = chatRendererFrom(tokenizer, { unencodable: cfg.unencodable_text });
    const fit = fitToContext(
      benchmarks,
      chatRendererFrom(tokenizer, { unencodable: cfg.unencodable_text }),
      model.config.maxPositionEmbeddings,
      cfg.max_new_tokens,
      maxNewTokensGiven,
      cfg.num_samples,
    );
    if (fit.usage) {
      console.error(`loractor eval: ${fit.usage}`);
      return 2;
    }
    if (fit.note) console.error(`eval: ${fit.note}`);
    cfg.max_new_tokens = fit.maxNewTokens;
    const progress = createEvalProgress();
    const t0 = performance.now();
    const result = await evaluateOnEngine(
      benchmarks,
      cfg,
      engine,
      (u) => renderer.render(u),
      (p) => progress.update(p),
    );
    progress.done();
    await engine.close();
    if (renderer.lossy)
      console.error(
        `warning: ${renderer.lossy} prompt(s) hold characters this model's tokenizer cannot encode; they were evaluated without them (--unencodable-text warn)`,
      );
    for (const e of result.excluded)
      console.error(
        `warning: ${e.benchmark} ${e.id}: gold answer does not parse (excluded): ${JSON.stringify(e.gold_text.slice(0, 120))}`,
      );
    const meta = {
      model: modelDir,
      adapter: adapterDir,
      policy_version: engine.policyVersion,
      engine: engine.name,
      config: cfg as unknown as Record<string, unknown>,
    };
    const files = writeEvalOutputs(
      out,
      result,
      meta,
      benchmarks.flatMap((b) => b.issues),
    );
    process.stdout.write(formatTable(result));
    console.error(
      `eval: ${result.records.length} completions in ${((performance.now() - t0) / 1000).toFixed(1)} s; wrote ${files.join(', ')}`,
    );
    return 0;
  } catch (err) {
    console.error(`loractor eval: ${(err as Error).message}`);
    return 1;
  }
}

/**
 * max_new_tokens against the model's context and the longest prompt: an explicit value that does not
 * fit is a usage error; the default is lowered to fit (vLLM's rule for an unset max_tokens). And the
 * completions kept in memory (problems × --samples) must fit.
 */
function fitToContext(
  benchmarks: LoadedBenchmark[],
  renderer: ChatRenderer,
  context: number,
  maxNew: number,
  given: boolean,
  samples: number,
): { maxNewTokens: number; usage?: string; note?: string } {
  let longest = { tokens: 0, where: '' };
  for (const b of benchmarks)
    for (const p of b.problems) {
      const n = renderer.render(p.userPrompt).ids.length;
      if (n > longest.tokens) longest = { tokens: n, where: `${b.def.name} ${p.id}` };
    }
  // Every judged completion is kept until the outputs are written: --samples × problems must fit.
  const completions = benchmarks.reduce((a, b) => a + b.problems.length, 0) * samples;
  const bytes = completions * (Math.min(maxNew, Math.max(1, context - longest.tokens)) * 64 + 1024);
  if (bytes > totalmem() / 2)
    return {
      maxNewTokens: maxNew,
      usage: `--samples ${samples}: ${completions.toLocaleString('en-US')} completions need about ${(bytes / 2 ** 30).toFixed(1)} GiB before they are written, over half of this machine's ${(totalmem() / 2 ** 30).toFixed(1)} GiB; lower --samples, --limit or --max-new-tokens`,
    };
  const room = context - longest.tokens;
  if (room < 1)
    return {
      maxNewTokens: maxNew,
      usage: `the longest prompt (${longest.where}, ${longest.tokens} tokens) leaves no room in the model's context of ${context} tokens`,
    };
  if (maxNew <= room) return { maxNewTokens: maxNew };
  if (given)
    return {
      maxNewTokens: maxNew,
      usage: `--max-new-tokens ${maxNew}: the longest prompt (${longest.where}) has ${longest.tokens} tokens and the model's context is ${context}; at most ${room}`,
    };
  return {
    maxNewTokens: room,
    note: `max_new_tokens ${room} (the model's context ${context} − the longest prompt's ${longest.tokens} tokens; the default ${maxNew} does not fit; --max-new-tokens sets it)`,
  };
}

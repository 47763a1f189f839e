// Evaluator actor: evaluates one adapter version (or the base model, version 0) on a list of
// benchmarks with its OWN generation engine, so training keeps going while it runs. A stateful,
// single-thread role: init() maps the base weights (shared memory when the coordinator passes a
// model descriptor, else loaded from the model folder) and attaches the learner's WeightStore.
//
// evaluate(EvalRequest) → EvalReport (protocols/messages.ts). The per-completion rows (with the
// policy version) are appended to <outDir>/eval.jsonl and the results table to
// <outDir>/eval-summary.txt; the full per-benchmark summaries (pass@k, per level, format rate)
// go to <outDir>/eval-summary.jsonl, one line per request.
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { EvalReport, EvalRequest } from '../protocols/messages.js';
import { acceptsOf, EvaluatorProtocol } from '../protocols/handlers.js';
import type { EvaluatorConfig } from '../protocols/role-config.js';
import { loadModel } from '../src/model/load.js';
import { attachModel, type Model } from '../src/model/weights.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { createLoraLayout } from '../src/model/lora.js';
import type { AdapterLayout } from '../src/model/adapter-layout.js';
import { createBuiltinEngine, type BuiltinEngine } from '../src/engines/builtin/index.js';
import { WeightStore } from '../src/runtime/weight-store.js';
import { WeightChecksumError } from '../src/runtime/errors.js';
import { parseEvalConfig } from '../src/eval/config.js';
import { chatRendererFrom, engineDecoder, type ChatRenderer } from '../src/eval/prompt-renderer.js';
import { loadConfiguredBenchmarks, evaluateOnEngine } from '../src/eval/session.js';
import { formatTable } from '../src/eval/report.js';

export type { EvaluatorConfig };

// Requests are validated against protocols/handlers.ts EvaluatorProtocol; the compiler checks the handler against it.
export const accepts = acceptsOf(EvaluatorProtocol, { evaluate });

interface EvaluatorState {
  cfg: EvaluatorConfig;
  model: Model<Float32Array>;
  engine: BuiltinEngine;
  renderer: ChatRenderer;
  store: WeightStore | null;
  layout: AdapterLayout | null;
}

let state: EvaluatorState | null = null;

export async function init(raw: unknown): Promise<void> {
  const cfg = raw as EvaluatorConfig;
  if (!cfg || typeof cfg.modelDir !== 'string') throw new Error('evaluator config: modelDir (string) is required');
  if (cfg.weightStore && !cfg.lora) throw new Error('evaluator config: lora settings are required with weightStore');
  const model = cfg.model ? attachModel(cfg.model) : loadModel(cfg.modelDir);
  const tokenizer = loadTokenizer(cfg.modelDir, model.config);
  const engine = createBuiltinEngine({ model, tokenizer: engineDecoder(tokenizer, model.config.eosTokenIds) });
  const store = cfg.weightStore ? WeightStore.attach(cfg.weightStore) : null;
  const layout = cfg.lora ? createLoraLayout(model.config, cfg.lora) : null;
  if (store && layout && layout.size !== store.size) {
    throw new Error(
      `evaluator config: lora settings give an adapter of ${layout.size} values, the weight store holds ${store.size}`,
    );
  }
  state = {
    cfg,
    model,
    engine,
    renderer: chatRendererFrom(tokenizer, { unencodable: cfg.eval?.unencodable_text ?? 'error' }),
    store,
    layout,
  };
}

/** Put the requested version on the engine; returns the version actually applied. */
async function applyVersion(s: EvaluatorState, version: number): Promise<number> {
  if (version === 0) {
    await s.engine.setAdapter(null);
    return 0;
  }
  if (!s.store || !s.layout || !s.cfg.lora)
    throw new Error(`evaluate: version ${version} requested but the evaluator has no weightStore`);
  const seen = await s.store.waitForVersion(version, s.cfg.versionWaitMs ?? 60_000);
  if (seen < version)
    throw new Error(
      `evaluate: adapter version ${version} was not published within ${s.cfg.versionWaitMs ?? 60_000} ms (latest ${seen})`,
    );
  // The store keeps only the latest version: when the learner has moved on, that newer version is
  // evaluated and reported (EvalReport.version says which).
  const snap = s.store.snapshot();
  if (!WeightStore.verify(snap))
    throw new WeightChecksumError(`evaluate: adapter version ${snap.version} failed its checksum`);
  await s.engine.setAdapter({ version: snap.version, settings: s.cfg.lora, layout: s.layout, params: snap.params });
  return snap.version;
}

export async function evaluate(msg: EvalRequest): Promise<EvalReport> {
  const s = state;
  if (!s) throw new Error('evaluator: init did not run');
  const t0 = performance.now();
  const cfg = parseEvalConfig(
    {
      ...(s.cfg.eval ?? {}),
      benchmarks: msg.benchmarks,
      ...(msg.limit !== undefined ? { limit: msg.limit } : {}),
      num_samples: msg.samplesPerProblem,
      temperature: msg.sampling.temperature,
      top_p: msg.sampling.top_p,
      top_k: msg.sampling.top_k,
      max_new_tokens: msg.sampling.max_tokens,
      seed: msg.sampling.seed,
    },
    'EvalRequest',
  );
  const benchmarks = loadConfiguredBenchmarks(cfg);
  const version = await applyVersion(s, msg.version);
  const tGen = performance.now();
  const result = await evaluateOnEngine(benchmarks, cfg, s.engine, (u) => s.renderer.render(u));
  const evalMs = performance.now() - tGen;
  if (s.cfg.outDir) {
    mkdirSync(s.cfg.outDir, { recursive: true });
    appendFileSync(
      join(s.cfg.outDir, 'eval.jsonl'),
      result.records.map((r) => JSON.stringify({ version, ...r })).join('\n') + '\n',
    );
    appendFileSync(
      join(s.cfg.outDir, 'eval-summary.jsonl'),
      JSON.stringify({
        version,
        requested_version: msg.version,
        average_pass_at_1: result.average_pass_at_1,
        benchmarks: result.summaries,
        excluded: result.excluded,
      }) + '\n',
    );
    appendFileSync(join(s.cfg.outDir, 'eval-summary.txt'), formatTable(result, `adapter version ${version}`) + '\n');
  }
  return {
    version,
    results: result.summaries.map((b) => ({
      benchmark: b.benchmark,
      pass_at_1: b.pass_at_1,
      problems: b.problems,
      samples: b.samples,
    })),
    timings: { total_ms: performance.now() - t0, generate_and_judge_ms: evalMs },
  };
}

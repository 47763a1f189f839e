// `check` for the model (split from check.ts, which runs every section in order): the model folder
// (Qwen2 config.json, complete safetensors with the right shapes/dtypes, a tokenizer that fits the
// vocabulary, a chat template that renders, the Tina prompt's length) and, for the webllm engine, the
// MLC artifacts. Each problem goes into the report; none stops the others.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { DataSection, ModelSection } from '../coordinator/config.js';
import { readQwen2Config, type Qwen2Config } from '../model/config.js';
import { readSafetensorsHeader, type SafetensorsEntry } from '../model/safetensors.js';
import { weightSpecs } from '../model/weights.js';
import { loadTokenizer, type ModelTokenizer } from '../model/tokenizer.js';
import { buildTinaPrompt, REASON_CHAT_TEMPLATE, SYSTEM_PROMPTS, systemPromptFor } from '../data/prompts.js';
import { loadMlcArtifacts } from '../engines/webllm/mlc-artifacts.js';
import { resolvePath, type CheckReport } from './check-report.js';

export function checkModel(
  model: ModelSection,
  configFile: string,
  data: DataSection | undefined,
  rep: CheckReport,
): { cfg?: Qwen2Config; tok?: ModelTokenizer } {
  const dir = resolvePath(model.path, configFile);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    rep.problems.push(
      `model.path: folder ${dir} does not exist (expected a Hugging Face model folder: config.json, model.safetensors, tokenizer.json, tokenizer_config.json)`,
    );
    return {};
  }
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json'])
    if (!existsSync(join(dir, f))) rep.problems.push(`model: missing ${join(dir, f)}`);
  let cfg: Qwen2Config | undefined;
  if (existsSync(join(dir, 'config.json'))) {
    try {
      cfg = readQwen2Config(join(dir, 'config.json'));
      rep.passed.push(
        `model: config.json is Qwen2 (${cfg.numLayers} layers, hidden ${cfg.hiddenSize}, vocab ${cfg.vocabSize})`,
      );
    } catch (err) {
      rep.problems.push(`model: ${(err as Error).message}`);
    }
  }
  if (cfg) checkWeights(dir, cfg, rep);
  let tok: ModelTokenizer | undefined;
  if (existsSync(join(dir, 'tokenizer.json'))) {
    try {
      tok = loadTokenizer(dir, cfg);
      rep.passed.push(`model: tokenizer loads (${tok.size} ids${cfg ? `, fits vocab ${cfg.vocabSize}` : ''})`);
      if (tok.eosTokenId === null)
        rep.problems.push(
          `model: ${join(dir, 'tokenizer_config.json')} has no eos_token (generation could never stop)`,
        );
      if (tok.chatTemplate === null)
        rep.problems.push(
          `model: no chat template (tokenizer_config.json field "chat_template" or chat_template.jinja)`,
        );
      else {
        const text = tok.applyChatTemplate([{ role: 'user', content: 'What is 1 + 1?' }], {
          addGenerationPrompt: true,
        });
        if (!text.includes('What is 1 + 1?'))
          rep.problems.push('model: the chat template renders without the user message');
        else rep.passed.push('model: chat template renders');
      }
      if (data?.source === 'dataset') {
        // Tina replaces the chat template with REASON_CHAT_TEMPLATE and uses the model's bos token.
        const sys =
          data.system_prompt_text ??
          (data.system_prompt === 'none'
            ? ''
            : data.system_prompt === 'auto'
              ? systemPromptFor(data.dataset_id ?? data.path)
              : SYSTEM_PROMPTS[data.system_prompt]);
        const prompt = buildTinaPrompt('What is 1 + 1?', sys, REASON_CHAT_TEMPLATE, { bosToken: tok.bosToken ?? '' });
        const n = tok.encode(prompt).length;
        rep.passed.push(`data: Tina prompt (REASON_CHAT_TEMPLATE + system prompt) renders to ${n} tokens`);
      }
    } catch (err) {
      rep.problems.push(`model: ${(err as Error).message}`);
    }
  }
  return { ...(cfg ? { cfg } : {}), ...(tok ? { tok } : {}) };
}

/** Headers of model.safetensors or of every shard named in model.safetensors.index.json. */
function checkWeights(dir: string, cfg: Qwen2Config, rep: CheckReport): void {
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  const entries = new Map<string, SafetensorsEntry & { file: string }>();
  const files: string[] = [];
  if (existsSync(single)) files.push(single);
  else if (existsSync(index)) {
    try {
      const map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: Record<string, string> }).weight_map;
      if (!map || typeof map !== 'object') throw new Error('field "weight_map" is missing');
      for (const f of new Set(Object.values(map))) {
        if (existsSync(join(dir, f))) files.push(join(dir, f));
        else rep.problems.push(`model: shard ${join(dir, f)} (listed in ${index}) is missing`);
      }
    } catch (err) {
      rep.problems.push(`model: ${index}: ${(err as Error).message}`);
      return;
    }
  } else {
    rep.problems.push(`model: no weights: neither ${single} nor ${index}`);
    return;
  }
  for (const f of files) {
    try {
      for (const e of readSafetensorsHeader(f).entries.values()) entries.set(e.name, { ...e, file: f });
    } catch (err) {
      rep.problems.push(`model: ${(err as Error).message}`);
    }
  }
  const missing: string[] = [];
  let bad = 0;
  const dtypes = new Set<string>();
  for (const spec of weightSpecs(cfg)) {
    const e = entries.get(spec.name);
    if (!e) {
      missing.push(spec.name);
      continue;
    }
    dtypes.add(e.dtype);
    if (e.shape.join(',') !== spec.shape.join(',')) {
      bad++;
      rep.problems.push(
        `model: ${e.file}: tensor "${spec.name}" has shape [${e.shape}], config.json implies [${spec.shape}]`,
      );
    }
  }
  if (missing.length)
    rep.problems.push(
      `model: ${missing.length} tensor(s) missing from the weights: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? `, … (${missing.length - 5} more)` : ''}`,
    );
  if (!missing.length && !bad && files.length)
    rep.passed.push(
      `model: weights complete (${weightSpecs(cfg).length} tensors, ${[...dtypes].join('/')}, ${files.length} file${files.length > 1 ? 's' : ''})`,
    );
}

export function checkMlc(model: ModelSection, configFile: string, rep: CheckReport): void {
  if (!model.mlc_dir)
    rep.problems.push('model.mlc_dir: required by engine "webllm" (the folder tools/convert-to-mlc writes)');
  if (!model.mlc_lib)
    rep.problems.push('model.mlc_lib: required by engine "webllm" (the compiled model library, .wasm)');
  if (!model.mlc_dir || !model.mlc_lib) return;
  const dir = resolvePath(model.mlc_dir, configFile);
  const lib = resolvePath(model.mlc_lib, configFile);
  let complete = true;
  for (const f of [join(dir, 'mlc-chat-config.json'), join(dir, 'ndarray-cache.json'), lib]) {
    if (!existsSync(f)) {
      rep.problems.push(`model: MLC artifact ${f} is missing`);
      complete = false;
    }
  }
  if (!complete) return;
  try {
    loadMlcArtifacts(dir, lib);
    rep.passed.push(`model: MLC artifacts in ${dir} match ${lib}`);
  } catch (err) {
    rep.problems.push(`model: ${(err as Error).message}`);
  }
}

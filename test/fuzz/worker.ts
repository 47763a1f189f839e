// Worker thread of the fuzz suite: runs one case at a time through the real loaders and reports what
// happened. The test's main thread watches each case's deadline and terminates this worker on a hang,
// so even a synchronous infinite loop or an out-of-memory crash in a loader is caught and attributed.
import { parentPort } from 'node:worker_threads';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { checkConfig } from '../../src/cli/check.js';
import { loadModel } from '../../src/model/load.js';
import { loadTokenizer, type ModelTokenizer } from '../../src/model/tokenizer.js';
import { readQwen2Config } from '../../src/model/config.js';
import { loadDataset } from '../../src/data/hf-dataset.js';
import { createPromptSource } from '../../src/coordinator/prompts.js';
import { repoRoot } from '../../src/util/paths.js';
import type { FuzzCase, RawOutcome } from './types.js';

let tinyTok: ModelTokenizer | undefined;
function tinyTokenizer(): ModelTokenizer {
  const dir = join(repoRoot(), 'models/tiny');
  tinyTok ??= loadTokenizer(dir, readQwen2Config(join(dir, 'config.json')));
  return tinyTok;
}

async function runTarget(
  c: FuzzCase,
): Promise<{ rows: number; skips: { file: string; line: number; message: string }[] }> {
  switch (c.target) {
    case 'config':
      loadConfig(c.input);
      return { rows: 0, skips: [] };
    case 'check': {
      const rep = await checkConfig(c.input);
      if (rep.problems.length) throw new Error(rep.problems.join(' | '));
      return { rows: 0, skips: [] };
    }
    case 'model': {
      const model = loadModel(c.input);
      const tok = loadTokenizer(c.input, model.config);
      const text = tok.applyChatTemplate([{ role: 'user', content: '12+34' }], { addGenerationPrompt: true });
      tok.encode(text);
      return { rows: 0, skips: [] };
    }
    case 'dataset': {
      // The coordinator's own path (loadDataset → Tina mapping → prompts), then the loader again for
      // the skipped-line report the coordinator receives in `errors`.
      // (The tiny tokenizer cannot encode Tina's system prompt: the fuzz cases are about the loaders, so
      // lossy text is only counted here; test/run-input.test.ts covers the 'error' policy.)
      const data = {
        source: 'dataset' as const,
        path: c.input,
        system_prompt: 'auto' as const,
        chat_template: 'reason' as const,
        overlong_prompts: 'truncate' as const,
        unencodable_text: 'warn' as const,
        prompt_column: null,
        column_mapping: 'auto' as const,
        l1_target_length: null,
        ...(c.datasetId ? { dataset_id: c.datasetId } : {}),
      };
      const src = await createPromptSource(data, tinyTokenizer(), 1);
      src.next(Math.min(src.size ?? 1, 8));
      const loaded = await loadDataset(c.input, { split: 'train' });
      return { rows: loaded.rows.length, skips: loaded.errors };
    }
    case 'self-test':
      if (c.input === 'hang') for (;;);
      if (c.input === 'crash') process.exit(3);
      return { rows: 0, skips: [] };
  }
}

parentPort!.on('message', async (c: FuzzCase) => {
  const t0 = performance.now();
  let out: RawOutcome;
  try {
    const r = await runTarget(c);
    out = { kind: 'returned', rows: r.rows, skips: r.skips, ms: performance.now() - t0 };
  } catch (err) {
    const e = err as Error;
    out = {
      kind: 'threw',
      name: e?.constructor?.name ?? typeof err,
      message: String(e?.message ?? err),
      ms: performance.now() - t0,
    };
  }
  parentPort!.postMessage({ id: c.id, out });
});

// Imports are loaded: the harness starts each case's deadline only from here.
parentPort!.postMessage({ ready: true });

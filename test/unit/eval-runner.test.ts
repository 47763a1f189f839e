// The evaluation runner end to end on the synthetic benchmark, with the real tiny tokenizer and
// chat template. The builtin CPU engine is not in the tree yet, so generation comes from a small
// scripted engine defined here (it implements GenerationEngine honestly: seeded, deterministic,
// per-level accuracy); the model-backed determinism test is to be added when the engine lands.
import t from 'tap';
import { join } from 'node:path';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { repoRoot } from '../../src/util/paths.js';
import { Rng } from '../../src/util/rng.js';
import { completionFor, getTaskFamily } from '../../src/data/tasks/index.js';
import type { Completion, GenerationEngine, PromptInput, SamplingParams } from '../../src/engines/types.js';
import type { AdapterSnapshot } from '../../src/model/adapter-layout.js';
import {
  loadBenchmark,
  loadChatRenderer,
  createAnswerChecker,
  runEval,
  formatTable,
  writeEvalOutputs,
  passAtK,
  type LoadedBenchmark,
} from '../../src/eval/index.js';

const renderer = loadChatRenderer(join(repoRoot(), 'models', 'tiny'));

/** Answers `a+b=` prompts: correct with a per-level probability, worked or bare, seeded per (seed, prompt, sample). */
function scriptedEngine(accuracy: Record<number, number>): GenerationEngine & { calls: number } {
  const family = getTaskFamily('addition');
  return {
    name: 'scripted-test-engine',
    policyVersion: 3,
    calls: 0,
    async generate(prompts: PromptInput[], n: number, sampling: SamplingParams): Promise<Completion[]> {
      this.calls++;
      const out: Completion[] = [];
      prompts.forEach((p, promptIndex) => {
        const text = renderer.decode(p.ids); // what the model would see, without bos
        const m = /^([0-9]+)\+([0-9]+)=$/.exec(text);
        if (!m) throw new Error(`unexpected prompt ${JSON.stringify(text)}`);
        const ops = [Number(m[1]), Number(m[2])];
        const level = m[1]!.length;
        for (let s = 0; s < n; s++) {
          const rng = Rng.derive(sampling.seed, promptIndex, s);
          const correct = rng.next() < (accuracy[level] ?? 0);
          const item = {
            ...family.sample(level, () => 0),
            operands: ops,
            answer: String(ops[0]! + ops[1]! + (correct ? 0 : 1)),
          };
          item.solution = item.solution.replace(/\\boxed\{[0-9]+\}$/, `\\boxed{${item.answer}}`);
          const completion = completionFor(item, rng.next() < 0.5 ? 'worked' : 'boxed');
          const ids = renderer.render(completion).ids.slice(1); // drop the template's bos
          out.push({
            promptIndex,
            sampleIndex: s,
            tokenIds: Int32Array.from([...ids, renderer.eosTokenId!]),
            logprobs: new Float32Array(ids.length + 1),
            text: completion,
            finishReason: 'eos',
            policyVersion: 3,
          });
        }
      });
      return out;
    },
    async setAdapter(_s: AdapterSnapshot | null): Promise<void> {},
    async close(): Promise<void> {},
  };
}

t.test('chat renderer: tiny model prompt is bos + problem', async (t) => {
  const p = renderer.render('3478+5965=');
  t.equal(p.text, '<|bos|>3478+5965=');
  t.same(Array.from(p.ids), [1, 6, 7, 10, 11, 13, 8, 12, 9, 8, 14]);
  t.equal(renderer.eosTokenId, 2);
});

t.test('runner: records, pass@1/pass@k, per-level, deterministic', async (t) => {
  const bench = loadBenchmark('synthetic', { syntheticCount: 40 });
  const checker = await createAnswerChecker(['integer']);
  const opts = {
    engine: scriptedEngine({ 2: 1, 3: 0.5, 4: 0.25, 5: 0 }),
    renderPrompt: (u: string) => renderer.render(u),
    checker,
    samples: 4,
    sampling: { temperature: 0.6, top_p: 0.95, top_k: 0, max_tokens: 64 },
    seed: 42,
    batchSize: 8,
  };
  const progress: number[] = [];
  const a = await runEval([bench], { ...opts, onProgress: (p) => progress.push(p.done) });
  t.equal(a.records.length, 40 * 4);
  t.same(progress, [0, 8, 16, 24, 32, 40]);
  const s = a.summaries[0]!;
  t.equal(s.problems, 40);
  t.equal(s.samples, 4);
  t.equal(s.per_level!['2'], 1, 'level 2 always right');
  t.equal(s.per_level!['5'], 0, 'level 5 always wrong');
  // pass@1 = mean accuracy; pass@4 = mean over problems of passAtK(4, c, 4) — recomputed from the records
  const byProblem = new Map<string, number>();
  for (const r of a.records) byProblem.set(r.id, (byProblem.get(r.id) ?? 0) + (r.correct ? 1 : 0));
  const acc = a.records.filter((r) => r.correct).length / a.records.length;
  t.ok(Math.abs(s.pass_at_1 - acc) < 1e-12);
  t.ok(Math.abs(s.mean_at_k - acc) < 1e-12);
  const p2 = [...byProblem.values()].reduce((x, c) => x + passAtK(4, c, 2), 0) / 40;
  t.ok(Math.abs(s.pass_at_k['2']! - p2) < 1e-12);
  t.ok(s.pass_at_k['4']! >= s.pass_at_k['2']! && s.pass_at_k['2']! >= s.pass_at_1);
  const worked = a.records.filter((r) => r.format).length / a.records.length;
  t.ok(Math.abs(s.format_rate! - worked) < 1e-12 && worked > 0.3 && worked < 0.7);
  const r0 = a.records[0]!;
  t.equal(r0.prompt, '<|bos|>' + bench.problems[0]!.userPrompt);
  t.equal(r0.policy_version, 3);
  t.equal(r0.extracted !== null, true);
  t.equal(r0.completion_tokens, renderer.render(r0.completion).ids.length); // + eos − bos
  const b = await runEval([bench], opts);
  t.same(
    b.records.map((r) => r.correct),
    a.records.map((r) => r.correct),
    'same verdicts twice',
  );
  t.equal(b.average_pass_at_1, a.average_pass_at_1);
});

t.test('unparseable gold is excluded and reported, not counted wrong', async (t) => {
  const good = loadBenchmark('synthetic', { syntheticCount: 4 });
  const bad: LoadedBenchmark = {
    ...good,
    problems: good.problems.map((p, i) => (i === 1 ? { ...p, goldText: 'twelve' } : p)),
  };
  const checker = await createAnswerChecker(['integer']);
  const res = await runEval([bad], {
    engine: scriptedEngine({ 2: 1, 3: 1, 4: 1, 5: 1 }),
    renderPrompt: (u) => renderer.render(u),
    checker,
    samples: 1,
    sampling: { temperature: 0, top_p: 1, top_k: 0, max_tokens: 64 },
    seed: 1,
    batchSize: 3,
  });
  t.equal(res.summaries[0]!.problems, 3);
  t.equal(res.summaries[0]!.excluded, 1);
  t.equal(res.summaries[0]!.pass_at_1, 1, 'the excluded problem does not pull the score down');
  t.same(res.excluded, [{ benchmark: 'synthetic', id: good.problems[1]!.id, gold_text: 'twelve' }]);
});

t.test('outputs: eval.jsonl rows, summary.json, table', async (t) => {
  const bench = loadBenchmark('synthetic', { syntheticCount: 8 });
  const res = await runEval([bench], {
    engine: scriptedEngine({ 2: 1, 3: 1, 4: 0, 5: 0 }),
    renderPrompt: (u) => renderer.render(u),
    checker: await createAnswerChecker(['integer']),
    samples: 2,
    sampling: { temperature: 0.6, top_p: 0.95, top_k: 0, max_tokens: 64 },
    seed: 42,
    batchSize: 4,
  });
  const dir = mkdtempSync(join(tmpdir(), 'eval-out-'));
  const [jsonl, summary, table] = writeEvalOutputs(dir, res, {
    model: 'models/tiny',
    adapter: null,
    policy_version: 3,
    engine: 'scripted-test-engine',
    config: {},
  });
  const rows = readFileSync(jsonl!, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.equal(rows.length, 16);
  t.same(Object.keys(rows[0]).slice(0, 6), ['benchmark', 'id', 'index', 'sample', 'prompt', 'completion']);
  const sum = JSON.parse(readFileSync(summary!, 'utf8'));
  t.equal(sum.benchmarks[0].pass_at_1, 0.5);
  const text = readFileSync(table!, 'utf8');
  t.match(text, /synthetic\s+50\.00\s+50\.00\s+8\s+0\s+2\s+0\.00/);
  t.match(text, /average\s+50\.00/);
  t.match(formatTable(res), /synthetic: format [0-9.]+ %, per level L2 100\.00 \/ L3 100\.00 \/ L4 0\.00 \/ L5 0\.00/);
});

t.test('engine contract violations are clear errors', async (t) => {
  const bench = loadBenchmark('synthetic', { syntheticCount: 2 });
  const broken: GenerationEngine = {
    ...scriptedEngine({}),
    async generate() {
      return [];
    },
  };
  await t.rejects(
    runEval([bench], {
      engine: broken,
      renderPrompt: (u) => renderer.render(u),
      checker: await createAnswerChecker(['integer']),
      samples: 1,
      sampling: { temperature: 0, top_p: 1, top_k: 0, max_tokens: 8 },
      seed: 1,
      batchSize: 2,
    }),
    /returned 0 completions, expected 2/,
  );
});

t.test('a prompt the tokenizer cannot encode is refused, not silently altered', async (t) => {
  t.throws(() => renderer.render('What is 3 + 4?'), /cannot be tokenized without loss.*character "W"/);
});

t.test('an empty completion decodes to the empty string (tokenizers.js throws on [])', async (t) => {
  t.equal(renderer.decode([]), '');
  t.equal(renderer.decode([2]), '');
  t.equal(renderer.decode([4, 13, 5]), '1+2');
});

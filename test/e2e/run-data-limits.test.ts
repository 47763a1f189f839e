// Limits checked before work starts (issue 17, items 3 and 7), through the real CLI on the
// tiny model: over-long dataset rows are handled at load time (never mid-run), text the tokenizer
// cannot encode is refused (or counted under the switch) the same way in training, eval and generate.
// (Items 11-13, numeric limits: test/e2e/run-limits.test.ts.)
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, smallConfig, tinyModel, writeJson } from '../helpers/cli-run.js';

const work = mkdtempSync(join(tmpdir(), 'loractor-limits-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

/** Eight addition problems as a JSONL dataset the tiny model can read; `edit` may change lines (1-based). */
function additions(name: string, edit: (rows: { problem: string; solution: string }[]) => void = () => {}): string {
  const rows = Array.from({ length: 8 }, (_, i) => ({ problem: `${10 + i}+${20 + i}=`, solution: String(30 + 2 * i) }));
  edit(rows);
  const path = join(work, name);
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return path;
}

const datasetConfig = (path: string, data: Record<string, unknown> = {}) =>
  smallConfig((c) => {
    c.data = {
      source: 'dataset',
      path,
      dataset_id: 'local/additions',
      system_prompt: 'none',
      chat_template: 'model',
      ...data,
    };
    // One step of all 8 prompts (G 2, so the step holds the 16 completions of 4 prompts × G 4): every
    // row of the 8 is drawn (the sampler walks a permutation of the rows per epoch).
    c.run.max_steps = 1;
    c.grpo.prompts_per_step = 8;
    c.grpo.num_generations = 2;
  });

/**
 * A run (memoized) on 8 rows holding both an over-long row (8) and one the tokenizer cannot encode (5),
 * under unencodable_text "warn": item 3 checks its over-long row handling, item 7 its warning, so one
 * run per over-long policy serves both.
 */
const mixedRuns = new Map<string, { data: string; out: string; r: ReturnType<typeof cli> }>();
function mixedRun(policy: 'truncate' | 'skip') {
  const done = mixedRuns.get(policy);
  if (done) return done;
  const data = additions('mixed.jsonl', (rows) => {
    rows[4]!.problem = 'What is 14+24?';
    rows[7]!.problem = '1'.repeat(5000) + '+1=';
  });
  const out = join(work, `run-${policy}`);
  const config = datasetConfig(data, { overlong_prompts: policy, unencodable_text: 'warn' });
  const r = cli([`--actors=${writeJson(join(work, `c-${policy}.json`), config)}`, '--out', out]);
  const run = { data, out, r };
  mixedRuns.set(policy, run);
  return run;
}

t.test(
  '3. an over-long dataset row is handled when the data is loaded, named by file:line; the run never aborts on it',
  async (t) => {
    const data = additions('long.jsonl', (rows) => {
      rows[7]!.problem = '1'.repeat(5000) + '+1=';
    });
    const checked = cli(['check', `--actors=${writeJson(join(work, 'c3-check.json'), datasetConfig(data))}`]);
    t.equal(checked.status, 0, checked.stdout.slice(-800));
    t.match(
      checked.stdout,
      new RegExp(
        `truncated 1 row\\(s\\) longer than the prompt limit of 32 tokens .*first: ${data}:8 \\((at least )?\\d+ tokens\\)`,
      ),
      'check names the row and the count',
    );
    for (const policy of ['truncate', 'skip'] as const) {
      const { data: mixed, out, r } = mixedRun(policy);
      t.equal(r.status, 0, `${policy}: the run completes ${r.stderr.slice(-600)}`);
      t.match(
        r.stderr,
        new RegExp(
          `${policy === 'skip' ? 'skipped' : 'truncated'} 1 row\\(s\\) longer than the prompt limit .*first: ${mixed}:8`,
        ),
        `${policy}: counted and named at load`,
      );
      t.equal(
        readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').length,
        1,
        `${policy}: every step ran`,
      );
    }
    // A 10 MB row is not tokenized whole: it is cut to its tail at load time. `check` loads the data
    // as training does (the runs above show a run completes past an over-long row), without the run.
    const huge = additions('huge.jsonl', (rows) => {
      rows[3]!.problem = '7'.repeat(10_000_000) + '+1=';
    });
    const r = cli(['check', `--actors=${writeJson(join(work, 'c3-huge.json'), datasetConfig(huge))}`], {
      timeoutMs: 240_000,
    });
    t.equal(r.status, 0, r.stdout.slice(-600));
    t.match(
      r.stdout,
      new RegExp(`truncated 1 row\\(s\\) longer than the prompt limit .*first: ${huge}:4 \\(at least \\d+ tokens\\)`),
    );
  },
);

t.test(
  '7. text the tokenizer cannot encode: refused by training, eval and generate alike, or counted under the switch',
  async (t) => {
    const data = additions('letters.jsonl', (rows) => {
      rows[4]!.problem = 'What is 14+24?';
    });
    const refused = cli([
      `--actors=${writeJson(join(work, 'c7.json'), datasetConfig(data))}`,
      '--out',
      join(work, 'run7'),
    ]);
    t.equal(refused.status, 1, 'training refuses the dataset');
    t.match(
      refused.stderr,
      new RegExp(
        `${data}:5: this model's tokenizer cannot encode the rendered prompt \\(\\d+ character\\(s\\) it cannot encode, e\\.g\\. character "W"`,
      ),
    );
    t.notOk(existsSync(join(work, 'run7')), 'before creating the run folder');
    // Under the switch the run goes on and counts the row: item 3's run on the same rows plus an
    // over-long one (row 8), which is under unencodable_text "warn".
    const { data: mixed, r: warned } = mixedRun('truncate');
    t.equal(warned.status, 0, warned.stderr.slice(-600));
    t.match(
      warned.stderr,
      new RegExp(`warning: 1 row\\(s\\) hold text the tokenizer cannot encode .*first: ${mixed}:5`),
    );

    const gen = cli([
      'generate',
      '--engine',
      'builtin',
      '--model',
      tinyModel,
      '--prompt',
      'What is 1+1=',
      '--max-tokens',
      '4',
    ]);
    t.equal(gen.status, 1, 'generate refuses the prompt');
    t.match(gen.stderr, /--prompt: this model's tokenizer cannot encode the prompt .*character "W"/);
    const genWarn = cli([
      'generate',
      '--engine',
      'builtin',
      '--model',
      tinyModel,
      '--prompt',
      'What is 1+1=',
      '--max-tokens',
      '4',
      '--unencodable-text',
      'warn',
    ]);
    t.equal(genWarn.status, 0, genWarn.stderr);
    t.match(genWarn.stderr, /warning: 1 prompt\(s\) hold characters/);

    const bench = join(work, 'bench7');
    mkdirSync(join(bench, 'qwen25math'), { recursive: true });
    writeFileSync(
      join(bench, 'qwen25math', 'aime24_test.jsonl'),
      JSON.stringify({ id: 1, problem: '2+2=', answer: '4' }) + '\n',
    );
    const evalArgs = [
      'eval',
      '--model',
      tinyModel,
      '--bench',
      'aime24',
      '--benchmarks-dir',
      bench,
      '--max-new-tokens',
      '4',
    ];
    const ev = cli([...evalArgs, '--out', join(work, 'eval7')]);
    t.equal(ev.status, 1, 'eval refuses the prompt (its math template is English)');
    t.match(ev.stderr, /cannot be tokenized without loss .*character/);
    const evWarn = cli([...evalArgs, '--out', join(work, 'eval7w'), '--unencodable-text', 'warn']);
    t.equal(evWarn.status, 0, evWarn.stderr.slice(-400));
    t.match(evWarn.stderr, /warning: 1 prompt\(s\) hold characters this model's tokenizer cannot encode/);
  },
);

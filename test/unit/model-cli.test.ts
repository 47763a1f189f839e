// `loractor logprobs` end to end on real files: model dir + PEFT adapter + JSONL in/out, the
// reference flag, and a malformed line refused with its line number.
import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/cli/logprobs.js';
import { createRandomModel } from '../../src/model/weights.js';
import { saveModel } from '../../src/model/load.js';
import { defaultLoraSettings, initLoraAdapter, loraScale } from '../../src/model/lora.js';
import { saveAdapterPeft } from '../../src/model/peft.js';
import { completionLogprobs } from '../../src/model/logprobs.js';
import { Rng } from '../../src/util/rng.js';
import { tinyConfig } from '../helpers/model-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'loractor-cli-'));
const c = tinyConfig();
const model = createRandomModel(c, 8, { std: 0.3 });
saveModel(join(dir, 'model'), model);
const settings = defaultLoraSettings({ r: 2, alpha: 4 });
const ad = initLoraAdapter(c, settings, new Rng(1));
{
  const r = new Rng(2);
  for (let i = 0; i < ad.params.length; i++) ad.params[i] = 0.2 * r.normal();
}
saveAdapterPeft(join(dir, 'adapter'), ad);
const items = [
  { prompt: [1, 5, 6], completion: [7, 2] },
  { prompt: [4], completion: [3, 3, 9] },
];
writeFileSync(
  join(dir, 'in.jsonl'),
  items.map((i) => JSON.stringify({ prompt_ids: i.prompt, completion_ids: i.completion })).join('\n') + '\n\n',
);

const readOut = (f: string): { line: number; logprobs: number[]; sum: number }[] =>
  readFileSync(f, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

t.test('policy and reference log-probs through the CLI', async (t) => {
  const out = join(dir, 'out.jsonl');
  t.equal(
    await run([
      '--model',
      join(dir, 'model'),
      '--adapter',
      join(dir, 'adapter'),
      '--in',
      join(dir, 'in.jsonl'),
      '--out',
      out,
      '--temperature',
      '0.7',
    ]),
    0,
  );
  const pol = completionLogprobs(model, ad, loraScale(settings), items, { temperature: 0.7 });
  const got = readOut(out);
  t.same(
    got.map((g) => g.line),
    [1, 2],
  );
  got.forEach((g, i) => {
    t.ok(
      g.logprobs.length > 0 && g.logprobs.length === pol[i]!.length,
      `line ${g.line}: one log-prob per completion token`,
    );
    g.logprobs.forEach((v, j) => {
      t.ok(Math.abs(v - pol[i]![j]!) < 1e-6);
    });
  });
  t.equal(
    await run([
      '--model',
      join(dir, 'model'),
      '--adapter',
      join(dir, 'adapter'),
      '--in',
      join(dir, 'in.jsonl'),
      '--out',
      out,
      '--reference',
    ]),
    0,
  );
  const refLp = completionLogprobs(model, null, 0, items);
  readOut(out).forEach((g, i) => {
    t.ok(
      g.logprobs.length > 0 && g.logprobs.length === refLp[i]!.length,
      `line ${g.line}: one reference log-prob per completion token`,
    );
    g.logprobs.forEach((v, j) => {
      t.ok(Math.abs(v - refLp[i]![j]!) < 1e-6);
    });
  });
});

t.test('bad input lines are refused with the line number', async (t) => {
  const bad = join(dir, 'bad.jsonl');
  writeFileSync(bad, '{"prompt_ids":[1],"completion_ids":[2]}\n{"prompt_ids":[1],"completion_ids":[2, 99]}\n');
  const errs: string[] = [];
  const orig = console.error;
  console.error = (m: string) => {
    errs.push(m);
  };
  try {
    t.equal(await run(['--model', join(dir, 'model'), '--in', bad]), 1);
    writeFileSync(bad, '{"prompt_ids":[1],"completion_ids":[2]}\n\n{"prompt_ids":[1],');
    t.equal(await run(['--model', join(dir, 'model'), '--in', bad]), 1);
    t.equal(await run(['--in', bad]), 2);
  } finally {
    console.error = orig;
  }
  t.match(errs[0], `${bad}:2: field "completion_ids" holds 99, not a token id in [0, 23)`);
  t.match(errs[1], `${bad}:3: invalid JSON`);
  t.match(errs[2], /--model and --in are required/);
});

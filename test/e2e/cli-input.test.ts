// The remaining bad-input holes (issue 17, items 6, 8 and 14): `eval` on a benchmark file without one
// usable problem fails instead of reporting pass@1 over 0 problems, and its default max-new-tokens
// fits the model; a failed checkpoint write (a full disk: /dev/full gives a real ENOSPC) names the
// file; a `null` prompt line, invalid UTF-8 in `verify`, `eval` and `logprobs`, an unknown reward
// function and a quarantine path outside the run folder are each reported by name.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, smallConfig, tinyModel, writeJson } from '../helpers/cli-run.js';
import { sealCheckpoint, CHECKPOINT_FORMAT } from '../../src/coordinator/checkpoint.js';
import { saveAdapterPeft } from '../../src/model/peft.js';
import { initLoraAdapter } from '../../src/model/lora.js';
import { readQwen2Config } from '../../src/model/config.js';
import { Rng } from '../../src/util/rng.js';

const work = mkdtempSync(join(tmpdir(), 'loractor-input-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

/** A benchmarks folder holding only aime24's file, with `text` as its content. */
function benchDir(name: string, text: string | Buffer): string {
  const dir = join(work, name);
  mkdirSync(join(dir, 'qwen25math'), { recursive: true });
  writeFileSync(join(dir, 'qwen25math', 'aime24_test.jsonl'), text);
  return dir;
}

t.test('6. eval: no usable problem is an error; the default max-new-tokens fits the model', async (t) => {
  const args = (dir: string) => [
    'eval',
    '--model',
    tinyModel,
    '--bench',
    'aime24',
    '--benchmarks-dir',
    dir,
    '--out',
    join(work, `eval-${dir.length}-${Math.random()}`),
  ];
  const empty = cli(args(benchDir('empty', '')));
  t.equal(empty.status, 1, 'an empty file fails');
  t.match(empty.stderr, /benchmark file .*aime24_test\.jsonl: no problems \(the file is empty\)/);
  const garbage = cli(args(benchDir('garbage', 'not json\n{"problem": 3}\n[1]\n')));
  t.equal(garbage.status, 1, 'an all-garbage file fails');
  t.match(garbage.stderr, /no usable problems: all 3 non-empty line\(s\) are malformed \(first: line 1: invalid JSON/);
  const byDefault = cli([
    'eval',
    '--model',
    tinyModel,
    '--bench',
    'synthetic',
    '--limit',
    '2',
    '--out',
    join(work, 'eval-default'),
  ]);
  t.equal(byDefault.status, 0, `the tiny model evaluates with the default settings: ${byDefault.stderr.slice(-400)}`);
  t.match(
    byDefault.stderr,
    /max_new_tokens \d+ \(the model's context 128 − the longest prompt's \d+ tokens; the default 1024 does not fit/,
  );
  const tooMany = cli([
    'eval',
    '--model',
    tinyModel,
    '--bench',
    'synthetic',
    '--limit',
    '2',
    '--max-new-tokens',
    '1000',
    '--out',
    join(work, 'eval-many'),
  ]);
  t.equal(tooMany.status, 2, 'an explicit value that does not fit is a usage error');
  t.match(
    tooMany.stderr,
    /--max-new-tokens 1000: the longest prompt .* has \d+ tokens and the model's context is 128; at most \d+/,
  );
});

t.test('8. a checkpoint write on a full disk names the file', async (t) => {
  // /dev/full answers every write with ENOSPC, as a full file system does.
  const tmp = join(work, '.checkpoint-3.tmp-1');
  mkdirSync(tmp);
  writeFileSync(join(tmp, 'adapter_model.safetensors'), 'x');
  symlinkSync('/dev/full', join(tmp, 'loractor_state.json'));
  t.throws(
    () =>
      sealCheckpoint(work, tmp, {
        format: CHECKPOINT_FORMAT,
        step: 3,
        policy_version: 3,
        seed: 1,
        config_sha256: '',
        prompt_sampler: null,
        learner_dropout_rng: [1, 2, 3, 4] as never,
        evals: [],
        time: '',
      }),
    { message: new RegExp(`cannot write ${tmp}/loractor_state\\.json: no space left on device \\(ENOSPC\\)`) },
  );
  const cfg = readQwen2Config(join(tinyModel, 'config.json'));
  const adapter = initLoraAdapter(cfg, { r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj'] }, new Rng(1));
  const dir = join(work, 'adapter-full');
  mkdirSync(dir);
  symlinkSync('/dev/full', join(dir, 'adapter_model.safetensors'));
  t.throws(() => saveAdapterPeft(dir, adapter), {
    message: new RegExp(`cannot write ${dir}/adapter_model\\.safetensors: no space left on device \\(ENOSPC\\)`),
  });
});

t.test('14. smaller messages: null prompt line, invalid UTF-8, unknown reward function, quarantine path', async (t) => {
  const prompts = join(work, 'prompts.jsonl');
  writeFileSync(prompts, '{"prompt": "1+1="}\nnull\n');
  const gen = cli(['generate', '--engine', 'builtin', '--model', tinyModel, '--in', prompts, '--max-tokens', '4']);
  t.equal(gen.status, 1);
  t.match(gen.stderr, new RegExp(`${prompts}:2: expected a JSON object \\{"prompt": \\.\\.\\.\\}, got null`));
  t.notMatch(gen.stderr, /Cannot read properties/);

  const badUtf8 = Buffer.concat([
    Buffer.from('{"gold": "1", "answer": "1"}\n{"gold": "2", "answer": "'),
    Buffer.from([0xff, 0xfe]),
    Buffer.from('2"}\n'),
  ]);
  const verifyIn = join(work, 'verify.jsonl');
  writeFileSync(verifyIn, badUtf8);
  const v = cli(['verify', '--in', verifyIn]);
  t.equal(v.status, 1, 'verify reports the line as malformed');
  t.match(v.stderr, new RegExp(`${verifyIn}:2: not valid UTF-8`));
  t.notMatch(v.stdout, /\uFFFD/, 'no replacement characters in the verdicts');

  const ev = cli([
    'eval',
    '--model',
    tinyModel,
    '--bench',
    'aime24',
    '--benchmarks-dir',
    benchDir(
      'utf8',
      Buffer.concat([
        Buffer.from('{"id": 1, "problem": "1'),
        Buffer.from([0xc3, 0x28]),
        Buffer.from('+1=", "answer": "2"}\n'),
      ]),
    ),
    '--out',
    join(work, 'eval-utf8'),
    '--strict',
  ]);
  t.equal(ev.status, 1);
  t.match(ev.stderr, /aime24_test\.jsonl:1: not valid UTF-8/);

  const lpIn = join(work, 'lp.jsonl');
  writeFileSync(
    lpIn,
    Buffer.concat([
      Buffer.from(
        '{"prompt_ids": [1, 3], "completion_ids": [4]}\n{"prompt_ids": [1, 3], "completion_ids": [4], "note": "',
      ),
      Buffer.from([0xe2, 0x82]),
      Buffer.from('"}\n'),
    ]),
  );
  const lp = cli(['logprobs', '--model', tinyModel, '--in', lpIn]);
  t.equal(lp.status, 1);
  t.match(lp.stderr, new RegExp(`${lpIn}:2: not valid UTF-8`));

  const unknown = writeJson(
    join(work, 'c14-reward.json'),
    smallConfig((c) => {
      c.rewards.reward_funcs = ['acuracy', 'format'];
    }),
  );
  const chk = cli(['check', `--actors=${unknown}`]);
  t.equal(chk.status, 1);
  t.match(chk.stdout, /unknown reward function "acuracy"; the built-in ones are accuracy, accuracy_open_r1, format/);
  const train = cli([`--actors=${unknown}`, '--out', join(work, 'run14')]);
  t.equal(train.status, 2);
  t.match(
    train.stderr,
    /rewards\.reward_funcs\.0: unknown reward function "acuracy"; the built-in ones are accuracy, /,
  );

  const outside = writeJson(
    join(work, 'c14-q.json'),
    smallConfig((c) => {
      c.rewards.reward_quarantine_path = '../../x.jsonl';
    }),
  );
  const q = cli([`--actors=${outside}`, '--out', join(work, 'run14q')]);
  t.equal(q.status, 2);
  t.match(
    q.stderr,
    /reward_quarantine_path: must be a path inside the run folder, relative to it .*"\.\.\/\.\.\/x\.jsonl"/,
  );
});

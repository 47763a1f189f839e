// Numeric limits (issue 17, items 11, 12, 13), through the real CLI on the tiny model: no non-finite
// adapter is ever checkpointed or resumed from, every command checks context, --n and --seed before
// any work, and `check` refuses knobs whose memory cannot fit, naming the field (training too).
// (Items 3 and 7, dataset rows and unencodable text: test/e2e/run-data-limits.test.ts.)
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, smallConfig, tinyModel, writeJson } from '../helpers/cli-run.js';

const work = mkdtempSync(join(tmpdir(), 'loractor-limits-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

/** Rewrite checkpoint `dir`'s adapter with NaNs in place and re-seal its manifest, as a run without the finiteness check did. */
function poisonCheckpoint(dir: string): void {
  const file = join(dir, 'adapter_model.safetensors');
  const bytes = readFileSync(file);
  const headerLen = Number(bytes.readBigUInt64LE(0));
  for (let off = 8 + headerLen; off + 4 <= bytes.length; off += 4 * 97) bytes.writeFloatLE(Number.NaN, off);
  writeFileSync(file, bytes);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  for (const e of manifest.files)
    if (e.file === 'adapter_model.safetensors') {
      e.bytes = bytes.length;
      e.sha256 = createHash('sha256').update(bytes).digest('hex');
    }
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
}

function nonFinite(file: string): number {
  const bytes = readFileSync(file);
  const headerLen = Number(bytes.readBigUInt64LE(0));
  let bad = 0;
  for (let off = 8 + headerLen; off + 4 <= bytes.length; off += 4) if (!Number.isFinite(bytes.readFloatLE(off))) bad++;
  return bad;
}

t.test(
  '11. an overflowing update is skipped, no checkpoint holds NaN/Inf, resume falls back past one that does; --seed is range-checked',
  async (t) => {
    const out = join(work, 'run11');
    const config11 = writeJson(
      join(work, 'c11.json'),
      smallConfig((c) => {
        c.grpo.learning_rate = 1e300;
        c.grpo.warmup_ratio = 0;
        c.run.max_steps = 3;
      }),
    );
    const r = cli([`--actors=${config11}`, '--out', out]);
    t.match(r.stderr, /update skipped/, 'the overflowing update is skipped');
    const ckpts = readdirSync(out).filter((n) => /^checkpoint-\d+$/.test(n));
    t.ok(ckpts.length >= 1, 'checkpoints were written');
    for (const c of ckpts)
      t.equal(nonFinite(join(out, c, 'adapter_model.safetensors')), 0, `${c}: every adapter value finite`);

    // (Every update of this run is skipped, so it ends by the consecutive-skip abort; its checkpoints
    // stay.) The same run folder (checkpoints 1-3, all finite) stands in for one written before the check
    // existed: its newest checkpoint dropped and checkpoint-2 poisoned, resume falls back past it.
    rmSync(join(out, 'checkpoint-3'), { recursive: true, force: true });
    poisonCheckpoint(join(out, 'checkpoint-2'));
    const resumed = cli([`--actors=${config11}`, '--resume', out, '--max-steps', '3']);
    t.equal(resumed.status, 0, resumed.stderr.slice(-600));
    t.match(resumed.stderr, /skipped .*checkpoint-2: adapter_model\.safetensors holds [\d,]+ non-finite value/);
    t.match(resumed.stderr, /continuing from .*checkpoint-1 at step 2/);

    const config = writeJson(join(work, 'c11b.json'), smallConfig());
    const seed = cli([`--actors=${config}`, '--out', join(work, 'run11c'), '--seed', '99999999999']);
    t.equal(seed.status, 2);
    t.match(seed.stderr, /--seed: expected an integer in 0\.\.4294967295/);
    t.notOk(existsSync(join(work, 'run11c')));
    const genSeed = cli([
      'generate',
      '--engine',
      'builtin',
      '--model',
      tinyModel,
      '--prompt',
      '1+1=',
      '--seed',
      '99999999999',
    ]);
    t.equal(genSeed.status, 2);
    t.match(genSeed.stderr, /--seed must be an integer in 0\.\.4294967295/);
  },
);

t.test('12. logprobs and generate check the context and --n before any work', async (t) => {
  const input = join(work, 'long.jsonl');
  writeFileSync(
    input,
    JSON.stringify({ prompt_ids: [1, 3, 4], completion_ids: [5] }) +
      '\n' +
      JSON.stringify({ prompt_ids: Array(200).fill(4), completion_ids: Array(10).fill(5) }) +
      '\n',
  );
  const lp = cli(['logprobs', '--model', tinyModel, '--in', input]);
  t.equal(lp.status, 1);
  t.match(
    lp.stderr,
    new RegExp(`${input}:2: prompt_ids \\+ completion_ids hold 210 tokens; the model's context is 128`),
  );
  const many = cli(['generate', '--engine', 'builtin', '--model', tinyModel, '--prompt', '1+1=', '--n', '1e8'], {
    timeoutMs: 60_000,
    nodeArgs: ['--max-old-space-size=512'],
  });
  t.equal(many.status, 2, `refused at once ${many.stderr.slice(-300)}`);
  t.match(many.stderr, /--n 100000000: 100,000,000 completion\(s\) of up to 64 tokens need about [\d.]+ GiB/);
  const long = cli([
    'generate',
    '--engine',
    'builtin',
    '--model',
    tinyModel,
    '--prompt',
    '1+1=',
    '--max-tokens',
    '500',
  ]);
  t.equal(long.status, 2);
  t.match(long.stderr, /--max-tokens 500: --prompt has \d+ tokens and the model's context is 128; at most \d+/);
});

t.test('13. check refuses knobs that cannot fit, naming the field; training applies the same check', async (t) => {
  // biome-ignore lint/suspicious/noExplicitAny: each case edits the config JSON by path
  const cases: [string, (c: Record<string, any>) => void, RegExp][] = [
    [
      'lora_r',
      (c) => {
        c.lora.lora_r = 1e6;
      },
      /memory: the run needs about .* but this machine has .*: lower lora\.lora_r/,
    ],
    [
      'num_generations',
      (c) => {
        c.grpo.num_generations = 1e9;
        c.grpo.per_device_train_batch_size = 1e9;
        c.grpo.prompts_per_step = 1;
      },
      /memory: .*lower grpo\.num_generations/,
    ],
    [
      'max_completion_length',
      (c) => {
        c.grpo.max_completion_length = 1e9;
      },
      /grpo\.max_completion_length: 1000000000 leaves no room for a prompt in the model's context of 128 tokens/,
    ],
  ];
  for (const [name, edit, message] of cases) {
    const config = writeJson(join(work, `c13-${name}.json`), smallConfig(edit));
    const checked = cli(['check', `--actors=${config}`]);
    t.equal(checked.status, 1, `${name}: NOT READY`);
    t.match(checked.stdout, message, `${name}: the problem names the field`);
    const out = join(work, `run13-${name}`);
    const trained = cli([`--actors=${config}`, '--out', out], { timeoutMs: 120_000 });
    t.equal(trained.status, 2, `${name}: training refuses as a config error (exit 2, as config errors elsewhere)`);
    t.match(trained.stderr, message, `${name}: with the same message`);
    t.notOk(existsSync(out), `${name}: before creating the run folder`);
  }
  const ok = cli(['check', `--actors=${writeJson(join(work, 'c13-ok.json'), smallConfig())}`]);
  t.equal(ok.status, 0, ok.stdout.slice(-600));
  t.match(ok.stdout, /time: about .* per step/, 'check prints a time estimate');
});

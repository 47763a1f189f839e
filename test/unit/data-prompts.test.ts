// System prompts byte-exact, the REASON chat template through @huggingface/jinja, prompt truncation,
// and the repeat sampler's determinism and exact resume.
import t from 'tap';
import { createHash } from 'node:crypto';
import {
  OPEN_R1_SYSTEM_PROMPT,
  OPEN_RS_SYSTEM_PROMPT,
  REASON_CHAT_TEMPLATE,
  buildTinaPrompt,
  renderChat,
  systemPromptFor,
  truncatePromptIds,
} from '../../src/data/prompts.js';
import { createRepeatSampler } from '../../src/data/sampler.js';

t.test("system prompts are byte-exact and chosen by Tina's rule", async (tt) => {
  tt.ok(
    OPEN_R1_SYSTEM_PROMPT.startsWith('\nYou are a helpful AI Assistant') &&
      OPEN_R1_SYSTEM_PROMPT.endsWith('<answer>\n...\n</answer>\n'),
  );
  tt.ok(OPEN_RS_SYSTEM_PROMPT.includes('within \\boxed{{}} .\n'), 'doubled braces, space before the period');
  tt.ok(OPEN_RS_SYSTEM_PROMPT.includes('respectively, \ni.e., '), 'trailing space after "respectively,"');
  tt.equal(OPEN_R1_SYSTEM_PROMPT.length, 273);
  tt.equal(OPEN_RS_SYSTEM_PROMPT.length, 503);
  // sha256 of the UTF-8 bytes of the spec's literal (reference/tina-recipe.md §1.3, \n → newline)
  tt.equal(createHash('sha256').update(OPEN_RS_SYSTEM_PROMPT).digest('hex').slice(0, 16), '1b15ad1031a46dcf');
  tt.equal(createHash('sha256').update(OPEN_R1_SYSTEM_PROMPT).digest('hex').slice(0, 16), 'c07fb6f7bcc92beb');
  tt.equal(systemPromptFor('knoveleng/open-rs'), OPEN_RS_SYSTEM_PROMPT);
  tt.equal(systemPromptFor('knoveleng/open-s1'), OPEN_R1_SYSTEM_PROMPT, 'open-s1 does not contain "open-rs"');
});

t.test('REASON_CHAT_TEMPLATE renders {bos}{system}<｜User｜>{user}<｜Assistant｜>', async (tt) => {
  const out = buildTinaPrompt('What is 1+1?', OPEN_R1_SYSTEM_PROMPT);
  tt.equal(out, '<｜begin▁of▁sentence｜>' + OPEN_R1_SYSTEM_PROMPT + '<｜User｜>What is 1+1?<｜Assistant｜>');
  tt.equal(
    renderChat([{ role: 'user', content: 'hi' }], 'reason', { addGenerationPrompt: false, bosToken: '<s>' }),
    '<s><｜User｜>hi',
  );
  tt.equal(
    renderChat(
      [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
      ],
      REASON_CHAT_TEMPLATE,
      { addGenerationPrompt: false },
    ),
    '<｜begin▁of▁sentence｜><｜User｜>a<｜Assistant｜>b<｜end▁of▁sentence｜>',
  );
  tt.equal(
    renderChat([{ role: 'user', content: 'x' }], '{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}'),
    '[user:x]',
    'any template string',
  );
  tt.throws(() => renderChat([], '{% for %}'), /chat template does not parse/);
});

t.test('prompt truncation keeps the last max_prompt_length ids (TRL left truncation)', async (tt) => {
  tt.same(truncatePromptIds([1, 2, 3, 4, 5], 3), [3, 4, 5]);
  tt.same(Array.from(truncatePromptIds(Int32Array.from([1, 2, 3]), 5)), [1, 2, 3]);
  tt.same(truncatePromptIds([1, 2], null), [1, 2]);
  tt.throws(() => truncatePromptIds([1], 0), /max_prompt_length/);
});

t.test('repeat sampler: groups of G, a permutation per epoch, deterministic, exact resume', async (tt) => {
  const s = createRepeatSampler({ numSamples: 7, repeatCount: 3, seed: 42 });
  const epoch0 = s.take(21);
  for (let g = 0; g < 7; g++)
    tt.ok(epoch0[3 * g] === epoch0[3 * g + 1] && epoch0[3 * g] === epoch0[3 * g + 2], `group ${g} repeats one index`);
  const order0 = epoch0.filter((_, i) => i % 3 === 0);
  tt.same([...order0].sort(), [0, 1, 2, 3, 4, 5, 6], 'every index once per epoch');
  const epoch1 = s.take(21).filter((_, i) => i % 3 === 0);
  tt.same([...epoch1].sort(), [0, 1, 2, 3, 4, 5, 6]);
  tt.not(order0.join(), epoch1.join(), 'a new order each epoch');
  tt.same(
    createRepeatSampler({ numSamples: 7, repeatCount: 3, seed: 42 }).take(42),
    [...epoch0, ...epoch1.flatMap((i) => [i, i, i])],
    'same seed, same stream',
  );
  tt.not(
    createRepeatSampler({ numSamples: 7, repeatCount: 3, seed: 43 }).take(21).join(),
    epoch0.join(),
    'other seed, other order',
  );

  // Resume mid-epoch and across epoch boundaries.
  const ref = createRepeatSampler({ numSamples: 5, repeatCount: 2, seed: 1 }).take(60);
  for (const cut of [0, 1, 7, 10, 23, 59]) {
    const a = createRepeatSampler({ numSamples: 5, repeatCount: 2, seed: 1 });
    const head = a.take(cut);
    const state = JSON.parse(JSON.stringify(a.state()));
    const b = createRepeatSampler({ numSamples: 5, repeatCount: 2, seed: 1, state });
    tt.same([...head, ...b.take(60 - cut)], ref, `resume at ${cut} (state ${JSON.stringify(state)})`);
  }
  tt.throws(
    () => createRepeatSampler({ numSamples: 5, repeatCount: 2, seed: 1, state: { epoch: 0, position: 11 } }),
    /invalid resume state/,
  );
  tt.throws(() => createRepeatSampler({ numSamples: 0, repeatCount: 2, seed: 1 }), /numSamples/);
});

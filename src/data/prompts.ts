// System prompts and chat rendering for Tina's recipes (reference/tina-recipe.md §1.3). The prompt
// strings are byte-exact to Tina's Python literals: note the leading/trailing newlines, the space
// before "\ni.e.", and the doubled braces in \boxed{{}} (a non-f-string, so the model sees both).
import { Template } from '@huggingface/jinja';

export const OPEN_R1_SYSTEM_PROMPT =
  '\nYou are a helpful AI Assistant that provides well-reasoned and detailed responses.\nYou first think about the reasoning process as an internal monologue and then provide the user with the answer.\nRespond in the following format: <think>\n...\n</think>\n<answer>\n...\n</answer>\n';

export const OPEN_RS_SYSTEM_PROMPT =
  '\nA conversation between User and Assistant. The user asks a question, and the Assistant solves it.\nThe assistant first thinks about the reasoning process in the mind and then provides the user with the answer, and put your final answer within \\boxed{{}} .\nThe reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, \ni.e., <think> reasoning process here </think> <answer> answer here </answer>.\nNote that respond by English, NOT use other languages.\n';

export const SYSTEM_PROMPTS = { open_r1: OPEN_R1_SYSTEM_PROMPT, open_rs: OPEN_RS_SYSTEM_PROMPT } as const;
export type SystemPromptName = keyof typeof SYSTEM_PROMPTS;

/** Tina's rule: the Open-RS prompt iff the dataset id contains "open-rs" (so knoveleng/open-s1 gets OPEN_R1). */
export function systemPromptFor(datasetId: string): string {
  return datasetId.includes('open-rs') ? OPEN_RS_SYSTEM_PROMPT : OPEN_R1_SYSTEM_PROMPT;
}

export const DEEPSEEK_BOS = '<｜begin▁of▁sentence｜>';
export const DEEPSEEK_EOS = '<｜end▁of▁sentence｜>';

/**
 * Tina's REASON_CHAT_TEMPLATE: renders [system, user] with a generation prompt as
 * `{bos}{system}<｜User｜>{user}<｜Assistant｜>` — no `<think>\n` after the assistant tag.
 * (Written here to produce exactly that rendering; assistant turns end with the EOS token.)
 */
export const REASON_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] }}" +
  "{% elif message['role'] == 'user' %}{{ '<｜User｜>' + message['content'] }}" +
  "{% elif message['role'] == 'assistant' %}{{ '<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>' }}" +
  "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<｜Assistant｜>' }}{% endif %}";

export const CHAT_TEMPLATES = { reason: REASON_CHAT_TEMPLATE } as const;

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface RenderChatOptions {
  bosToken?: string;
  eosToken?: string;
  addGenerationPrompt?: boolean;
}

const compiled = new Map<string, Template>();

/** Render messages with a Jinja chat template (a template string, or a name from CHAT_TEMPLATES). */
export function renderChat(messages: readonly ChatMessage[], template: string, opts: RenderChatOptions = {}): string {
  const source = template in CHAT_TEMPLATES ? CHAT_TEMPLATES[template as keyof typeof CHAT_TEMPLATES] : template;
  let t = compiled.get(source);
  if (!t) {
    try {
      t = new Template(source);
    } catch (err) {
      throw new Error(`chat template does not parse: ${(err as Error).message}`);
    }
    compiled.set(source, t);
  }
  return t.render({
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    bos_token: opts.bosToken ?? DEEPSEEK_BOS,
    eos_token: opts.eosToken ?? DEEPSEEK_EOS,
    add_generation_prompt: opts.addGenerationPrompt ?? true,
  });
}

/** Tina's prompt: [system, user=problem], rendered with the generation prompt. */
export function buildTinaPrompt(
  problem: string,
  systemPrompt: string,
  template: string = REASON_CHAT_TEMPLATE,
  opts: RenderChatOptions = {},
): string {
  return renderChat(
    [
      { role: 'system', content: systemPrompt },
      { role: 'user', content: problem },
    ],
    template,
    opts,
  );
}

/** TRL: keep the LAST maxPromptLength prompt tokens (left truncation); null/undefined = no limit. */
export function truncatePromptIds<T extends ArrayLike<number> & { slice(start: number): T }>(
  ids: T,
  maxPromptLength: number | null | undefined,
): T {
  if (maxPromptLength === null || maxPromptLength === undefined) return ids;
  if (!Number.isInteger(maxPromptLength) || maxPromptLength < 1)
    throw new Error(`max_prompt_length must be a positive integer, got ${maxPromptLength}`);
  return ids.length > maxPromptLength ? ids.slice(ids.length - maxPromptLength) : ids;
}

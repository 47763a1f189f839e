// TRL's ModelConfig keys: the model and its LoRA adapter (use_peft, lora_*). loractor trains LoRA
// adapters only, so a full fine-tune is refused unless --as-lora, which says what the conversion changes.
import { LORA_MODULES } from '../../src/model/lora.js';
import type { ImportContext, KeyHandlers } from './context.js';
import { RecipeImportError } from './types.js';

/** The lora section a recipe starts from. */
export function startingLora(): Record<string, unknown> {
  return { lora_r: 16, lora_alpha: 32, lora_dropout: 0.05 };
}

export const MODEL_KEY_HANDLERS: KeyHandlers = {
  model_name_or_path: (ctx, _key, v) => {
    ctx.notes.push(`model ${JSON.stringify(v)}: put its Hugging Face folder at model.path`);
  },
  model_revision: (ctx, key, v) => {
    if (v !== 'main') ctx.recipe.fail(key, `only 'main' (the local folder is what is used), got ${JSON.stringify(v)}`);
    else ctx.ignored.push({ key, why: 'the local model folder is used' });
  },
  use_peft: (ctx, _key, v) => {
    ctx.usePeft = v === true;
  },
  lora_task_type: (ctx, key, v) => {
    if (v !== 'CAUSAL_LM') ctx.recipe.fail(key, `only CAUSAL_LM, got ${JSON.stringify(v)}`);
    ctx.ignored.push({ key, why: 'always CAUSAL_LM' });
  },
  lora_r: (ctx, key, v) => {
    ctx.lora.lora_r = ctx.recipe.num(key, v, true);
  },
  lora_alpha: (ctx, key, v) => {
    ctx.lora.lora_alpha = ctx.recipe.num(key, v);
  },
  lora_dropout: (ctx, key, v) => {
    ctx.lora.lora_dropout = ctx.recipe.num(key, v);
  },
  lora_target_modules: (ctx, key, v) => {
    const mods = ctx.recipe.strList(key, v);
    const bad = mods.find((m) => !(LORA_MODULES as readonly string[]).includes(m));
    if (bad) ctx.recipe.fail(key, `unknown module '${bad}' (known: ${LORA_MODULES.join(', ')})`);
    // Canonical order: the adapter layout is order-independent.
    ctx.lora.lora_target_modules = LORA_MODULES.filter((m) => mods.includes(m));
  },
};

/** A recipe without use_peft: true is refused, or with --as-lora imported as a LoRA run (noted). */
export function convertFullFineTune(ctx: ImportContext): void {
  if (ctx.usePeft) return;
  const { entries, src } = ctx.recipe;
  const usePeft = entries.has('use_peft') ? JSON.stringify(entries.get('use_peft')!.value) : 'not set';
  const what = `${src}: a full fine-tune (use_peft is ${usePeft}, so TRL trains every weight of the model)`;
  if (!ctx.opts.asLora)
    throw new RecipeImportError(
      `${what}: loractor trains LoRA adapters only. Pass --as-lora to import it as a LoRA run ` +
        "(as if use_peft: true were added: TRL/PEFT's LoRA defaults unless the recipe sets lora_*), " +
        'which prints what it changes',
      'use_peft',
    );
  const { lora } = ctx;
  const modules = lora.lora_target_modules
    ? (lora.lora_target_modules as string[]).join(', ')
    : "q_proj, v_proj (PEFT's Qwen2 default)";
  ctx.notes.push(
    `--as-lora: ${what} becomes a LoRA run: the base weights stay frozen and an adapter ` +
      `r ${String(lora.lora_r)}, alpha ${String(lora.lora_alpha)}, dropout ${String(lora.lora_dropout)} ` +
      `on ${modules} is trained; the reference policy is the base (adapter off), not a frozen copy; ` +
      `learning_rate ${String(ctx.grpo.learning_rate)} is kept as written (LoRA usually wants a larger one); ` +
      'optimizer state and checkpoints cover the adapter only',
  );
}

export function defaultLoraTargets(ctx: ImportContext): void {
  if (ctx.lora.lora_target_modules) return;
  ctx.lora.lora_target_modules = ['q_proj', 'v_proj'];
  ctx.notes.push("lora_target_modules not set: PEFT's Qwen2 default q_proj, v_proj used");
}

/** disable_dropout: true (a TRL knob) means no dropout in the adapter either. */
export function applyDisableDropout(ctx: ImportContext): void {
  if (ctx.disableDropout) ctx.lora.lora_dropout = 0;
}

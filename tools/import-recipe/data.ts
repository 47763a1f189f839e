// The data keys of a recipe: the dataset (a Tina dataset name, or an HF id as open-r1 writes it), its
// prompt column, chat template and system prompt; and Tina's per-dataset handling in grpo.py.
import { Template } from '@huggingface/jinja';
import { OPEN_R1_SYSTEM_PROMPT, OPEN_RS_SYSTEM_PROMPT } from '../../src/data/prompts.js';
import { TINA_DATASETS, TINA_L1_TARGET, tinaDataset } from '../recipe/sources.js';
import type { ImportContext, KeyHandlers } from './context.js';
import { RecipeImportError } from './types.js';

export const DATA_KEY_HANDLERS: KeyHandlers = {
  model_post_train_dataset_name: applyTinaDatasetName,
  model_post_train_dataset_config: (ctx, _key, v) => {
    ctx.datasetConfig = String(v);
  },
  trace_free: (ctx, key) => {
    ctx.ignored.push({ key, why: "Tina's SFT option (post_train_sft); GRPO does not read it" });
  },
  dataset_prompt_column: (ctx, _key, v) => {
    ctx.data.prompt_column = String(v);
  },
  dataset_test_split: (ctx, key) => {
    ctx.ignored.push({ key, why: 'HF in-training evaluation is not used (eval section)' });
  },
  chat_template: (ctx, key, v) => {
    if (typeof v !== 'string' || v.trim() === '') ctx.recipe.fail(key, 'expected a Jinja template string');
    try {
      new Template(v as string);
    } catch (err) {
      ctx.recipe.fail(key, `the Jinja template does not parse: ${(err as Error).message}`);
    }
    ctx.data.chat_template_jinja = v;
  },
  dataset_name: (ctx, _key, v) => {
    ctx.datasetId = String(v);
  },
  dataset_config: (ctx, _key, v) => {
    ctx.datasetConfig = String(v);
  },
  dataset_train_split: (ctx, key, v) => {
    if (v !== 'train')
      ctx.recipe.fail(
        key,
        `only the train split is supported (data.path may point at any file), got ${JSON.stringify(v)}`,
      );
  },
  system_prompt: (ctx, key, v) => {
    if (typeof v !== 'string') ctx.recipe.fail(key, `expected a string, got ${JSON.stringify(v)}`);
    if (v === OPEN_R1_SYSTEM_PROMPT) ctx.systemPrompt = 'open_r1';
    else if (v === OPEN_RS_SYSTEM_PROMPT) ctx.systemPrompt = 'open_rs';
    else ctx.data.system_prompt_text = v;
  },
};

function applyTinaDatasetName(ctx: ImportContext, key: string, v: unknown): void {
  const found = tinaDataset(String(v));
  if (!found)
    ctx.recipe.fail(
      key,
      `unknown Tina dataset name ${JSON.stringify(v)} ` +
        `(known: ${Object.keys(TINA_DATASETS).join(', ')} and their *_ablation variants)`,
    );
  ctx.tinaName = String(v).replace(/^curated_/, '');
  ctx.datasetId = found!.dataset.id;
  ctx.datasetConfig ??= found!.dataset.config ?? null;
  if (found!.dataset.note)
    ctx.notes.push(`${ctx.recipe.at(key)}: ${JSON.stringify(v)} -> ${ctx.datasetId}: ${found!.dataset.note}`);
}

/** The dataset id; a recipe without one is refused. */
export function requireDataset(ctx: ImportContext): string {
  if (ctx.datasetId === null)
    throw new RecipeImportError(
      `${ctx.recipe.src}: no dataset (model_post_train_dataset_name or dataset_name)`,
      'dataset_name',
    );
  return ctx.datasetId;
}

/** What the dataset's source implies for the data section: Tina's per-name handling, open-r1's template. */
export function applyDatasetDefaults(ctx: ImportContext, datasetId: string): void {
  if (ctx.tinaName !== null) Object.assign(ctx.data, tinaDataOptions(ctx.tinaName, datasetId, ctx.notes));
  // open-r1 renders with the tokenizer's own template.
  if (ctx.family === 'open-r1' && ctx.data.chat_template_jinja === undefined) ctx.data.chat_template = 'model';
}

/** A recipe that names no known system prompt gets Tina's rule, made explicit. */
export function resolveSystemPrompt(ctx: ImportContext, datasetId: string): 'open_r1' | 'open_rs' {
  if (ctx.systemPrompt === 'auto') ctx.systemPrompt = datasetId.includes('open-rs') ? 'open_rs' : 'open_r1';
  return ctx.systemPrompt;
}

/**
 * Tina's data handling by dataset name (tina/post_train_hf/grpo.py): "deepscaler" in the name grades
 * against $answer$, "2thought" maps II-Thought's messages/verification_info, "l1" samples a target
 * length per row. loractor's default mapping keys DeepScaleR on the dataset id instead, so the L1
 * recipes (DeepScaleR rows, no "deepscaler" in the name) name the plain mapping explicitly.
 */
function tinaDataOptions(name: string, datasetId: string, notes: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (name.includes('2thought')) out.column_mapping = 'ii_thought';
  else if (!name.includes('deepscaler') && datasetId.toLowerCase().includes('deepscaler')) {
    out.column_mapping = 'tina';
    notes.push(
      `'${name}' reads DeepScaleR rows without Tina's deepscaler step: the gold is the worked solution column, ` +
        `as Tina's grpo.py does for a name without "deepscaler"`,
    );
  }
  if (name.includes('l1')) {
    out.l1_target_length = { ...TINA_L1_TARGET };
    notes.push(
      `'${name}': each row gets a target length in [${TINA_L1_TARGET.min}, ${TINA_L1_TARGET.max}] ` +
        '(Tina: random.randint), asked for in the system prompt ("Think for N tokens.") and given to the L1 rewards',
    );
  }
  return out;
}

// The loractor config an import produces: the sections built from the recipe, the paths (relative to
// the folder the config is saved in), Tina's evaluation, and a check of every section against its own
// schema so a bad value is reported now, by field, not when the run starts.
import { basename, join, relative, sep } from 'node:path';
import {
  dataSectionSchema,
  loraSectionSchema,
  modelSectionSchema,
  parseSection,
} from '../../src/coordinator/config.js';
import { parseRewardsConfig } from '../../src/rewards/config.js';
import { crossValidateGrpoConfig, grpoConfigSchema } from '../../src/rl/config.js';
import { repoRoot } from '../../src/util/paths.js';
import type { ImportContext } from './context.js';
import { RecipeImportError } from './types.js';

/** Where the config's model, data and run paths point. */
interface ConfigPaths {
  model: string;
  data: string;
  outDir: string;
  /** Turns a path inside this package into one relative to the config's folder. */
  inPackage: (p: string) => string;
}

export function buildConfig(
  ctx: ImportContext,
  datasetId: string,
  systemPrompt: 'open_r1' | 'open_rs',
): Record<string, unknown> {
  const { src } = ctx.recipe;
  const hubId = String(ctx.recipe.entries.get('model_name_or_path')?.value ?? '');
  const paths = configPaths(ctx, datasetId, hubId);
  const ignored = ctx.ignored.map((i) => i.key).join(', ') || 'none';
  return {
    $schema: '../loractor.schema.json',
    description:
      `Imported from ${basename(src)} by tools/import-recipe. ${ctx.notes.join('. ')}. ` +
      `Ignored (infrastructure): ${ignored}.`,
    run: { out_dir: paths.outDir, seed: ctx.grpo.seed, checkpoint_every: ctx.saveSteps },
    // The hub id goes into every checkpoint's adapter_config.json (base_model_name_or_path) and model card.
    model: { path: paths.model, ...(/^[\w.-]+\/[\w.-]+$/.test(hubId) ? { hub_id: hubId } : {}), engine: 'builtin' },
    lora: { ...ctx.lora },
    data: {
      source: 'dataset',
      path: paths.data,
      dataset_id: datasetId,
      system_prompt: systemPrompt,
      ...ctx.data,
    },
    grpo: ctx.grpo,
    rewards: ctx.rewards,
    eval: tinaEval(paths.inPackage),
    actors: {},
  };
}

/** The options' paths as given; else this package's models/, data/ and runs/tina/, relative to the config. */
function configPaths(ctx: ImportContext, datasetId: string, hubId: string): ConfigPaths {
  const { opts } = ctx;
  const inPackage = (p: string): string =>
    relative(opts.configDir ?? join(repoRoot(), 'configs', 'tina'), join(repoRoot(), p))
      .split(sep)
      .join('/');
  const { datasetConfig } = ctx;
  const subset = datasetConfig && datasetConfig !== 'default' ? '/' + datasetConfig : '';
  const runName = (ctx.tinaName ?? basename(ctx.recipe.src).replace(/\.ya?ml$/, '')).replace(/_/g, '-');
  return {
    model: opts.modelPath ?? inPackage(`models/${basename(hubId || 'model')}`),
    data: opts.dataPath ?? inPackage('data/' + datasetId.replace(/\//g, '-') + subset),
    outDir: opts.outDir ?? inPackage(`runs/tina/${runName}`),
    inPackage,
  };
}

/** Tina's evaluation (tina-recipe.md §0.7, §2.4): offline on chosen checkpoints; gpqa from a user file. */
function tinaEval(inPackage: (p: string) => string): Record<string, unknown> {
  return {
    benchmarks: ['aime24', 'aime25', 'amc23', 'math500', 'minerva', 'gpqa'],
    benchmark_paths: { gpqa: inPackage('data/gpqa_diamond.jsonl') },
    num_samples: 1,
    temperature: 0.6,
    top_p: 0.95,
    max_new_tokens: 32768,
    seed: 42,
    eval_steps: 0,
    eval_before_training: false,
  };
}

/** Run the produced sections through their own schemas, so a bad value is reported now, by field. */
export function validateImported(c: Record<string, unknown>, src: string): void {
  try {
    parseSection(modelSectionSchema, c.model, 'model');
    parseSection(loraSectionSchema, c.lora, 'lora');
    parseSection(dataSectionSchema, c.data, 'data');
    parseRewardsConfig(c.rewards);
  } catch (err) {
    throw new RecipeImportError(`${src}: the imported config is invalid: ${(err as Error).message}`, '');
  }
  const r = grpoConfigSchema.safeParse(c.grpo);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new RecipeImportError(
      `${src}: the imported config is invalid: grpo.${issue.path.join('.')}: ${issue.message}`,
      String(issue.path[0] ?? ''),
    );
  }
  const { issues } = crossValidateGrpoConfig(r.data, r.data.max_steps === -1 ? 1 : undefined);
  if (issues.length)
    throw new RecipeImportError(
      `${src}: the imported config is invalid: grpo.${issues[0]!.field}: ${issues[0]!.message}`,
      issues[0]!.field,
    );
}

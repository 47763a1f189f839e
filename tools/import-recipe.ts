// tools/import-recipe: turn a Tina / open-r1 GRPO YAML recipe (TRL GRPOConfig + ModelConfig + PEFT
// keys, plus Tina's rl_post_train_* / model_post_train_* keys) into a loractor config.
//
//   node dist/tools/import-recipe.js RECIPE.yaml [--out config.json] [--tina-launch] [--cosine-max-len N]
//        [--num-processes N] [--stop-at-step N] [--as-tina-ran] [--as-lora] [--trl-version X.Y.Z]
//        [--model-path DIR] [--data-path DIR] [--out-dir DIR] [--rewards tina|open-r1]
//
// Paths inside a config resolve against the config file's folder, so the default model, data and run
// paths are written relative to where --out puts the config (the cwd without --out), pointing into this
// package's models/, data/ and runs/tina/; --model-path, --data-path and --out-dir are written as given.
//
// Every key is either mapped, listed as "ignored (infrastructure)" with the reason (printed), or
// refused with an error naming the key and its line: nothing is silently dropped. That is the point:
// TRL 0.15.2 silently dropped Tina's `scale_reward` typo, which turned its Dr.GRPO ablation into a
// plain GRPO run (shared/reference/tina-recipe.md §0.2). Keys a recipe leaves out get the defaults
// of the TRL version its project pins (tools/recipe/trl-defaults.ts). A reward that runs generated
// code is refused with the reason; a full fine-tune is refused unless --as-lora, which says what it
// changes.
//
// Each recipe section has its module in tools/import-recipe/ (trl, model, data, grpo, rewards, infra;
// keys.ts picks the one a key belongs to, config.ts assembles and validates the output). This file
// runs them in order, and holds the CLI.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isMainScript, scriptArgs } from '../src/cli/standard-flags.js';
import { buildConfig, validateImported } from './import-recipe/config.js';
import type { ImportContext, RewardFamily } from './import-recipe/context.js';
import { applyDatasetDefaults, requireDataset, resolveSystemPrompt } from './import-recipe/data.js';
import { applyStopAtStep, foldProcessesIntoBatch } from './import-recipe/grpo.js';
import { checkpointAtEndForEpochs } from './import-recipe/infra.js';
import { applyRecipeKey } from './import-recipe/keys.js';
import { applyDisableDropout, convertFullFineTune, defaultLoraTargets, startingLora } from './import-recipe/model.js';
import { type RecipeReader, readRecipe } from './import-recipe/reader.js';
import { applyLaunchCosine, refuseUnrunnableRewards, requireRewardFuncs } from './import-recipe/rewards.js';
import { startingGrpo } from './import-recipe/trl.js';
import type { ImportOptions, ImportResult } from './import-recipe/types.js';

export { RecipeImportError, type ImportOptions, type ImportResult } from './import-recipe/types.js';

/** Converts one recipe (YAML text); throws RecipeImportError naming the key for anything it cannot map. */
export function importRecipe(yamlText: string, opts: ImportOptions = {}): ImportResult {
  const recipe = readRecipe(yamlText, opts.source ?? 'recipe');
  const family = opts.rewards ?? (recipe.entries.has('rl_post_train_reward_funcs') ? 'tina' : 'open-r1');
  // Rewards first: a recipe whose rewards loractor cannot run is refused for that reason, whatever else it holds.
  refuseUnrunnableRewards(recipe);
  const ctx = startImport(recipe, opts, family);
  for (const [key, { value, comment }] of recipe.entries) applyRecipeKey(ctx, key, value, comment);
  const { datasetId, systemPrompt } = completeSections(ctx);
  const config = buildConfig(ctx, datasetId, systemPrompt);
  validateImported(config, recipe.src);
  return { config, ignored: ctx.ignored, notes: ctx.notes };
}

/** The context before any key is read: TRL's and PEFT's defaults, nothing else set. */
function startImport(recipe: RecipeReader, opts: ImportOptions, family: RewardFamily): ImportContext {
  const notes: string[] = [];
  const grpo = startingGrpo(recipe, opts, family, notes);
  return {
    recipe,
    opts,
    family,
    notes,
    ignored: [],
    grpo,
    lora: startingLora(),
    rewards: {},
    data: {},
    tinaName: null,
    datasetId: null,
    datasetConfig: null,
    systemPrompt: 'auto',
    rewardFuncs: null,
    saveSteps: 500,
    gradAccum: 1,
    usePeft: false,
    stepsPerGeneration: null,
    disableDropout: false,
  };
}

/**
 * What can be decided only once every key is read. The order is the order of the notes (and of the
 * refusals: no rewards, then no dataset, then a full fine-tune).
 */
function completeSections(ctx: ImportContext): { datasetId: string; systemPrompt: 'open_r1' | 'open_rs' } {
  const rewardFuncs = requireRewardFuncs(ctx);
  const datasetId = requireDataset(ctx);
  convertFullFineTune(ctx);
  checkpointAtEndForEpochs(ctx);
  defaultLoraTargets(ctx);
  ctx.rewards.reward_funcs = rewardFuncs;
  applyDatasetDefaults(ctx, datasetId);
  foldProcessesIntoBatch(ctx);
  applyDisableDropout(ctx);
  applyStopAtStep(ctx);
  applyLaunchCosine(ctx);
  return { datasetId, systemPrompt: resolveSystemPrompt(ctx, datasetId) };
}

const USAGE =
  'usage: node dist/tools/import-recipe.js RECIPE.yaml [--out config.json] [--tina-launch] [--cosine-max-len N] ' +
  '[--num-processes N]\n' +
  '       [--stop-at-step N] [--as-tina-ran] [--as-lora] [--trl-version X.Y.Z] [--model-path DIR] [--data-path DIR] ' +
  '[--out-dir DIR] [--rewards tina|open-r1]\n' +
  '\n' +
  'Converts a Tina / open-r1 GRPO recipe (YAML) into a loractor run config (JSON on stdout, or --out),\n' +
  'naming every key it maps, keeps or ignores.';

type CliValues = Record<string, string | boolean | undefined>;

/** CLI entry; returns the exit code (0 ok, 1 refused, 2 usage). */
export function runImportRecipe(argv: string[]): number {
  const cli = parseCli(argv);
  if (!cli) return 2;
  try {
    const text = readFileSync(cli.file, 'utf8');
    const res = importRecipe(text, cliImportOptions(cli.file, cli.values));
    writeResult(res, cli.values.out);
    return 0;
  } catch (err) {
    console.error(`import-recipe: ${(err as Error).message}`);
    return 1;
  }
}

/** The flags and the one recipe file; null (after saying why) on a usage error. */
function parseCli(argv: string[]): { values: CliValues; file: string } | null {
  let values: CliValues;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        out: { type: 'string' },
        'tina-launch': { type: 'boolean' },
        'cosine-max-len': { type: 'string' },
        'num-processes': { type: 'string' },
        'stop-at-step': { type: 'string' },
        'as-tina-ran': { type: 'boolean' },
        'model-path': { type: 'string' },
        'data-path': { type: 'string' },
        'out-dir': { type: 'string' },
        rewards: { type: 'string' },
        'trl-version': { type: 'string' },
        'as-lora': { type: 'boolean' },
      },
    }));
  } catch (err) {
    console.error(`import-recipe: ${(err as Error).message} (see import-recipe --help)`);
    return null;
  }
  if (positionals.length !== 1) {
    console.error(`import-recipe: expected one RECIPE.yaml, got ${positionals.length} (see import-recipe --help)`);
    return null;
  }
  if (values.rewards !== undefined && values.rewards !== 'tina' && values.rewards !== 'open-r1') {
    console.error(`import-recipe: --rewards: expected tina or open-r1, got '${String(values.rewards)}'`);
    return null;
  }
  return { values, file: positionals[0]! };
}

/** An integer flag's value; a value that is not a positive integer is refused (exit 1, as a bad recipe). */
function intFlag(values: CliValues, name: string): number | undefined {
  const s = values[name];
  if (s === undefined) return undefined;
  if (typeof s !== 'string' || !/^\d+$/.test(s))
    throw new Error(`--${name}: expected a positive integer, got '${String(s)}'`);
  return Number(s);
}

function cliImportOptions(file: string, values: CliValues): ImportOptions {
  const stop = intFlag(values, 'stop-at-step');
  return {
    source: file,
    tinaLaunch: values['tina-launch'] === true,
    asTinaRan: values['as-tina-ran'] === true,
    cosineMaxLen: intFlag(values, 'cosine-max-len'),
    numProcesses: intFlag(values, 'num-processes'),
    ...(stop !== undefined ? { stopAtStep: stop } : {}),
    modelPath: values['model-path'] as string | undefined,
    dataPath: values['data-path'] as string | undefined,
    outDir: values['out-dir'] as string | undefined,
    rewards: values.rewards as 'tina' | 'open-r1' | undefined,
    // Default paths are written relative to the folder the config lands in.
    configDir: typeof values.out === 'string' ? dirname(resolve(values.out)) : process.cwd(),
    ...(typeof values['trl-version'] === 'string' ? { trlVersion: values['trl-version'] } : {}),
    asLora: values['as-lora'] === true,
  };
}

/** Notes and ignored keys on stderr; the config to --out, or stdout. */
function writeResult(res: ImportResult, out: string | boolean | undefined): void {
  const json = JSON.stringify(res.config, null, 2) + '\n';
  for (const n of res.notes) console.error(`import-recipe: ${n}`);
  console.error(
    `import-recipe: ignored (infrastructure): ${res.ignored.map((i) => `${i.key} (${i.why})`).join('; ') || 'none'}`,
  );
  if (typeof out === 'string') {
    writeFileSync(out, json);
    console.error(`import-recipe: wrote ${out}`);
  } else process.stdout.write(json);
}

if (isMainScript(import.meta.url))
  process.exitCode = runImportRecipe(scriptArgs({ name: 'import-recipe', help: USAGE }));

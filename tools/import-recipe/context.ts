// What the section modules share while a recipe is imported: the recipe, the options, the sections
// being built and the values the recipe's keys set that the output is derived from only once every
// key has been read (the batch needs gradient_accumulation_steps and the process count, etc.).
import type { RecipeReader } from './reader.js';
import type { ImportOptions, ImportResult } from './types.js';

/** Whose reward functions the recipe's names mean. */
export type RewardFamily = 'tina' | 'open-r1';

export interface ImportContext {
  recipe: RecipeReader;
  opts: ImportOptions;
  family: RewardFamily;
  notes: string[];
  ignored: ImportResult['ignored'];
  // The output sections, filled key by key.
  grpo: Record<string, unknown>;
  lora: Record<string, unknown>;
  rewards: Record<string, unknown>;
  data: Record<string, unknown>;
  /** The Tina dataset name without "curated_" (also names the run and picks the launch overrides). */
  tinaName: string | null;
  datasetId: string | null;
  datasetConfig: string | null;
  systemPrompt: 'open_r1' | 'open_rs' | 'auto';
  rewardFuncs: string[] | null;
  /** run.checkpoint_every. */
  saveSteps: number;
  /** gradient_accumulation_steps as written (per process). */
  gradAccum: number;
  usePeft: boolean;
  /** steps_per_generation as written (per process). */
  stepsPerGeneration: number | null;
  disableDropout: boolean;
}

/** Maps one recipe key (value and trailing comment) into the context, or refuses it. */
export type KeyHandler = (ctx: ImportContext, key: string, v: unknown, comment: string) => void;
export type KeyHandlers = Readonly<Record<string, KeyHandler>>;

// The public types of tools/import-recipe (re-exported by tools/import-recipe.ts). They live apart from
// the entry so the section modules can throw RecipeImportError without importing the entry (a cycle).

export class RecipeImportError extends Error {
  override name = 'RecipeImportError';
  constructor(
    message: string,
    readonly key: string,
  ) {
    super(message);
  }
}

export interface ImportOptions {
  /** Name of the recipe in messages (file name). */
  source?: string;
  /**
   * Apply Tina's launch-script overrides (scripts/train/*.sh): --cosine_max_len 3584 for open_rs3,
   * open_rs3_drgrpo_ablation, open_r1, thoughts and the long-completion ablation.
   */
  tinaLaunch?: boolean;
  /** Explicit cosine_max_len (as a launch-script --cosine_max_len would give). */
  cosineMaxLen?: number;
  /**
   * Processes (GPUs) the recipe was launched on; folded into gradient_accumulation_steps. Default 2
   * (Tina's scripts), 7 (open-r1's README).
   */
  numProcesses?: number;
  /**
   * TRL version whose defaults fill the keys the recipe leaves out. Default: the project's pin (Tina
   * 0.15.2, open-r1 0.18.0).
   */
  trlVersion?: string;
  /**
   * Import a full fine-tune as a LoRA run (as if use_peft: true were added), listing what changed.
   * Default: refuse it.
   */
  asLora?: boolean;
  /** Manual stop step; default: parsed from a "stop at N" comment on max_steps, else none. */
  stopAtStep?: number | null;
  /** Reproduce TRL 0.15.2: drop the `scale_reward` typo (with a warning) instead of refusing it. */
  asTinaRan?: boolean;
  modelPath?: string;
  dataPath?: string;
  outDir?: string;
  /**
   * The folder the config will be saved in: the default model, data and run paths are written relative
   * to it (paths in a config resolve against its own folder) and point into this package (models/,
   * data/, runs/tina/). Default: configs/tina.
   */
  configDir?: string;
  /**
   * Which reward-function family the recipe's names mean. Default: 'tina' when
   * rl_post_train_reward_funcs is used, else 'open-r1'.
   */
  rewards?: 'tina' | 'open-r1';
}

export interface ImportResult {
  config: Record<string, unknown>;
  /** Keys accepted but not used, with the reason. */
  ignored: { key: string; why: string }[];
  /** Things the user should know (quirks reproduced, defaults filled in). */
  notes: string[];
}

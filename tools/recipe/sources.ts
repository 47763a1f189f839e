// What tools/import-recipe knows about the two recipe sources: Tina's dataset names and launch
// scripts (shangshang-wang/Tina @c6274cd: tina/utils/constant.py, scripts/train/*.sh, scripts/set/
// set_env.sh) and open-r1's reward functions and launch (huggingface/open-r1 @1416fa0:
// src/open_r1/rewards.py, setup.py, README.md).

export interface TinaDataset {
  id: string;
  config?: string;
  /** Why the name is not in Tina's RL_POST_TRAIN_CONFIG_MAP at HEAD (commented out there). */
  note?: string;
}

/** Tina's dataset names → HF id. Ablation names extend a base with "_…". */
export const TINA_DATASETS: Record<string, TinaDataset> = {
  open_rs1: { id: 'knoveleng/open-s1' },
  open_rs2: { id: 'knoveleng/open-rs' },
  open_rs3: { id: 'knoveleng/open-rs' },
  still: { id: 'RUC-AIBOX/STILL-3-Preview-RL-Data' },
  deepscaler: { id: 'agentica-org/DeepScaleR-Preview-Dataset' },
  '2thought': { id: 'Intelligent-Internet/II-Thought-RL-v0-Math-50K' },
  limr: { id: 'GAIR/LIMR' },
  open_r1: { id: 'open-r1/OpenR1-Math-220k', config: 'default' },
  thoughts: { id: 'bethgelab/CuratedThoughts', config: 'OpenThoughts-114k-math-default' },
  openthoughts3: { id: 'open-thoughts/OpenThoughts3-1.2M' },
  fastcurl: {
    id: 'Nickyang/FastCuRL',
    note: "Tina's constant.py at HEAD has this entry commented out (its own grpo.py would stop with a KeyError); the commented id is used",
  },
  l1_exact: {
    id: 'agentica-org/DeepScaleR-Preview-Dataset',
    note: "Tina's constant.py at HEAD has this entry commented out (its own grpo.py would stop with a KeyError); the commented id is used",
  },
  l1_max: {
    id: 'agentica-org/DeepScaleR-Preview-Dataset',
    note: "Tina's constant.py at HEAD has this entry commented out (its own grpo.py would stop with a KeyError); the commented id is used",
  },
};

/** The Tina dataset entry a recipe name refers to (exact, or a base name plus "_ablation" etc.). */
export function tinaDataset(name: string): { base: string; dataset: TinaDataset } | null {
  const bare = name.replace(/^curated_/, '');
  const base = Object.keys(TINA_DATASETS)
    .sort((a, b) => b.length - a.length)
    .find((b) => bare === b || bare.startsWith(b + '_'));
  return base ? { base, dataset: TINA_DATASETS[base]! } : null;
}

/**
 * Tina's launch scripts: scripts/train/post_train_model_grpo.sh runs 2 processes and passes
 * --cosine_max_len 3584 for thoughts, open_r1, open_rs3 and open_rs3_drgrpo_ablation;
 * post_train_model_grpo_long_completion.sh runs 2 GRPO processes (3 GPUs, one for vLLM) and always
 * passes --cosine_max_len 3584.
 */
export const TINA_LAUNCH_COSINE_3584 = new Set([
  'open_rs3',
  'open_rs3_drgrpo_ablation',
  'open_r1',
  'thoughts',
  'open_rs3_long_completion_ablation',
]);
export const TINA_PROCESSES = 2;
/** Tina's training environment pins trl==0.15.2 (scripts/set/set_env.sh). */
export const TINA_TRL = '0.15.2';
/** Tina's grpo.py: a dataset name containing "l1" gets a target length from random.randint(100, 4000) per row. */
export const TINA_L1_TARGET = { min: 100, max: 4000 };

/** open-r1 @1416fa0 pins trl[vllm]==0.18.0 (setup.py); its README launches GRPO on 7 processes (+1 vLLM GPU). */
export const OPEN_R1_TRL = '0.18.0';
export const OPEN_R1_PROCESSES = 7;

/**
 * open-r1's reward names (src/open_r1/rewards.py REWARD_FUNCS_REGISTRY at HEAD) → loractor's
 * functions with the same definition: accuracy as open-r1 ≥ 4f5b21e (= Tina's), format with the
 * newline regex of 566cfd1, tag_count with four 0.25 terms.
 */
export const OPEN_R1_REWARDS: Record<string, string> = {
  accuracy: 'accuracy',
  format: 'format_566cfd1',
  tag_count: 'tag_count_open_r1',
  reasoning_steps: 'reasoning_steps',
  cosine: 'cosine',
  repetition_penalty: 'repetition_penalty',
  length: 'length',
};

/** Rewards refused, with the reason (each open-r1 name not in OPEN_R1_REWARDS). */
export const REFUSED_REWARDS: Record<string, string> = {
  code: 'runs the generated code against test cases, which needs a sandbox (open-r1 uses E2B, Morph or a Piston server); loractor does not run untrusted code',
  binary_code:
    'runs the generated code against test cases, which needs a sandbox (E2B/Morph/Piston); loractor does not run untrusted code',
  ioi_code:
    'compiles and runs the generated C++ on IOI test cases, which needs a Piston sandbox; loractor does not run untrusted code',
  cf_code:
    'compiles and runs the generated code on Codeforces test cases, which needs a Piston sandbox; loractor does not run untrusted code',
  code_format:
    "checks a fenced code block for open-r1's code recipes; loractor has no code rewards to pair it with and does not implement it",
  soft_overlong_punishment:
    'needs the completion token ids and a soft-punish cache (DAPO overlong shaping); not implemented in loractor',
};

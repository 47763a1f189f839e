// Config sections the coordinator owns: `model` (which weights, which engine), `lora` (PEFT
// LoraConfig knobs with TRL/PEFT names) and `data` (where prompts come from). Strict: an unknown key
// is an error naming it.
import { z } from 'zod';
import { LORA_MODULES } from '../model/lora.js';
import { ConfigFieldError } from '../config/field-error.js';

export const modelSectionSchema = z
  .object({
    path: z
      .string()
      .min(1)
      .describe(
        "Hugging Face model folder (config.json, model.safetensors, tokenizer.json, tokenizer_config.json); a relative path resolves against the config file's folder. TRL model_name_or_path. Required.",
      ),
    hub_id: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Hugging Face hub id of the base model (e.g. 'deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B'), written as base_model_name_or_path in every adapter_config.json and model card so PEFT/vLLM find the base. Default: the model folder's absolute path.",
      ),
    engine: z
      .enum(['builtin', 'webgpu', 'webllm'])
      .default('builtin')
      .describe(
        "Rollout engine: 'builtin' (CPU, batched, exact log-probs), 'webgpu' (batched on the GPU with loractor's WGSL kernels: continuous batching, paged KV cache, LoRA unmerged from resident adapter versions, sampling on the GPU) or 'webllm' (WebGPU, one sequence at a time; needs mlc_dir and mlc_lib). Default 'builtin'.",
      ),
    mlc_dir: z
      .string()
      .optional()
      .describe(
        "MLC artifacts folder for the webllm engine (tools/convert-to-mlc writes it); relative to the config file's folder. No default.",
      ),
    mlc_lib: z
      .string()
      .optional()
      .describe(
        "Compiled WebLLM model library (.wasm) for the webllm engine; relative to the config file's folder. No default.",
      ),
    rollout_max_batch: z
      .number()
      .int()
      .positive()
      .default(128)
      .describe(
        'Most sequences the builtin or webgpu engine decodes together (webgpu: slots of its continuous batch). Default 128.',
      ),
    rollout_weight_dtype: z
      .enum(['f16', 'f32'])
      .default('f16')
      .describe(
        "webgpu engine: storage of the base matrices on the GPU; the KV cache takes the same dtype. f16 halves memory and bandwidth (f32 accumulation); f32 reproduces the builtin engine's greedy completions exactly. Default 'f16'.",
      ),
    rollout_actors: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(1)
      .describe(
        "Rollout actors side by side (each its own thread and engine, roles rollout-0…); each step's prompts are split evenly across them, with sampling streams keyed by prompt so the completions do not depend on the split. Default 1.",
      ),
  })
  .strict();

export const loraSectionSchema = z
  .object({
    lora_r: z.number().int().positive().default(32).describe('LoRA rank r (PEFT r). Default 32 (Tina).'),
    lora_alpha: z
      .number()
      .positive()
      .default(128)
      .describe('LoRA alpha; the update is scaled by alpha / r. Default 128 (Tina: scale 4).'),
    lora_dropout: z
      .number()
      .min(0)
      .lt(1)
      .default(0.05)
      .describe('Dropout on the LoRA input during training (seeded). Default 0.05 (Tina).'),
    lora_target_modules: z
      .array(z.enum(LORA_MODULES))
      .min(1)
      .default([...LORA_MODULES])
      .describe(
        'Projections that get an adapter. Default all seven: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj (Tina).',
      ),
  })
  .strict();

const taskSource = z
  .object({
    source: z.literal('task').describe('Prompts from a synthetic task family in src/data/tasks (train split).'),
    task: z
      .string()
      .default('addition')
      .describe("Task family. Default 'addition' (L-digit + L-digit with worked carries)."),
    levels: z
      .array(z.number().int().positive())
      .optional()
      .describe("Difficulty levels to draw from. Default: the family's default levels (2..5 for addition)."),
  })
  .strict();

const datasetSource = z
  .object({
    source: z
      .literal('dataset')
      .describe('Prompts from a JSONL/Parquet file or Hugging Face dataset folder, Tina column mapping.'),
    path: z
      .string()
      .min(1)
      .describe("File or dataset folder; a relative path resolves against the config file's folder. Required."),
    dataset_id: z
      .string()
      .optional()
      .describe(
        "Hugging Face id of the dataset (selects Tina's system prompt and the DeepScaleR mapping). Default: the folder name.",
      ),
    system_prompt: z
      .enum(['open_r1', 'open_rs', 'none', 'auto'])
      .default('auto')
      .describe(
        "System prompt: 'auto' = Tina's rule (OPEN_RS if the dataset id contains 'open-rs', else OPEN_R1). Default 'auto'.",
      ),
    chat_template: z
      .enum(['reason', 'model'])
      .default('reason')
      .describe(
        "'reason' = Tina's REASON_CHAT_TEMPLATE (bos, system, <｜User｜>problem<｜Assistant｜>), which Tina put in place of the model's; 'model' = the model's own tokenizer_config.json template. Default 'reason'.",
      ),
    overlong_prompts: z
      .enum(['truncate', 'skip'])
      .default('truncate')
      .describe(
        "A row whose rendered prompt is longer than the prompt limit (grpo.max_prompt_length, and at most the model's context minus grpo.max_completion_length), found when the dataset is loaded: 'truncate' keeps its last limit tokens (TRL's left truncation; generation and training both see the kept tokens, as TRL ≥ 0.16), 'skip' drops the row (verl's filter_overlong_prompts). Either way the count and the first file:line are logged. Default 'truncate'.",
      ),
    unencodable_text: z
      .enum(['error', 'warn'])
      .default('error')
      .describe(
        "A row holding characters the model's tokenizer cannot encode (it would drop them and train on a different question): 'error' refuses the dataset naming the first file:line, 'warn' counts such rows, warns once and trains on the lossy tokenization. The eval config and `generate --unencodable-text` have the same switch. Default 'error'.",
      ),
    chat_template_jinja: z
      .string()
      .min(1)
      .optional()
      .describe(
        "A Jinja chat template used in place of chat_template (open-r1's recipe key chat_template). No default.",
      ),
    system_prompt_text: z
      .string()
      .optional()
      .describe(
        'A system prompt used verbatim in place of system_prompt (open-r1/TRL system_prompt); "" = none. No default.',
      ),
    prompt_column: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe(
        "Column holding the problem (open-r1 dataset_prompt_column); null = Tina's mapping (problem, else question, else prompt). Default null.",
      ),
    column_mapping: z
      .enum(['auto', 'tina', 'deepscaler', 'ii_thought'])
      .default('auto')
      .describe(
        "How rows become problem/solution: 'tina' = Tina's generic mapping (answer -> $answer$ when there is no solution; question/prompt -> problem); 'deepscaler' = also grade against $answer$, keeping the worked solution as solution_archive; 'ii_thought' = Tina's 2thought mapping (problem = messages[0].content, solution = $verification_info.answer.value$); 'auto' = 'deepscaler' when dataset_id contains 'deepscaler', else 'tina'. Default 'auto'.",
      ),
    l1_target_length: z
      .object({
        min: z.number().int().positive().describe('Smallest target length (Tina 100).'),
        max: z.number().int().positive().describe('Largest target length (Tina 4000).'),
      })
      .strict()
      .nullable()
      .default(null)
      .describe(
        'Tina\'s L1 length control: each row gets a target length drawn uniformly from [min, max] (seeded), the system prompt ends with "\\nThink for {target} tokens." and the rewards get it as target_length (length_l1_exact, length_l1_max). null = off. Default null.',
      ),
  })
  .strict()
  .refine((d) => d.l1_target_length === null || d.l1_target_length.min <= d.l1_target_length.max, {
    message: 'l1_target_length.min must not exceed max',
    path: ['l1_target_length'],
  });

export const dataSectionSchema = z
  .discriminatedUnion('source', [taskSource, datasetSource])
  .describe('Where training prompts come from.');

export const evalScheduleSchema = z
  .object({
    eval_steps: z
      .number()
      .int()
      .min(0)
      .default(10)
      .describe(
        'Evaluate every N optimizer steps, before training and at the end (TRL eval_steps). 0 = never. Default 10.',
      ),
    eval_before_training: z
      .boolean()
      .default(true)
      .describe('Evaluate the starting policy before the first step. Default true.'),
  })
  .strict();

export type ModelSection = z.output<typeof modelSectionSchema>;
export type LoraSection = z.output<typeof loraSectionSchema>;
export type DataSection = z.output<typeof dataSectionSchema>;

/** Rewards that read a data column the data section must produce (Tina's L1 rewards need target_length). */
export function checkDataForRewards(data: DataSection, rewardFuncs: readonly unknown[]): void {
  rewardFuncs.forEach((f, i) => {
    if (
      (f === 'length_l1_exact' || f === 'length_l1_max') &&
      (data.source !== 'dataset' || data.l1_target_length === null)
    ) {
      throw new ConfigFieldError(
        `config: rewards.reward_funcs.${i}: '${f}' needs a target length per prompt: set data.l1_target_length (Tina: {"min": 100, "max": 4000}) on a dataset source`,
        `rewards.reward_funcs.${i}`,
      );
    }
  });
}

/** Parse one section with a message naming `section.field` on failure. */
export function parseSection<T>(schema: z.ZodType<T>, raw: unknown, section: string): T {
  const r = schema.safeParse(raw ?? {});
  if (r.success) return r.data;
  const iss = r.error.issues[0]!;
  const path = [section, ...iss.path.map(String)].join('.');
  throw new ConfigFieldError(`config: ${path}: ${iss.message}`, path);
}

export const faultsSectionSchema = z
  .array(
    z
      .object({
        role: z
          .enum(['rollout', 'reward', 'advantage', 'learner', 'evaluator'])
          .describe(
            "Role whose handler fails (rollout applies to rollout-0; reward's handler is 'scoreItem', counted per completion).",
          ),
        handler: z
          .string()
          .min(1)
          .describe(
            "Handler name, e.g. 'generate', 'computeAdvantages', 'evaluate', 'sync', 'scoreItem'; for the learner also the points inside a step: 'afterPublish' (new version published, state not committed), 'afterCommit' (step committed, reply not sent), and 'publish' with mode 'corrupt'.",
          ),
        mode: z
          .enum(['throw', 'exit', 'hang', 'corrupt', 'delay'])
          .describe(
            "'throw' an error, 'exit' the worker thread, or 'hang' past the role's deadline (set actors.<role>.deadline_ms or run.sync_timeout_s); 'corrupt' (role learner, handler publish only) flips one bit of the published adapter after its checksum is taken, as a bad transfer would; 'delay' only holds the call up for delay_ms (a slow or overloaded worker: the run's results must not change).",
          ),
        at: z.number().int().positive().describe('Which call of that handler fails (1 = the first); it fails once.'),
        delay_ms: z
          .number()
          .int()
          .positive()
          .max(600_000)
          .optional()
          .describe("Mode 'delay' only: how long the call is held up, in ms (default 2000)."),
      })
      .strict()
      .refine((f) => (f.mode === 'corrupt') === (f.role === 'learner' && f.handler === 'publish'), {
        message: "mode 'corrupt' goes with role 'learner' and handler 'publish' (and that pair only with 'corrupt')",
        path: ['mode'],
      })
      .refine((f) => f.delay_ms === undefined || f.mode === 'delay', {
        message: "delay_ms goes with mode 'delay' only",
        path: ['delay_ms'],
      }),
  )
  .default([])
  .describe(
    'Fault drills: make one call of an actor fail, to see the run recover (retries, worker replacement). Default none.',
  );
export type FaultsSection = z.output<typeof faultsSectionSchema>;

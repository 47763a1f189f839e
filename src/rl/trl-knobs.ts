// Every field of TRL's current GRPOConfig (TRL 1.9.0, checked against trl/trainer/grpo_config.py),
// with what loractor does with it: it is a loractor knob under the same name (acts, see config.ts),
// a knob under another name, infrastructure that cannot change what is trained, or refused with the
// reason and the TRL version that introduced it. Config loading (an unknown grpo key) and
// tools/import-recipe (a recipe key) both answer from this table, so a TRL user who writes a knob
// loractor does not implement is told so — never a silently different algorithm.

export type TrlKnobStatus =
  | { kind: 'same'; since: string }
  | { kind: 'renamed'; since: string; to: string; note?: string }
  | { kind: 'infrastructure'; since: string; why: string }
  | {
      kind: 'refused';
      since: string;
      why: string /** TRL's default: a recipe that writes it asks for nothing loractor lacks. */;
      trlDefault: unknown;
    };

const same = (since: string): TrlKnobStatus => ({ kind: 'same', since });
const renamed = (since: string, to: string, note?: string): TrlKnobStatus => ({
  kind: 'renamed',
  since,
  to,
  ...(note ? { note } : {}),
});
const infra = (since: string, why: string): TrlKnobStatus => ({ kind: 'infrastructure', since, why });
const refused = (since: string, why: string, trlDefault: unknown): TrlKnobStatus => ({
  kind: 'refused',
  since,
  why,
  trlDefault,
});

/** GRPOConfig's own fields (HF TrainingArguments fields are handled by the recipe importer). */
export const TRL_GRPO_KNOBS: Readonly<Record<string, TrlKnobStatus>> = {
  learning_rate: same('0.14.0'),
  // Model and reference model.
  model_init_kwargs: infra('0.14.0', 'model loading options: loractor loads model.path itself (f32)'),
  trust_remote_code: infra('1.7.0', 'Qwen2 is built in; no remote code is run'),
  router_aux_loss_coef: refused(
    '1.7.0',
    'Mixture-of-Experts load-balancing loss: loractor trains dense Qwen2 models only',
    0.001,
  ),
  disable_dropout: refused(
    '0.17.0',
    'set lora.lora_dropout to 0 instead (the base model has no dropout in loractor; old and reference log-probs are always computed without dropout)',
    false,
  ),
  cast_lm_head_to_fp32: infra('0.25.0', 'loractor computes the LM head in f32 already'),
  // Data preprocessing.
  remove_unused_columns: infra('0.14.0', 'dataset columns are mapped by data.source'),
  num_generations: same('0.14.0'),
  num_generations_eval: refused('0.26.0', 'in-training evaluation uses the eval section (eval.num_samples)', null),
  max_completion_length: same('0.14.0'),
  ds3_gather_for_generation: infra('0.15.0', 'DeepSpeed ZeRO-3 only'),
  shuffle_dataset: refused('0.17.0', "the prompt order is always a seeded shuffle (TRL's default True)", true),
  pad_to_multiple_of: infra('1.0.0', 'padding is never computed (sequences are packed)'),
  // Generation.
  generation_batch_size: same('0.18.0'),
  steps_per_generation: same('0.18.0'),
  temperature: same('0.14.0'),
  top_p: same('0.16.0'),
  top_k: same('0.16.0'),
  min_p: refused(
    '0.16.0',
    'min-p sampling is not implemented in the rollout engines (the learner would need the same truncation to keep the importance ratios correct)',
    null,
  ),
  generation_kwargs: refused(
    '0.19.0',
    'free-form generation settings cannot be checked; the engines take temperature, top_p and top_k only',
    null,
  ),
  chat_template_kwargs: refused('0.25.0', 'the chat template is chosen by data.chat_template', null),
  repetition_penalty: refused(
    '0.16.0',
    'not implemented in the rollout engines (and it changes the sampling distribution the ratios are taken against)',
    1.0,
  ),
  cache_implementation: infra('0.16.0', 'the builtin engine always uses its KV cache'),
  use_transformers_continuous_batching: infra('1.7.0', 'the rollout engine is model.engine'),
  transformers_continuous_batching_config: infra('1.7.0', 'the rollout engine is model.engine'),
  use_transformers_paged: infra('0.20.0', 'the rollout engine is model.engine (deprecated in TRL 1.2.0)'),
  // vLLM (the engine is model.engine: builtin or webllm).
  use_vllm: infra('0.14.0', 'the rollout engine is model.engine'),
  vllm_mode: infra('0.18.0', 'vLLM engine setting'),
  vllm_model_impl: infra('0.21.0', 'vLLM engine setting'),
  vllm_structured_outputs_regex: refused('0.27.0', 'constrained decoding is not implemented', null),
  vllm_server_base_url: infra('0.18.0', 'vLLM engine setting'),
  vllm_server_host: infra('0.16.0', 'vLLM engine setting'),
  vllm_server_port: infra('0.16.0', 'vLLM engine setting'),
  vllm_server_timeout: infra('0.16.0', 'vLLM engine setting'),
  vllm_group_port: infra('0.27.0', 'vLLM engine setting'),
  vllm_gpu_memory_utilization: infra('0.14.0', 'vLLM engine setting'),
  vllm_max_model_length: infra('0.26.0', 'vLLM engine setting'),
  vllm_tensor_parallel_size: infra('0.18.0', 'vLLM engine setting'),
  vllm_enable_sleep_mode: infra('0.23.0', 'vLLM engine setting'),
  // Training.
  beta: same('0.14.0'),
  num_iterations: same('0.16.0'),
  epsilon: same('0.16.0'),
  delta: same('0.18.0'),
  epsilon_high: same('0.16.0'),
  sapo_temperature_neg: same('0.26.0'),
  sapo_temperature_pos: same('0.26.0'),
  vespo_k_pos: refused('1.0.0', "the VESPO loss (loss_type 'vespo') is not implemented", 2.0),
  vespo_lambda_pos: refused('1.0.0', "the VESPO loss (loss_type 'vespo') is not implemented", 3.0),
  vespo_k_neg: refused('1.0.0', "the VESPO loss (loss_type 'vespo') is not implemented", 3.0),
  vespo_lambda_neg: refused('1.0.0', "the VESPO loss (loss_type 'vespo') is not implemented", 2.0),
  importance_sampling_level: same('0.20.0'),
  reward_weights: renamed('0.15.0', 'rewards.reward_weights'),
  multi_objective_aggregation: refused(
    '0.27.0',
    "GDPO's normalize_then_sum is not implemented; rewards are summed with reward_weights, then normalised (TRL's default sum_then_normalize)",
    'sum_then_normalize',
  ),
  scale_rewards: same('0.16.0'),
  loss_type: same('0.17.0'),
  mask_truncated_completions: same('0.17.0'),
  sync_ref_model: refused(
    '0.15.0',
    'the reference policy is the base model with the adapter off; TR-DPO reference syncing is not implemented',
    false,
  ),
  ref_model_mixup_alpha: refused('0.15.0', 'goes with sync_ref_model, which is not implemented', 0.6),
  ref_model_sync_steps: refused('0.15.0', 'goes with sync_ref_model, which is not implemented', 512),
  top_entropy_quantile: refused(
    '0.20.0',
    'high-entropy token selection (Beyond the 80/20 Rule) is not implemented',
    1.0,
  ),
  entropy_coef: refused('1.8.0', 'the entropy bonus is not implemented (the entropy is logged as a metric)', 0.0),
  use_adaptive_entropy: refused('1.8.0', 'adaptive entropy control is not implemented', false),
  entropy_coef_min: refused('1.8.0', 'goes with use_adaptive_entropy, which is not implemented', 0.0),
  entropy_coef_max: refused('1.8.0', 'goes with use_adaptive_entropy, which is not implemented', 1.0),
  entropy_coef_delta: refused('1.8.0', 'goes with use_adaptive_entropy, which is not implemented', 0.005),
  entropy_target: refused('1.8.0', 'goes with use_adaptive_entropy, which is not implemented', 0.2),
  max_tool_calling_iterations: refused('0.27.0', 'tool calling in rollouts is not implemented', null),
  vllm_importance_sampling_correction: renamed('0.23.0', 'importance_sampling_correction'),
  vllm_importance_sampling_mode: renamed('0.26.0', 'importance_sampling_mode'),
  vllm_importance_sampling_clip_max: renamed('1.6.0', 'importance_sampling_clip_max'),
  vllm_importance_sampling_clip_min: renamed('1.6.0', 'importance_sampling_clip_min'),
  vllm_importance_sampling_cap: renamed(
    '0.23.0',
    'importance_sampling_clip_max',
    'deprecated in TRL 1.6.0 for vllm_importance_sampling_clip_max',
  ),
  off_policy_mask_threshold: refused(
    '0.27.0',
    'off-policy sequence masking (DeepSeek-V3.2) is not implemented; importance_sampling_mode sequence_mask masks by the behaviour ratio instead',
    null,
  ),
  use_bias_correction_kl: refused(
    '0.26.0',
    'the importance-weighted KL estimator (DeepSeek-V3.2) is not implemented',
    false,
  ),
  // Logging.
  log_completions: infra('0.15.0', 'logging (every trajectory is in rollouts.jsonl)'),
  log_multimodal: infra('1.9.0', 'logging'),
  num_completions_to_print: infra('0.17.0', 'logging'),
  log_unique_prompts: infra('0.26.0', 'logging'),
  log_completions_hub_repo: infra('0.28.0', 'hub upload'),
};

/** TRL loss_type values loractor refuses, with the version that introduced them. */
export const TRL_REFUSED_LOSS_TYPES: Readonly<Record<string, { since: string; why: string }>> = {
  luspo: { since: '0.28.0', why: 'the LUSPO length-scaled sequence loss is not implemented' },
  vespo: { since: '1.0.0', why: 'the VESPO gamma-weighted sequence loss is not implemented' },
};

/** Earlier loractor names (so an old config gets a message, not just "unknown key"). */
const LORACTOR_RENAMED: Readonly<Record<string, string>> = {
  importance_sampling_cap: 'importance_sampling_clip_max (as TRL 1.6.0 renamed vllm_importance_sampling_cap)',
};

/**
 * Why `key` is not accepted in the grpo section, for an error message; null when the table does not
 * know it (then it is simply unknown).
 */
export function grpoKeyRefusal(key: string): string | null {
  if (LORACTOR_RENAMED[key]) return `renamed: write ${LORACTOR_RENAMED[key]}`;
  const s = TRL_GRPO_KNOBS[key];
  if (!s) return null;
  switch (s.kind) {
    case 'same':
      return null;
    case 'renamed':
      return `TRL GRPOConfig knob (TRL ${s.since}); in loractor it is ${s.to}${s.note ? ` (${s.note})` : ''}`;
    case 'infrastructure':
      return `TRL GRPOConfig knob (TRL ${s.since}) that does not change what is trained in loractor (${s.why}); remove it`;
    case 'refused':
      return `TRL GRPOConfig knob introduced in TRL ${s.since}, not implemented by loractor: ${s.why}`;
  }
}

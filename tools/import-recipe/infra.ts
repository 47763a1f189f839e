// Keys that do not change what is trained (hardware, logging, hub, checkpoint housekeeping), listed as
// ignored with the reason; and the run's own keys: checkpoints and HF in-training evaluation, which
// loractor replaces with run.checkpoint_every and the eval section.
import { TRL_GRPO_KNOBS } from '../../src/rl/trl-knobs.js';
import type { ImportContext, KeyHandlers } from './context.js';

/** Keys with no effect on what is trained (hardware, logging, hub, checkpoint housekeeping). */
const INFRA_KEYS: Record<string, string> = {
  bf16: 'precision: loractor computes in f32',
  fp16: 'precision: loractor computes in f32',
  tf32: 'precision',
  torch_dtype: 'load dtype: weights are converted to f32',
  attn_implementation: 'kernel choice',
  use_vllm: 'rollout engine is model.engine',
  gradient_checkpointing: 'memory/speed trade-off only',
  gradient_checkpointing_kwargs: 'memory/speed trade-off only',
  log_level: 'logging',
  log_completions: 'logging',
  report_to: 'logging (metrics.jsonl is always written)',
  push_to_hub: 'hub upload',
  output_dir: 'run.out_dir is set by --out-dir',
  overwrite_output_dir: 'output housekeeping',
  save_strategy: 'checkpoints are step-based (run.checkpoint_every)',
  save_total_limit: 'checkpoint housekeeping',
  save_only_model: 'checkpoint housekeeping',
  ds3_gather_for_generation: 'DeepSpeed',
  deepspeed: 'DeepSpeed',
  run_name: 'logging',
  dataloader_num_workers: 'data loading threads',
  ddp_find_unused_parameters: 'DDP',
  use_liger_kernel: 'kernel choice',
  trust_remote_code: 'Qwen2 is built in',
  bf16_full_eval: 'precision',
  per_device_eval_batch_size: 'HF in-training eval is not used (eval section)',
};
const INFRA_PREFIXES: [string, string][] = [
  ['vllm_', 'vLLM engine settings'],
  ['logging_', 'logging'],
  ['hub_', 'hub upload'],
  ['wandb_', 'logging'],
];

/** Lists an infrastructure key as ignored with its reason; returns false for any other key. */
export function ignoreInfrastructureKey(ctx: ImportContext, key: string): boolean {
  const knob = TRL_GRPO_KNOBS[key];
  const why =
    INFRA_KEYS[key] ??
    (knob?.kind === 'infrastructure' ? knob.why : undefined) ??
    INFRA_PREFIXES.find(([p]) => key.startsWith(p))?.[1];
  if (why === undefined) return false;
  ctx.ignored.push({ key, why });
  return true;
}

export const RUN_KEY_HANDLERS: KeyHandlers = {
  save_steps: (ctx, key, v) => {
    ctx.saveSteps = ctx.recipe.num(key, v, true);
  },
  do_eval: (ctx, key, v) => {
    if (v !== false)
      ctx.recipe.fail(key, 'HF in-training evaluation is not supported; use the eval section (eval_steps)');
    ctx.ignored.push({ key, why: 'false' });
  },
  eval_strategy: refuseInTrainingEval,
  evaluation_strategy: refuseInTrainingEval,
};

function refuseInTrainingEval(ctx: ImportContext, key: string, v: unknown): void {
  if (v !== 'no') ctx.recipe.fail(key, 'HF in-training evaluation is not supported; use the eval section');
  ctx.ignored.push({ key, why: "'no'" });
}

/** save_strategy "epoch" with no save_steps: one checkpoint, at the end of the run. */
export function checkpointAtEndForEpochs(ctx: ImportContext): void {
  const { entries } = ctx.recipe;
  if (entries.get('save_strategy')?.value === 'epoch' && !entries.has('save_steps')) {
    ctx.saveSteps = 0;
    ctx.notes.push('save_strategy "epoch": a checkpoint at the end of the run only (run.checkpoint_every 0)');
  }
}

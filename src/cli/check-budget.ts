// Step 5 of `loractor check` (split from check.ts, which runs the steps in order): the lengths against
// the model's context, every dataset row against the prompt limit, and the memory and time the run
// needs (src/config/budget.ts; a run that cannot fit in memory is NOT READY — training applies the same
// check). Each part adds to the one CheckReport.
import { totalmem } from 'node:os';
import {
  estimateRunMemory,
  estimateStepTime,
  formatBytes,
  formatSeconds,
  judgeMemory,
  type BudgetItem,
  type BudgetKnobs,
} from '../config/budget.js';
import { contextLimits, type ContextVerdict } from '../config/context-limits.js';
import { measureFlops } from '../config/throughput.js';
import type { DataSection, LoraSection, ModelSection } from '../coordinator/config.js';
import { preparePrompts } from '../coordinator/prompts.js';
import type { RunConfig } from '../coordinator/run-config.js';
import { budgetKnobs } from '../coordinator/setup.js';
import type { EvalConfig } from '../eval/config.js';
import type { Qwen2Config } from '../model/config.js';
import type { ModelTokenizer } from '../model/tokenizer.js';
import type { ResolvedGrpoConfig } from '../rl/config.js';
import { learnerSectionSchema, type LearnerDeviceConfig } from '../rl/learner-config.js';
import { resolvePath, type CheckReport } from './check-report.js';

/** What step 5 reads: the raw config, what the earlier steps parsed and the model folder's config. */
export interface BudgetCheckInput {
  configFile: string;
  raw: Record<string, unknown>;
  rc: RunConfig | undefined;
  qcfg: Qwen2Config;
  tok: ModelTokenizer | undefined;
  grpo: ResolvedGrpoConfig;
  model: ModelSection | undefined;
  lora: LoraSection | undefined;
  data: DataSection | undefined;
  evalSchedule: { eval_steps: number; eval_before_training: boolean } | undefined;
  evalCfg: EvalConfig | undefined;
}

/** Lengths against the context, every dataset row against the prompt limit, memory and time. */
export async function checkLengthsAndBudget(inp: BudgetCheckInput, rep: CheckReport): Promise<void> {
  const { qcfg, tok, data, evalSchedule, evalCfg } = inp;
  const grpoCfg = inp.grpo.config;
  const evalOn = evalSchedule !== undefined && (evalSchedule.eval_steps > 0 || evalSchedule.eval_before_training);
  const ctx = contextLimits(qcfg, grpoCfg, evalOn && evalCfg ? evalCfg.max_new_tokens : undefined);
  rep.problems.push(...ctx.problems);
  rep.warnings.push(...ctx.warnings);
  if (data?.source === 'dataset' && tok && !ctx.problems.length)
    await checkPromptRows(data, tok, ctx, inp.configFile, rep);
  if (inp.lora && inp.model) checkMemoryAndTime(inp, inp.lora, inp.model, ctx, evalOn, rep);
}

/** Every dataset row rendered and tokenized as training will, against the prompt limit. */
async function checkPromptRows(
  data: Extract<DataSection, { source: 'dataset' }>,
  tok: ModelTokenizer,
  ctx: ContextVerdict,
  configFile: string,
  rep: CheckReport,
): Promise<void> {
  try {
    const prepared = await preparePrompts({ ...data, path: resolvePath(data.path, configFile) }, tok, {
      maxPromptTokens: ctx.promptTokens,
      limitField: ctx.limitField,
    });
    for (const n of prepared.report.notes) rep.warnings.push(n.replace(/^data: (warning: )?/, 'data: '));
    if (!prepared.report.overlong)
      rep.passed.push(`data: every row fits the prompt limit of ${ctx.promptTokens} tokens (${ctx.limitField})`);
  } catch (err) {
    rep.problems.push(`data: ${(err as Error).message}`);
  }
}

/** The memory table (host, then the GPU's under the webgpu engine) and the time estimate. */
function checkMemoryAndTime(
  inp: BudgetCheckInput,
  lora: LoraSection,
  model: ModelSection,
  ctx: ContextVerdict,
  evalOn: boolean,
  rep: CheckReport,
): void {
  const loraSettings = {
    r: lora.lora_r,
    alpha: lora.lora_alpha,
    dropout: lora.lora_dropout,
    targetModules: [...lora.lora_target_modules],
  };
  const learnerParsed = learnerSectionSchema.safeParse(inp.raw.learner); // its errors are reported in step 6
  const learner = learnerParsed.success ? learnerParsed.data : undefined;
  const knobs = budgetKnobs(
    inp.qcfg,
    loraSettings,
    inp.grpo.config,
    model,
    inp.rc?.run ?? ((inp.raw.run ?? {}) as { learner_recovery?: boolean }),
    ctx.promptTokens,
    evalOn ? inp.evalCfg : undefined,
    inp.evalSchedule?.eval_steps ?? 0,
    learner,
  );
  const items = estimateRunMemory(knobs);
  checkHostMemory(items, rep);
  if (knobs.engine === 'webgpu') checkGpuMemory(items, learner, rep);
  rep.time = timeEstimate(knobs, inp.grpo.stopAtStep);
}

/** Every memory line, their total, and whether it fits this machine's memory. */
function checkHostMemory(items: BudgetItem[], rep: CheckReport): void {
  rep.memory.push(...items.map((i) => ({ item: i.item, bytes: i.bytes })));
  const verdict = judgeMemory(items, totalmem());
  rep.memory.push({ item: 'total (estimate, upper bound)', bytes: verdict.total });
  if (verdict.problem) rep.problems.push(verdict.problem);
  if (verdict.warning) rep.warnings.push(verdict.warning);
}

function checkGpuMemory(items: BudgetItem[], learner: LearnerDeviceConfig | undefined, rep: CheckReport): void {
  // The rollout engine's GPU lines (model.engine webgpu) with the GPU learner's, against the GPU's
  // memory when the config states it (the learner-only check of step 6 also asks nvidia-smi).
  const gpuTotal = items.filter((i) => i.device === 'gpu').reduce((a, i) => a + i.bytes, 0);
  rep.memory.push({ item: 'GPU total (estimate, upper bound)', bytes: gpuTotal });
  const gib = learner ? learner.gpu_memory_gib : null;
  if (gib === null)
    rep.warnings.push(
      `memory: the run needs about ${formatBytes(gpuTotal)} of GPU memory; WebGPU does not report the GPU's, so set learner.gpu_memory_gib to check it`,
    );
  else {
    const g = judgeMemory(items, gib * 2 ** 30, 'gpu');
    if (g.problem) rep.problems.push(`${g.problem} (learner.gpu_memory_gib ${gib})`);
    else if (g.warning) rep.warnings.push(g.warning);
    else
      rep.passed.push(
        `memory: the run needs about ${formatBytes(gpuTotal)} of the GPU's ${formatBytes(gib * 2 ** 30)}`,
      );
  }
}

/** The time line: per step and for the whole run, from the FLOPs at this machine's measured speed. */
function timeEstimate(knobs: BudgetKnobs, steps: number): string {
  const t = estimateStepTime(knobs, measureFlops());
  return `about ${formatSeconds(t.stepS)} per step (rollout ${formatSeconds(t.rolloutS)}, learner ${formatSeconds(t.learnerS)}${knobs.eval ? `, each evaluation ${formatSeconds(t.evalS)}` : ''}), ${formatSeconds(t.stepS * steps)} for ${steps} steps (from the FLOPs at this machine's measured matmul speed, every completion at full length: a rough figure, since small decode batches and thread hand-offs run below that speed)`;
}

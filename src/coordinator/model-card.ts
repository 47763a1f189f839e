// The model card of a checkpoint (README.md beside adapter_config.json, as the Hugging Face hub and
// PEFT expect): what the adapter is, its base model, how it was trained and how it scored, with the
// YAML front matter the hub reads (base_model, library_name, tags).
import type { EvalSummary, StepMetrics } from '../report/metrics.js';

export interface ModelCardInput {
  /** base_model_name_or_path: the hub id (model.hub_id) or the absolute model folder. */
  baseModel: string;
  step: number;
  lastStep: number;
  lora: { r: number; alpha: number; dropout: number; targetModules: string[] };
  /** Algorithm facts shown as they are (loss_type, beta, num_generations, learning_rate, ...). */
  training: Record<string, string | number | boolean | undefined>;
  /** The metrics record of the checkpoint's step, when there is one. */
  metrics?: StepMetrics;
  evals: EvalSummary[];
}

const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;

function yamlString(s: string): string {
  return JSON.stringify(s); // a JSON string is a valid YAML double-quoted scalar
}

export function renderModelCard(c: ModelCardInput): string {
  const isHubId = /^[\w.-]+\/[\w.-]+$/.test(c.baseModel);
  const lines = [
    '---',
    ...(isHubId ? [`base_model: ${yamlString(c.baseModel)}`] : []),
    'library_name: peft',
    'tags: [lora, grpo, loractor, reinforcement-learning]',
    '---',
    '',
    `# LoRA adapter, GRPO step ${c.step} of ${c.lastStep}`,
    '',
    `Trained with loractor (GRPO-family RL with verifiable rewards, LoRA only) on \`${c.baseModel}\`. Load it with PEFT:`,
    '',
    '```python',
    'from peft import AutoPeftModelForCausalLM',
    'model = AutoPeftModelForCausalLM.from_pretrained("path/to/this/folder")',
    '```',
    '',
    '## Adapter',
    '',
    `LoRA r ${c.lora.r}, alpha ${c.lora.alpha} (scale ${(c.lora.alpha / c.lora.r).toFixed(3).replace(/\.?0+$/, '')}), dropout ${c.lora.dropout}, on ${c.lora.targetModules.join(', ')}.`,
    '',
    '## Training',
    '',
    '| setting | value |',
    '|---|---|',
    ...Object.entries(c.training)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `| ${k} | ${String(v)} |`),
  ];
  if (c.metrics) {
    lines.push('', `## Metrics at step ${c.step}`, '', '| metric | value |', '|---|---|');
    for (const [k, v] of Object.entries(c.metrics))
      if (k !== 'step' && typeof v === 'number' && Number.isFinite(v))
        lines.push(`| ${k} | ${Number(v.toPrecision(5))} |`);
  }
  const evals = c.evals.filter((e) => e.step <= c.step);
  if (evals.length) {
    const benches = [...new Set(evals.flatMap((e) => Object.keys(e.pass_at_1)))].sort();
    lines.push(
      '',
      '## Held-out pass@1',
      '',
      `| step | ${benches.join(' | ')} | average |`,
      `|---|${benches.map(() => '---|').join('')}---|`,
    );
    for (const e of evals)
      lines.push(
        `| ${e.step} | ${benches.map((b) => (e.pass_at_1[b] === undefined ? '–' : pct(e.pass_at_1[b]!))).join(' | ')} | ${pct(e.average)} |`,
      );
  }
  lines.push(
    '',
    'Files: `adapter_config.json` + `adapter_model.safetensors` (PEFT), `optimizer.bin` and `loractor_state.json` (exact resume with `--resume`), `manifest.json` (sha256 of every file).',
    '',
  );
  return lines.join('\n');
}

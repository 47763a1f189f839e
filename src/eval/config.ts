// Evaluation knobs. Names follow lighteval / TRL where one exists; defaults are Tina's eval
// settings (tina-recipe.md §0.7): temperature 0.6, top_p 0.95, one sample, seed 42.
import { z } from 'zod';
import { ConfigFieldError } from '../config/field-error.js';

export const evalConfigSchema = z
  .object({
    benchmarks: z
      .array(z.string())
      .min(1)
      .describe('Benchmark names (aime24, aime25, amc23, math500, minerva, gsm8k, gpqa, synthetic). Required.'),
    limit: z
      .number()
      .int()
      .positive()
      .optional()
      .describe('Evaluate only the first N problems of each benchmark. Default: all.'),
    num_samples: z
      .number()
      .int()
      .positive()
      .default(1)
      .describe(
        'Samples per problem (k). pass@1 is the mean per-problem accuracy; pass@k uses the unbiased estimator. Default 1.',
      ),
    temperature: z
      .number()
      .min(0)
      .default(0.6)
      .describe('Sampling temperature; 0 is greedy. Default 0.6 (Tina/lighteval).'),
    top_p: z.number().gt(0).max(1).default(0.95).describe('Nucleus sampling mass. Default 0.95.'),
    top_k: z.number().int().default(0).describe('Top-k filter; 0 disables. Default 0.'),
    max_new_tokens: z
      .number()
      .int()
      .positive()
      .default(1024)
      .describe(
        "Generation limit per completion; prompt + max_new_tokens must fit the model's context (`loractor eval` without --max-new-tokens lowers the default to fit it). Default 1024 (Tina used 32768 for the 1.5B model).",
      ),
    seed: z
      .number()
      .int()
      .min(0)
      .max(0xffffffff)
      .default(42)
      .describe('Base sampling seed (Tina: 42 for pass@1, 0..9 for multi-seed means). Default 42.'),
    data_seed: z
      .number()
      .int()
      .min(0)
      .max(0xffffffff)
      .default(42)
      .describe(
        'Seed of the evaluation data itself (GPQA choice order, which held-out synthetic problems), kept apart from the sampling seed so multi-seed runs score the same problems. Default 42.',
      ),
    batch_size: z
      .number()
      .int()
      .positive()
      .default(32)
      .describe(
        'Prompts per engine call. Sampled results are reproducible for a fixed batch size (greedy ones for any). Default 32.',
      ),
    strict: z
      .boolean()
      .default(false)
      .describe('Fail on a malformed benchmark line instead of skipping it. Default false.'),
    unencodable_text: z
      .enum(['error', 'warn'])
      .default('error')
      .describe(
        "A prompt holding characters the model's tokenizer cannot encode: 'error' refuses it (the model would be asked a different question), 'warn' counts such prompts, warns and evaluates the lossy tokenization. Same switch as data.unencodable_text for training. Default 'error'.",
      ),
    benchmarks_dir: z
      .string()
      .optional()
      .describe(
        'Folder of the benchmark files. Default: the benchmarks/ folder shipped with loractor (MIT sets, sources in benchmarks/SOURCES.md).',
      ),
    benchmark_paths: z
      .record(z.string(), z.string())
      .default({})
      .describe('Per-benchmark file overrides, e.g. {"gpqa": "/data/gpqa_diamond.jsonl"}. Default {}.'),
    synthetic_family: z
      .string()
      .default('addition')
      .describe(
        "Task family of the synthetic benchmark (src/data/tasks: 'addition', 'addition3'). Default 'addition'.",
      ),
    synthetic_count: z
      .number()
      .int()
      .positive()
      .default(200)
      .describe('Problems in the synthetic held-out benchmark. Default 200.'),
  })
  .strict();

export type EvalConfig = z.infer<typeof evalConfigSchema>;
export type EvalConfigInput = z.input<typeof evalConfigSchema>;

/** `where` opens the error message; `section` is the config section the fields sit in (for ConfigFieldError.field). */
export function parseEvalConfig(raw: unknown, where = 'eval config', section = 'eval'): EvalConfig {
  const r = evalConfigSchema.safeParse(raw);
  if (r.success) return r.data;
  const iss = r.error.issues[0]!;
  const field = iss.path.map(String).join('.');
  throw new ConfigFieldError(
    `${where}: ${field || '(root)'}: ${iss.message}`,
    [section, field].filter(Boolean).join('.'),
  );
}

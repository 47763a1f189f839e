// tools/train-tiny: trains the shipped tiny reasoning model from scratch (full-parameter AdamW through
// loractor's own kernels) on the synthetic addition task, and writes it in Hugging Face layout with a
// MODEL_CARD.md stating exactly how it was made. The recipe follows
// shared/reference/tiny-model-calibration.md: stop early, while the model knows the worked format but
// does not prefer it, so that RL has a format to discover.
//
//   node dist/tools/train-tiny.js [--out models/tiny] [--steps 1000] [--planned-steps 2000] [--seed 1]
//                                 [--snapshot-dir DIR]   (weights at every evaluation, to choose the stop)
//   node dist/tools/train-tiny.js --verify models/tiny [--steps 50]   (re-run the first steps, compare
//                                                                   the loss log of the card's run)
import { mkdirSync, readFileSync, writeFileSync, copyFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseQwen2Config } from '../src/model/config.js';
import { createRandomModel, type Model } from '../src/model/weights.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { saveModel } from '../src/model/load.js';
import { createSupervisedMix, generateTaskItems, DEFAULT_MIX } from '../src/data/tasks/index.js';
import { createFullParamOptimizer, makeBatch, supervisedStep } from '../src/sft/supervised.js';
import { evaluateHeldout, formatHeldout, promptIds, type HeldoutReport } from '../src/sft/heldout.js';
import { createBuiltinEngine } from '../src/engines/builtin/index.js';
import { learningRateAt } from '../src/rl/schedule.js';
import { repoRoot } from '../src/util/paths.js';
import { scriptOptions } from '../src/cli/standard-flags.js';

const USAGE = `usage: node dist/tools/train-tiny.js [--out models/tiny] [--steps 1000] [--planned-steps 2000] [--seed 1] [--snapshot-dir DIR]
       node dist/tools/train-tiny.js --verify models/tiny [--steps 50]

Trains the shipped tiny reasoning model from scratch (full-parameter AdamW) on the synthetic addition
task and writes it in Hugging Face layout with its MODEL_CARD.md; --verify re-runs the first steps and
compares them with the loss log of the card's run.
other options (defaults in brackets): --tokenizer DIR [models/tiny] --batch N [64] --lr X [3e-3]
  --warmup N [100] --weight-decay X [0.1] --hidden N [128] --layers N [4] --heads N [4] --kv-heads N [2]
  --mlp N [352] --eval-every N [100] --eval-n N [200] --log-every N [10]`;

const { values: a } = scriptOptions({
  name: 'train-tiny',
  help: USAGE,
  options: {
    out: { type: 'string', default: 'models/tiny' },
    tokenizer: { type: 'string', default: 'models/tiny' },
    steps: { type: 'string', default: '1000' },
    'planned-steps': { type: 'string', default: '2000' },
    batch: { type: 'string', default: '64' },
    lr: { type: 'string', default: '3e-3' },
    warmup: { type: 'string', default: '100' },
    'weight-decay': { type: 'string', default: '0.1' },
    seed: { type: 'string', default: '1' },
    hidden: { type: 'string', default: '128' },
    layers: { type: 'string', default: '4' },
    heads: { type: 'string', default: '4' },
    'kv-heads': { type: 'string', default: '2' },
    mlp: { type: 'string', default: '352' },
    'eval-every': { type: 'string', default: '100' },
    'eval-n': { type: 'string', default: '200' },
    'log-every': { type: 'string', default: '10' },
    verify: { type: 'string' },
    'snapshot-dir': { type: 'string' },
  },
});

const root = repoRoot();
const num = (k: keyof typeof a): number => {
  const v = Number(a[k]);
  if (!Number.isFinite(v)) {
    console.error(`train-tiny: --${k} must be a number, got ${a[k]}`);
    process.exit(2);
  }
  return v;
};
const seed = num('seed'),
  steps = num('steps'),
  planned = num('planned-steps'),
  B = num('batch');
const tokDir = resolve(root, a.tokenizer!);
const tok = loadTokenizer(tokDir);
const config = parseQwen2Config(
  {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    hidden_size: num('hidden'),
    num_hidden_layers: num('layers'),
    num_attention_heads: num('heads'),
    num_key_value_heads: num('kv-heads'),
    intermediate_size: num('mlp'),
    vocab_size: tok.size,
    max_position_embeddings: 128,
    rope_theta: 10000,
    rms_norm_eps: 1e-6,
    tie_word_embeddings: true,
    bos_token_id: tok.tokenId('<|bos|>'),
    eos_token_id: tok.eosTokenId,
  },
  'train-tiny config',
);
const hp = { lr: num('lr'), beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: num('weight-decay'), maxGradNorm: 1 };
const schedule = { type: 'cosine' as const, learningRate: hp.lr, maxSteps: planned, warmupSteps: num('warmup') };
const eosId = tok.eosTokenId!;
const padId = tok.padTokenId ?? 0;
const MAX_NEW = 48;

const model: Model<Float32Array> = createRandomModel(config, seed);
const opt = createFullParamOptimizer(model);
const data = createSupervisedMix({ seed, mix: DEFAULT_MIX });
const heldout = generateTaskItems({ split: 'heldout', seed: 12345, count: num('eval-n') });
const engine = createBuiltinEngine({
  model,
  tokenizer: { decode: (ids) => tok.decode(ids, true), eosTokenIds: [eosId] },
});

const lossLog: { step: number; loss: number }[] = [];
const evals: { step: number; report: HeldoutReport }[] = [];
const t0 = Date.now();
let emaLoss = NaN;
let tokens = 0;
for (let step = 1; step <= steps; step++) {
  const examples = [];
  for (let i = 0; i < B; i++) {
    const ex = data.next();
    examples.push({ prompt: promptIds(tok, ex.prompt), completion: [...tok.encode(ex.completion), eosId] });
  }
  const lr = learningRateAt(schedule, step - 1);
  const r = supervisedStep(model, opt, makeBatch(examples, padId), { ...hp, lr });
  tokens += r.tokens;
  emaLoss = Number.isNaN(emaLoss) ? r.loss : 0.9 * emaLoss + 0.1 * r.loss;
  lossLog.push({ step, loss: r.loss });
  if (step % num('log-every') === 0 || step === steps) {
    const s = (Date.now() - t0) / 1000;
    console.error(
      `step ${step}/${steps} loss ${r.loss.toFixed(4)} (ema ${emaLoss.toFixed(4)}) grad_norm ${r.gradNorm.toFixed(3)} lr ${lr.toExponential(2)} ${(tokens / s).toFixed(0)} tok/s ${s.toFixed(0)}s`,
    );
  }
  if (a.verify === undefined && (step % num('eval-every') === 0 || step === steps)) {
    const report = await evaluateHeldout(engine, tok, heldout, MAX_NEW);
    evals.push({ step, report });
    console.error(`  eval @${step}: ${formatHeldout(report)}`);
    // Snapshots let one run choose the stop point; the card's command then re-runs to that step.
    if (a['snapshot-dir']) saveModel(join(resolve(a['snapshot-dir']), `step-${step}`), model, 'F32');
  }
}
const wall = (Date.now() - t0) / 1000;

if (a.verify !== undefined) {
  // Compare with the loss log the card's run wrote (same seed and settings ⇒ same numbers).
  const logPath = join(resolve(root, a.verify), 'training-log.json');
  const ref = JSON.parse(readFileSync(logPath, 'utf8')) as {
    args: Record<string, unknown>;
    loss: { step: number; loss: number }[];
  };
  let worst = 0;
  for (const { step, loss } of lossLog) {
    const r = ref.loss.find((x) => x.step === step);
    if (r) worst = Math.max(worst, Math.abs(loss - r.loss) / Math.abs(r.loss));
  }
  console.log(JSON.stringify({ steps, worstRelativeLossDiff: worst, ok: worst <= 0.02 }));
  process.exit(worst <= 0.02 ? 0 : 1);
}

const outDir = resolve(root, a.out!);
mkdirSync(outDir, { recursive: true });
saveModel(outDir, model, 'F32');
for (const f of ['tokenizer.json', 'tokenizer_config.json'])
  if (resolve(tokDir) !== outDir && existsSync(join(tokDir, f))) copyFileSync(join(tokDir, f), join(outDir, f));
writeFileSync(
  join(outDir, 'generation_config.json'),
  JSON.stringify(
    {
      bos_token_id: config.bosTokenId,
      eos_token_id: eosId,
      pad_token_id: padId,
      do_sample: true,
      temperature: 1.0,
      max_new_tokens: MAX_NEW,
    },
    null,
    2,
  ) + '\n',
);
const last = evals[evals.length - 1]!;
const finalLoss = lossLog.slice(-50).reduce((s, x) => s + x.loss, 0) / Math.min(50, lossLog.length);
writeFileSync(
  join(outDir, 'training-log.json'),
  JSON.stringify({
    args: a,
    wall_s: wall,
    loss: lossLog.map((x) => ({ step: x.step, loss: Number(x.loss.toPrecision(6)) })),
    evals,
  }) + '\n',
);
const params = opt.flatGrad.length;
writeFileSync(
  join(outDir, 'MODEL_CARD.md'),
  `# loractor tiny reasoning model

A ${(params / 1e3).toFixed(0)}k-parameter Qwen2-architecture model trained from scratch by \`tools/train-tiny\` on
loractor's synthetic addition task (L-digit + L-digit, L = 2..5), so that the default GRPO job has a
model to improve on a machine with no pretrained weights. It is deliberately stopped early: it knows the
worked \`<think>\\n…\\n</think>\\n\\boxed{N}\` format but does not prefer it.

## How it was made
\`\`\`
npm run build && node dist/tools/train-tiny.js --out ${a.out} --steps ${steps} --planned-steps ${planned} --seed ${seed}
\`\`\`
- Architecture: hidden ${config.hiddenSize}, ${config.numLayers} layers, ${config.numHeads} query / ${config.numKvHeads} KV heads (head dim ${config.headDim}), SwiGLU ${config.intermediateSize}, RoPE θ 1e4, q/k/v biases, tied embeddings, vocabulary ${config.vocabSize} (tokenizer.json: digits, \`+ = \\n }\`, \`<think>\`, \`</think>\`, \`\\boxed{\`, bos/eos/pad).
- Data: seeded stream (seed ${seed}) of train-split problems, completions mixed ${DEFAULT_MIX.worked * 100} % worked / ${DEFAULT_MIX.boxed * 100} % bare \`\\boxed{N}\` / ${DEFAULT_MIX.plain * 100} % plain \`N\`; loss on completion tokens (EOS included), token mean.
- Optimiser: AdamW (β 0.9, 0.95, ε 1e-8), weight decay ${hp.weightDecay} on matrices, lr ${hp.lr} with ${schedule.warmupSteps} warmup steps and cosine decay over ${planned} planned steps, stopped at step ${steps}; batch ${B}; grad-norm clip 1.0.
- Initialisation: normal(0, 0.02) matrices, unit norms, zero biases, from \`Rng(${seed})\`.
- Wall time: ${(wall / 60).toFixed(1)} min on this machine (2 cores); ${tokens} completion tokens.

## Result
- Final loss (mean of the last 50 steps): **${finalLoss.toFixed(4)}**; step ${steps}: ${lossLog[lossLog.length - 1]!.loss.toFixed(4)}.
- Held-out greedy evaluation (${heldout.length} problems, seed 12345), step ${last.step}: ${formatHeldout(last.report)}

| step | pass@1 | format | ${Object.keys(last.report.perLevel)
    .map((l) => `L${l} acc`)
    .join(' | ')} |
|---|---|---|${Object.keys(last.report.perLevel)
    .map(() => '---')
    .join('|')}|
${evals
  .map(
    (e) =>
      `| ${e.step} | ${e.report.passAt1.toFixed(3)} | ${e.report.format.toFixed(3)} | ${Object.values(e.report.perLevel)
        .map((s) => s.acc.toFixed(2))
        .join(' | ')} |`,
  )
  .join('\n')}

\`training-log.json\` holds the per-step loss; \`node dist/tools/train-tiny.js --verify ${a.out} --steps 50\`
re-runs the first steps and checks the losses agree within 2 %.
`,
);
console.error(`train-tiny: wrote ${outDir} in ${(wall / 60).toFixed(1)} min; final loss ${finalLoss.toFixed(4)}`);

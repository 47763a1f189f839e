// The webgpu engine's stacked LoRA A products (src/engines/webgpu/stacked-lora.ts): the A products of
// q,k,v, and of gate,up, run as one product per group over the version's stacked A matrices. On both
// decode routes (SwiftShader's few-row route, and the GEMM route GPUs take above 8 rows), completions
// equal the builtin engine's and the unstacked engine's ids; a decode step has exactly 3 dispatches
// fewer per layer (1 when k_proj is not adapted: only gate,up stack); the block holds scale·A of each
// group back to back.
import t from 'tap';
import { createBuiltinEngine } from '../../src/engines/builtin/index.js';
import { createWebGpuEngine, type WebGpuEngine } from '../../src/engines/webgpu/index.js';
import type { PromptInput } from '../../src/engines/types.js';
import type { AdapterSnapshot } from '../../src/model/adapter-layout.js';
import { loraSlots, LORA_MODULES } from '../../src/model/lora.js';
import { randomAdapter as randomLoraAdapter } from '../../src/model/random-weights.js';
import { stackBlock, stackPlan } from '../../src/engines/webgpu/stacked-lora.js';
import { compare, greedy, tinyModel } from '../helpers/engine-helpers.js';
import { testGpu } from '../helpers/gpu-helpers.js';

const { model, tok, tokenizer } = tinyModel();
const c = model.config;

function adapter(seed: number, targetModules: string[]): AdapterSnapshot {
  const a = randomLoraAdapter(c, seed, { r: 4, alpha: 8, dropout: 0, targetModules }, 0.3);
  return { version: seed, settings: a.settings, layout: a.layout, params: a.params };
}

/** Dispatches of one decode step: a call of 3 tokens less one of 2 (one sequence). */
async function dispatchesPerStep(e: WebGpuEngine, prompt: PromptInput): Promise<number> {
  await e.generate([prompt], 1, { ...greedy, max_tokens: 2, ignore_eos: true });
  const two = e.lastStats.dispatches;
  await e.generate([prompt], 1, { ...greedy, max_tokens: 3, ignore_eos: true });
  return e.lastStats.dispatches - two;
}

t.test('the stacked block: scale·A of each fully adapted group, back to back', async (t) => {
  const full = adapter(1, [...LORA_MODULES]);
  const plan = stackPlan(c, full)!;
  const block = stackBlock(full.params, plan);
  const slots = loraSlots(c, full.settings, full.layout);
  const D = c.hiddenSize,
    r = 4;
  t.equal(block.length, c.numLayers * 5 * r * D, 'q,k,v and gate,up of every layer');
  const l = c.numLayers - 1;
  const at = plan.layers[l]!;
  const kA = slots[l]!.k_proj!.aOffset;
  t.equal(block[at.qkv!.offset + r * D + 7], 2 * full.params[kA + 7]!, 'k_proj A, times scale 2, after q_proj A');
  const upA = slots[l]!.up_proj!.aOffset;
  t.equal(block[at.gateUp!.offset + r * D + 5], 2 * full.params[upA + 5]!, 'up_proj A after gate_proj A');
  const noK = stackPlan(c, adapter(2, ['q_proj', 'v_proj', 'gate_proj', 'up_proj']))!;
  t.ok(
    noK.layers.every((p) => p.qkv === null && p.gateUp !== null),
    'without k_proj only gate,up stack',
  );
  t.equal(stackPlan(c, adapter(3, ['q_proj', 'down_proj'])), null, 'no group in full: no block');
});

t.test('stacked A products equal one per branch and the builtin engine, on both decode routes', async (t) => {
  await testGpu(); // SwiftShader when no driver is configured
  const prompts: PromptInput[] = ['12+34=', '7+8=', '505+77='].map((s) => ({
    ids: Int32Array.from(tok.encode(s, false)),
  }));
  const cpu = createBuiltinEngine({ model, tokenizer });
  const cases = [
    { what: 'all seven modules', modules: [...LORA_MODULES], fewer: 3 },
    { what: 'k_proj left out', modules: LORA_MODULES.filter((m) => m !== 'k_proj'), fewer: 1 },
  ];
  for (const skinnyRows of [undefined, 0]) {
    const route = skinnyRows === 0 ? 'GEMM route' : 'few-row route';
    const stacked = await createWebGpuEngine({ model, tokenizer, weightDtype: 'f32', skinnyRows });
    const perBranch = await createWebGpuEngine({ model, tokenizer, weightDtype: 'f32', skinnyRows, stackLoraA: false });
    for (const [i, k] of cases.entries()) {
      const v = adapter(10 + i, k.modules);
      for (const e of [cpu, stacked, perBranch]) await e.setAdapter(v);
      const got = await stacked.generate(prompts, 2, greedy);
      compare(t, `${route}, ${k.what}`, got, await cpu.generate(prompts, 2, greedy));
      const alone = await perBranch.generate(prompts, 2, greedy);
      t.same(
        got.map((x) => Array.from(x.tokenIds)),
        alone.map((x) => Array.from(x.tokenIds)),
        `${route}, ${k.what}: the ids of one A product per branch`,
      );
      const saved = (await dispatchesPerStep(perBranch, prompts[0]!)) - (await dispatchesPerStep(stacked, prompts[0]!));
      t.equal(saved, k.fewer * c.numLayers, `${route}, ${k.what}: ${k.fewer} dispatch(es) fewer per layer`);
    }
    await stacked.close();
    await perBranch.close();
  }
});

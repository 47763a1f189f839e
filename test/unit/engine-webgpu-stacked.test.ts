// The webgpu engine's stacked LoRA matrices (src/engines/webgpu/stacked-lora.ts) and fused projections
// (fused-projections.ts): the A products of q,k,v, and of gate,up, run as one product per group over the
// version's stacked A matrices, and q,k,v (decode) and gate,up (prefill and decode) run as one
// projection each, whose LoRA side path reads every member's B on its own columns. On both decode
// routes (SwiftShader's few-row route, and the GEMM route GPUs take above 8 rows), completions equal
// the builtin engine's, and the unstacked and unfused engines' ids; a decode step has exactly 3
// dispatches fewer per layer from stacking (1 or 2 when a group is not adapted in full) and 4 from
// fusing (few-row route; at least that on the GEMM route): 2 for q,k,v, 1 for gate,up and 1 for the
// SwiGLU folded into down_proj's loads, each only where its group is stacked or not adapted; the block
// holds scale·A of each group back to back.
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
import { isCpuAdapter } from '../../src/ops/webgpu/cpu-adapter.js';

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
  t.equal(block.length, c.numLayers * 5 * r * D, 'A of q,k,v and gate,up per layer (no B: fused reads the flat B)');
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
  // fewer: dispatches per layer saved by stacking; fused: by fusing (few-row route): q,k,v 2, gate,up 1
  // and the SwiGLU folded into down_proj 1 (where gate,up fuse); norms: by running each norm with the
  // stacked A product after it (one per stacked group).
  const cases = [
    { what: 'all seven modules', modules: [...LORA_MODULES], fewer: 3, fused: 4, norms: 2 },
    { what: 'k_proj left out', modules: LORA_MODULES.filter((m) => m !== 'k_proj'), fewer: 1, fused: 2, norms: 1 },
    {
      what: 'gate_proj left out',
      modules: LORA_MODULES.filter((m) => m !== 'gate_proj'),
      fewer: 2,
      fused: 2,
      norms: 1,
    },
    // q,k,v fused with no LoRA term, gate,up stacked.
    {
      what: 'no q,k,v adapted',
      modules: ['o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      fewer: 1,
      fused: 4,
      norms: 1,
    },
  ];
  for (const skinnyRows of [undefined, 0]) {
    const route = skinnyRows === 0 ? 'GEMM route' : 'few-row route';
    const base = { model, tokenizer, weightDtype: 'f32' as const, skinnyRows };
    // The fold is off by default on CPU adapters (decode-ops.ts defaultFoldSwiglu): asked for here.
    const fused = await createWebGpuEngine({ ...base, foldSwiglu: true });
    const unfused = { fuseQkv: false, fuseGateUp: false, foldNorm: false };
    const stacked = await createWebGpuEngine({ ...base, ...unfused });
    const perBranch = await createWebGpuEngine({ ...base, stackLoraA: false, ...unfused });
    const noFold = await createWebGpuEngine({ ...base, foldSwiglu: false });
    // Fusing on but no stacks: an adapter on q,k,v and gate,up runs them apart.
    const noStacks = await createWebGpuEngine({ ...base, stackLoraA: false });
    const noNormFold = await createWebGpuEngine({ ...base, foldSwiglu: true, foldNorm: false });
    for (const [i, k] of cases.entries()) {
      const v = adapter(10 + i, k.modules);
      for (const e of [cpu, fused, stacked, perBranch, noStacks, noFold, noNormFold]) await e.setAdapter(v);
      const got = await fused.generate(prompts, 2, greedy);
      compare(t, `${route}, ${k.what}`, got, await cpu.generate(prompts, 2, greedy));
      const ids = (cs: typeof got): number[][] => cs.map((x) => Array.from(x.tokenIds));
      for (const [other, what] of [
        [stacked, 'unfused'],
        [perBranch, 'one A product per branch'],
      ] as const)
        t.same(ids(got), ids(await other.generate(prompts, 2, greedy)), `${route}, ${k.what}: the ids ${what}`);
      const nBranch = await dispatchesPerStep(perBranch, prompts[0]!);
      const nStacked = await dispatchesPerStep(stacked, prompts[0]!);
      const nFused = await dispatchesPerStep(fused, prompts[0]!);
      const saved = nBranch - nStacked;
      t.equal(saved, k.fewer * c.numLayers, `${route}, ${k.what}: ${k.fewer} dispatch(es) fewer per layer stacked`);
      const byFusing = nStacked - nFused;
      const want = (k.fused + k.norms) * c.numLayers;
      // The GEMM route saves the split-K reduces too where a product was split (the tiny model's are not).
      const ok = skinnyRows === 0 ? byFusing >= want : byFusing === want;
      t.ok(
        ok,
        `${route}, ${k.what}: ${byFusing / c.numLayers} dispatch(es) fewer per layer fused (want ${want / c.numLayers})`,
      );
      const normsApart = await noNormFold.generate(prompts, 2, greedy);
      t.same(
        ids(normsApart),
        ids(got),
        `${route}, ${k.what}: the norms apart from the A products (foldNorm off): same ids`,
      );
      t.equal(
        (await dispatchesPerStep(noNormFold, prompts[0]!)) - nFused,
        k.norms * c.numLayers,
        `${route}, ${k.what}: … and ${k.norms} dispatch(es) more per layer`,
      );
      if (k.what === 'all seven modules') {
        const alone = await noStacks.generate(prompts, 2, greedy);
        t.same(
          ids(alone),
          ids(got),
          `${route}: without stacks, the fused engine runs q,k,v and gate,up apart (same ids)`,
        );
        t.equal(await dispatchesPerStep(noStacks, prompts[0]!), nBranch, `${route}: … and the per-branch dispatches`);
        t.same(
          noStacks.fused,
          { qkv: true, gateUp: true, swiglu: !isCpuAdapter(noStacks.ctx), norm: false },
          `${route}: the SwiGLU folded by default on GPUs only (this adapter: ${noStacks.ctx.info.adapter})`,
        );
        const apart = await noFold.generate(prompts, 2, greedy);
        t.same(ids(apart), ids(got), `${route}: the SwiGLU apart from down_proj (foldSwiglu off): same ids`);
        const nNoFold = await dispatchesPerStep(noFold, prompts[0]!);
        t.equal(nNoFold, nFused + c.numLayers, `${route}: … and one dispatch more per layer`);
      }
    }
    for (const e of [fused, stacked, perBranch, noStacks, noFold, noNormFold]) await e.close();
  }
});

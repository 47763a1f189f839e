// A deterministic LoRA adapter snapshot for checking weight sync (tests, benchmarks): PEFT-style
// names and shapes, A ~ U(±1/√in) like PEFT's init, B nonzero (as after some training) so the
// adapter visibly changes the model.
import type { AdapterLayout, AdapterSnapshot } from '../../model/adapter-layout.js';
import { Rng } from '../../util/rng.js';
import type { MlcModelConfig } from './mlc-artifacts.js';
import { mlcSlotFor } from './lora-merge.js';

export interface TestAdapterOptions {
  r?: number;
  alpha?: number;
  /** Short module names; default q,v in every layer plus gate,up,down in layer 0. */
  modules?: { layer: number; module: string }[];
  /** Uniform half-range of B. */
  bScale?: number;
}

export function makeTestAdapter(
  c: MlcModelConfig,
  version: number,
  seed: number,
  o: TestAdapterOptions = {},
): AdapterSnapshot {
  const r = o.r ?? 4;
  const alpha = o.alpha ?? 8;
  const mods = o.modules ?? [
    ...Array.from({ length: c.num_hidden_layers }, (_, l) => [
      { layer: l, module: 'self_attn.q_proj' },
      { layer: l, module: 'self_attn.v_proj' },
    ]).flat(),
    { layer: 0, module: 'mlp.gate_proj' },
    { layer: 0, module: 'mlp.up_proj' },
    { layer: 0, module: 'mlp.down_proj' },
  ];
  const layout: AdapterLayout = { tensors: [], size: 0 };
  for (const m of mods) {
    const name = `model.layers.${m.layer}.${m.module}`;
    const slot = mlcSlotFor(name, c);
    layout.tensors.push({ name: name + '.lora_A', shape: [r, slot.cols], offset: layout.size });
    layout.size += r * slot.cols;
    layout.tensors.push({ name: name + '.lora_B', shape: [slot.rows, r], offset: layout.size });
    layout.size += slot.rows * r;
  }
  const params = new Float32Array(layout.size);
  const rng = Rng.derive(seed, 'test-adapter');
  const bScale = o.bScale ?? 0.02;
  for (const tsr of layout.tensors) {
    const isA = tsr.name.endsWith('lora_A');
    const a = isA ? 1 / Math.sqrt(tsr.shape[1]!) : bScale;
    for (let i = 0; i < tsr.shape[0]! * tsr.shape[1]!; i++) params[tsr.offset + i] = a * (2 * rng.next() - 1);
  }
  const targetModules = [...new Set(mods.map((m) => m.module.split('.')[1]!))];
  return { version, settings: { r, alpha, dropout: 0, targetModules }, layout, params };
}

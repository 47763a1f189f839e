// Qwen2 weights in Hugging Face naming, as typed views. Base weights live in ONE SharedArrayBuffer
// (f32) so any worker can attach them zero-copy: describeModel() gives a plain, structured-clone-
// able object of SABs; attachModel() rebuilds the views on the other side.
import type { FloatArray } from '../ops/matmul.js';
import { Rng } from '../util/rng.js';
import type { Qwen2Config } from './config.js';

export interface LayerWeights<F = Float32Array> {
  inputNorm: F; // [D]
  q: F;
  qBias: F; // [H·hd, D], [H·hd]
  k: F;
  kBias: F; // [KV·hd, D], [KV·hd]
  v: F;
  vBias: F;
  o: F; // [D, H·hd]
  postNorm: F; // [D]
  gate: F;
  up: F; // [I, D]
  down: F; // [D, I]
}

export interface ModelWeights<F = Float32Array> {
  embed: F; // [V, D]
  layers: LayerWeights<F>[];
  finalNorm: F; // [D]
  /** [V, D]; the same array as embed when tie_word_embeddings. */
  lmHead: F;
}

export interface Model<F = Float32Array> {
  config: Qwen2Config;
  weights: ModelWeights<F>;
}

export interface WeightSpec {
  name: string;
  shape: number[];
}

const layerKeys: [keyof LayerWeights, string][] = [
  ['inputNorm', 'input_layernorm.weight'],
  ['q', 'self_attn.q_proj.weight'],
  ['qBias', 'self_attn.q_proj.bias'],
  ['k', 'self_attn.k_proj.weight'],
  ['kBias', 'self_attn.k_proj.bias'],
  ['v', 'self_attn.v_proj.weight'],
  ['vBias', 'self_attn.v_proj.bias'],
  ['o', 'self_attn.o_proj.weight'],
  ['postNorm', 'post_attention_layernorm.weight'],
  ['gate', 'mlp.gate_proj.weight'],
  ['up', 'mlp.up_proj.weight'],
  ['down', 'mlp.down_proj.weight'],
];

function layerShape(c: Qwen2Config, key: keyof LayerWeights): number[] {
  const D = c.hiddenSize,
    Q = c.numHeads * c.headDim,
    KV = c.numKvHeads * c.headDim,
    I = c.intermediateSize;
  switch (key) {
    case 'inputNorm':
    case 'postNorm':
      return [D];
    case 'q':
      return [Q, D];
    case 'qBias':
      return [Q];
    case 'k':
    case 'v':
      return [KV, D];
    case 'kBias':
    case 'vBias':
      return [KV];
    case 'o':
      return [D, Q];
    case 'gate':
    case 'up':
      return [I, D];
    case 'down':
      return [D, I];
  }
}

/** Every stored tensor in checkpoint order (lm_head.weight only when embeddings are untied). */
export function weightSpecs(c: Qwen2Config): WeightSpec[] {
  const out: WeightSpec[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocabSize, c.hiddenSize] }];
  for (let l = 0; l < c.numLayers; l++) {
    for (const [key, suffix] of layerKeys) out.push({ name: `model.layers.${l}.${suffix}`, shape: layerShape(c, key) });
  }
  out.push({ name: 'model.norm.weight', shape: [c.hiddenSize] });
  if (!c.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [c.vocabSize, c.hiddenSize] });
  return out;
}

export const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** Builds a ModelWeights whose tensors come from alloc(name, size), in weightSpecs order. */
export function buildWeights<F>(c: Qwen2Config, alloc: (name: string, size: number) => F): ModelWeights<F> {
  const embed = alloc('model.embed_tokens.weight', c.vocabSize * c.hiddenSize);
  const layers: LayerWeights<F>[] = [];
  for (let l = 0; l < c.numLayers; l++) {
    const lw = {} as LayerWeights<F>;
    for (const [key, suffix] of layerKeys) lw[key] = alloc(`model.layers.${l}.${suffix}`, numel(layerShape(c, key)));
    layers.push(lw);
  }
  const finalNorm = alloc('model.norm.weight', c.hiddenSize);
  const lmHead = c.tieWordEmbeddings ? embed : alloc('lm_head.weight', c.vocabSize * c.hiddenSize);
  return { embed, layers, finalNorm, lmHead };
}

/** (name, tensor) for every stored tensor, in weightSpecs order. */
export function weightEntries<F>(c: Qwen2Config, w: ModelWeights<F>): [string, F][] {
  const out: [string, F][] = [['model.embed_tokens.weight', w.embed]];
  w.layers.forEach((lw, l) => {
    for (const [key, suffix] of layerKeys) out.push([`model.layers.${l}.${suffix}`, lw[key]]);
  });
  out.push(['model.norm.weight', w.finalNorm]);
  if (!c.tieWordEmbeddings) out.push(['lm_head.weight', w.lmHead]);
  return out;
}

/** All weights packed in one SharedArrayBuffer, in weightSpecs order. */
export function allocSharedWeights(c: Qwen2Config): { buffer: SharedArrayBuffer; weights: ModelWeights<Float32Array> } {
  const total = weightSpecs(c).reduce((s, t) => s + numel(t.shape), 0);
  const buffer = new SharedArrayBuffer(total * 4);
  let off = 0;
  const weights = buildWeights(c, (_name, size) => {
    const a = new Float32Array(buffer, off * 4, size);
    off += size;
    return a;
  });
  return { buffer, weights };
}

/** Zeroed weights of the same structure (e.g. full-parameter gradients) in any float type. */
export function zerosLike<F extends FloatArray>(c: Qwen2Config, make: (size: number) => F): ModelWeights<F> {
  return buildWeights(c, (_n, size) => make(size));
}

/** A plain object (structured-clone safe) describing a model whose weights live in one SAB. */
export interface ModelDescriptor {
  config: Qwen2Config;
  buffer: SharedArrayBuffer;
}

export function describeModel(model: Model<Float32Array>): ModelDescriptor {
  const buf = model.weights.embed.buffer;
  if (!(buf instanceof SharedArrayBuffer) || model.weights.embed.byteOffset !== 0) {
    throw new Error(
      'describeModel: weights are not in one SharedArrayBuffer (load with loadModel or createRandomModel)',
    );
  }
  return { config: model.config, buffer: buf };
}

export function attachModel(desc: ModelDescriptor): Model<Float32Array> {
  const c = desc.config;
  const total = weightSpecs(c).reduce((s, t) => s + numel(t.shape), 0);
  if (desc.buffer.byteLength !== total * 4)
    throw new Error(`attachModel: buffer holds ${desc.buffer.byteLength} bytes, config needs ${total * 4}`);
  let off = 0;
  const weights = buildWeights(c, (_n, size) => {
    const a = new Float32Array(desc.buffer, off * 4, size);
    off += size;
    return a;
  });
  return { config: c, weights };
}

/**
 * A randomly initialised model (as transformers initialises Qwen2: normal(0, 0.02) matrices,
 * zero biases, unit norms), for tests and for training a tiny model from scratch.
 * biasStd > 0 gives non-zero biases and norm weights (useful for gradient checks).
 */
export function createRandomModel(
  c: Qwen2Config,
  seed: number,
  opts: { std?: number; perturbNorms?: number } = {},
): Model<Float32Array> {
  const std = opts.std ?? 0.02;
  const perturb = opts.perturbNorms ?? 0;
  const rng = new Rng(seed);
  const { weights } = allocSharedWeights(c);
  for (const [name, t] of weightEntries(c, weights)) {
    if (name.endsWith('layernorm.weight') || name === 'model.norm.weight') {
      for (let i = 0; i < t.length; i++) t[i] = 1 + perturb * rng.normal();
    } else if (name.endsWith('.bias')) {
      for (let i = 0; i < t.length; i++) t[i] = perturb * rng.normal();
    } else {
      for (let i = 0; i < t.length; i++) t[i] = std * rng.normal();
    }
  }
  return { config: c, weights };
}

/** A float64 copy (for gradient checks). */
export function toFloat64(model: Model<Float32Array>): Model<Float64Array> {
  const c = model.config;
  const src = new Map(weightEntries(c, model.weights));
  return { config: c, weights: buildWeights(c, (name) => Float64Array.from(src.get(name)!)) };
}

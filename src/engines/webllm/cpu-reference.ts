// An independent f32 CPU forward of a Hugging Face Qwen2 checkpoint (unfused q/k/v and gate/up,
// LoRA applied unmerged as y += (alpha/r)·B·(A·x)), single sequence with a KV cache. It checks the
// WebLLM engine end to end — converter fusing, merged sync, and the GPU kernels — against code that
// shares none of those paths. Not a serving engine: one sequence, no batching.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import type { AdapterSnapshot } from '../../model/adapter-layout.js';
import { matmulNT } from '../../ops/matmul.js';
import { readSafetensors } from '../../model/safetensors.js';

interface RefConfig {
  d: number;
  I: number;
  L: number;
  H: number;
  KV: number;
  hd: number;
  V: number;
  eps: number;
  theta: number;
}

export interface ReferenceModel {
  cfg: RefConfig;
  w: Map<string, Float32Array>;
}

export function loadReferenceModel(hfDir: string): ReferenceModel {
  const c = JSON.parse(readFileSync(join(hfDir, 'config.json'), 'utf8')) as Record<string, number>;
  const cfg: RefConfig = {
    d: c.hidden_size!,
    I: c.intermediate_size!,
    L: c.num_hidden_layers!,
    H: c.num_attention_heads!,
    KV: c.num_key_value_heads ?? c.num_attention_heads!,
    hd: c.hidden_size! / c.num_attention_heads!,
    V: c.vocab_size!,
    eps: c.rms_norm_eps ?? 1e-6,
    theta: c.rope_theta ?? 10000,
  };
  const file = join(hfDir, 'model.safetensors');
  const w = new Map<string, Float32Array>();
  for (const [name, t] of readSafetensors(file).tensors) w.set(name, t.data);
  if (!w.has('lm_head.weight')) w.set('lm_head.weight', w.get('model.embed_tokens.weight')!);
  return { cfg, w };
}

/** Log-softmax(logits / T) and argmax of the next token after each step; f64 reductions. */
export interface RefStep {
  argmax: number;
  logprobs: Float64Array;
}

export class ReferenceDecoder {
  private readonly k: Float32Array[];
  private readonly v: Float32Array[];
  private pos = 0;
  private readonly lora = new Map<string, { a: Float32Array; b: Float32Array; r: number; scale: number }>();

  constructor(
    private readonly m: ReferenceModel,
    adapter: AdapterSnapshot | null,
    maxLen = 64,
  ) {
    const { L, KV, hd } = m.cfg;
    this.k = Array.from({ length: L }, () => new Float32Array(maxLen * KV * hd));
    this.v = Array.from({ length: L }, () => new Float32Array(maxLen * KV * hd));
    if (adapter) {
      const by = new Map(adapter.layout.tensors.map((t) => [t.name, t]));
      for (const t of adapter.layout.tensors) {
        if (!t.name.endsWith('.lora_A')) continue;
        const mod = t.name.slice(0, -'.lora_A'.length);
        const bt = by.get(mod + '.lora_B')!;
        const r = adapter.settings.r;
        this.lora.set(mod, {
          a: adapter.params.slice(t.offset, t.offset + t.shape[0]! * t.shape[1]!),
          b: adapter.params.slice(bt.offset, bt.offset + bt.shape[0]! * bt.shape[1]!),
          r,
          scale: adapter.settings.alpha / r,
        });
      }
    }
  }

  private linear(out: Float32Array, x: Float32Array, mod: string, outDim: number, inDim: number): void {
    matmulNT(out, x, this.m.w.get(mod + '.weight')!, 1, inDim, outDim);
    const bias = this.m.w.get(mod + '.bias');
    if (bias) for (let i = 0; i < outDim; i++) out[i]! += bias[i]!;
    const l = this.lora.get(mod);
    if (l) {
      const xa = new Float32Array(l.r);
      matmulNT(xa, x, l.a, 1, inDim, l.r);
      for (let i = 0; i < l.r; i++) xa[i]! *= l.scale;
      matmulNT(out, xa, l.b, 1, l.r, outDim, true);
    }
  }

  private rmsnorm(out: Float32Array, x: Float32Array, w: Float32Array): void {
    let ss = 0;
    for (let i = 0; i < x.length; i++) ss += x[i]! * x[i]!;
    const inv = 1 / Math.sqrt(ss / x.length + this.m.cfg.eps);
    for (let i = 0; i < x.length; i++) out[i] = x[i]! * inv * w[i]!;
  }

  private rope(x: Float32Array, heads: number): void {
    const { hd, theta } = this.m.cfg;
    const half = hd / 2;
    for (let i = 0; i < half; i++) {
      const ang = this.pos * Math.pow(theta, (-2 * i) / hd);
      const c = Math.cos(ang);
      const s = Math.sin(ang);
      for (let h = 0; h < heads; h++) {
        const o = h * hd;
        const x1 = x[o + i]!;
        const x2 = x[o + i + half]!;
        x[o + i] = x1 * c - x2 * s;
        x[o + i + half] = x2 * c + x1 * s;
      }
    }
  }

  /** Feed one token; returns the next-token distribution under logits / temperature. */
  step(token: number, temperature = 1): RefStep {
    const { d, I, L, H, KV, hd, V } = this.m.cfg;
    const w = this.m.w;
    const h = w.get('model.embed_tokens.weight')!.slice(token * d, (token + 1) * d);
    const xn = new Float32Array(d);
    const q = new Float32Array(H * hd);
    const att = new Float32Array(H * hd);
    const tmp = new Float32Array(d);
    const g = new Float32Array(I);
    const u = new Float32Array(I);
    const t = this.pos;
    for (let l = 0; l < L; l++) {
      const p = `model.layers.${l}.`;
      this.rmsnorm(xn, h, w.get(p + 'input_layernorm.weight')!);
      this.linear(q, xn, p + 'self_attn.q_proj', H * hd, d);
      const kRow = this.k[l]!.subarray(t * KV * hd, (t + 1) * KV * hd);
      const vRow = this.v[l]!.subarray(t * KV * hd, (t + 1) * KV * hd);
      this.linear(kRow, xn, p + 'self_attn.k_proj', KV * hd, d);
      this.linear(vRow, xn, p + 'self_attn.v_proj', KV * hd, d);
      this.rope(q, H);
      this.rope(kRow, KV);
      const scores = new Float64Array(t + 1);
      for (let hh = 0; hh < H; hh++) {
        const kvh = Math.floor(hh / (H / KV));
        let mx = -Infinity;
        for (let j = 0; j <= t; j++) {
          let s = 0;
          for (let e = 0; e < hd; e++) s += q[hh * hd + e]! * this.k[l]![(j * KV + kvh) * hd + e]!;
          scores[j] = s / Math.sqrt(hd);
          mx = Math.max(mx, scores[j]!);
        }
        let z = 0;
        for (let j = 0; j <= t; j++) z += scores[j] = Math.exp(scores[j]! - mx);
        for (let e = 0; e < hd; e++) {
          let acc = 0;
          for (let j = 0; j <= t; j++) acc += scores[j]! * this.v[l]![(j * KV + kvh) * hd + e]!;
          att[hh * hd + e] = acc / z;
        }
      }
      this.linear(tmp, att, p + 'self_attn.o_proj', d, H * hd);
      for (let i = 0; i < d; i++) h[i]! += tmp[i]!;
      this.rmsnorm(xn, h, w.get(p + 'post_attention_layernorm.weight')!);
      this.linear(g, xn, p + 'mlp.gate_proj', I, d);
      this.linear(u, xn, p + 'mlp.up_proj', I, d);
      for (let i = 0; i < I; i++) g[i] = (g[i]! / (1 + Math.exp(-g[i]!))) * u[i]!;
      this.linear(tmp, g, p + 'mlp.down_proj', d, I);
      for (let i = 0; i < d; i++) h[i]! += tmp[i]!;
    }
    this.rmsnorm(xn, h, w.get('model.norm.weight')!);
    const logits = new Float32Array(V);
    matmulNT(logits, xn, w.get('lm_head.weight')!, 1, d, V);
    this.pos++;
    const T = Math.max(temperature, 1e-6);
    let mx = -Infinity;
    let arg = 0;
    for (let i = 0; i < V; i++)
      if (logits[i]! > mx) {
        mx = logits[i]!;
        arg = i;
      }
    let z = 0;
    for (let i = 0; i < V; i++) z += Math.exp((logits[i]! - mx) / T);
    const lz = Math.log(z);
    const lp = new Float64Array(V);
    for (let i = 0; i < V; i++) lp[i] = (logits[i]! - mx) / T - lz;
    return { argmax: arg, logprobs: lp };
  }
}

/** Greedy decode of `steps` tokens after `prompt`; per token: id, its log-prob, and the top-1/top-2 margin. */
export function referenceGreedy(
  m: ReferenceModel,
  adapter: AdapterSnapshot | null,
  prompt: ArrayLike<number>,
  steps: number,
  temperature = 1,
): { ids: number[]; logprobs: number[]; margins: number[] } {
  const dec = new ReferenceDecoder(m, adapter, prompt.length + steps + 1);
  let st: RefStep | null = null;
  for (let i = 0; i < prompt.length; i++) st = dec.step(prompt[i]!, temperature);
  const ids: number[] = [];
  const logprobs: number[] = [];
  const margins: number[] = [];
  for (let s = 0; s < steps; s++) {
    const lp = st!.logprobs;
    let second = -Infinity;
    for (let i = 0; i < lp.length; i++) if (i !== st!.argmax && lp[i]! > second) second = lp[i]!;
    ids.push(st!.argmax);
    logprobs.push(lp[st!.argmax]!);
    margins.push(lp[st!.argmax]! - second);
    if (s + 1 < steps) st = dec.step(st!.argmax, temperature);
  }
  return { ids, logprobs, margins };
}

/** Teacher-forced scoring of `ids` after `prompt`: each token's log-prob and the reference's own argmax there. */
export function referenceScore(
  m: ReferenceModel,
  adapter: AdapterSnapshot | null,
  prompt: ArrayLike<number>,
  ids: ArrayLike<number>,
  temperature = 1,
): { logprobs: number[]; argmax: number[] } {
  const dec = new ReferenceDecoder(m, adapter, prompt.length + ids.length + 1);
  let st: RefStep | null = null;
  for (let i = 0; i < prompt.length; i++) st = dec.step(prompt[i]!, temperature);
  const logprobs: number[] = [];
  const argmax: number[] = [];
  for (let s = 0; s < ids.length; s++) {
    logprobs.push(st!.logprobs[ids[s]!]!);
    argmax.push(st!.argmax);
    if (s + 1 < ids.length) st = dec.step(ids[s]!, temperature);
  }
  return { logprobs, argmax };
}

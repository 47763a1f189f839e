// The LoRA adapter as one flat Float32Array plus a layout table. Everything that moves adapter
// weights (optimizer, WeightStore publish, engine sync, checkpoints) works on the flat block, so a
// sync is one copy of one buffer, never a per-parameter loop of messages.
//
// Tensor names are Hugging Face module paths with PEFT suffixes, e.g.
//   model.layers.3.self_attn.q_proj.lora_A   shape [r, in_features]
//   model.layers.3.self_attn.q_proj.lora_B   shape [out_features, r]
// On disk (PEFT adapter_model.safetensors) they become
//   base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight

export interface AdapterTensorSpec {
  name: string;
  shape: number[];
  /** Offset in elements (not bytes) into the flat block. */
  offset: number;
}

export interface AdapterLayout {
  tensors: AdapterTensorSpec[];
  /** Total element count of the flat block. */
  size: number;
}

export interface LoraSettings {
  r: number;
  alpha: number;
  dropout: number;
  /** Short module names: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj. */
  targetModules: string[];
}

/** A consistent view of one adapter version, as engines receive it. */
export interface AdapterSnapshot {
  version: number;
  settings: LoraSettings;
  layout: AdapterLayout;
  params: Float32Array;
}

"""transformers anchor for bench:gpu-rollout: batched `generate` in bf16 on the same shapes.

Random weights of DeepSeek-R1-Distill-Qwen-1.5B / Qwen2.5-0.5B with a PEFT LoRA adapter applied
unmerged (r 32 / alpha 128 on all seven projections, small random B) as loractor's engine applies it,
batch sizes 1..64 of random prompts of --prompt tokens, sampling at temperature 1 with EOS never
stopping a sequence (min_new_tokens = max_new_tokens). Decode tokens/s = batch x (tokens - 1) /
(time of the whole generate - time of a 1-token generate, i.e. the prefill). Writes JSON.
"""
import argparse, json, time

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM
from peft import LoraConfig, get_peft_model

SHAPES = {
    "1.5b": dict(hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2, intermediate_size=8960, vocab_size=151936, rope_theta=10000.0, tie_word_embeddings=False),
    "0.5b": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2, intermediate_size=4864, vocab_size=151936, rope_theta=1000000.0, tie_word_embeddings=True),
    "quick": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=176, vocab_size=1000, rope_theta=10000.0, tie_word_embeddings=False),
}
MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def build(name, attn):
    torch.manual_seed(0)
    cfg = Qwen2Config(**SHAPES[name], rms_norm_eps=1e-6, max_position_embeddings=32768, attn_implementation=attn)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        base = Qwen2ForCausalLM(cfg).to(torch.bfloat16)
    model = get_peft_model(base, LoraConfig(r=32, lora_alpha=128, lora_dropout=0.0, target_modules=MODULES, task_type="CAUSAL_LM"))
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 1e-3)
    model.eval()
    return model, cfg


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed_generate(model, ids, new_tokens):
    sync(); s = time.perf_counter()
    with torch.no_grad():
        model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                       do_sample=True, temperature=1.0, top_p=1.0, top_k=0, pad_token_id=0)
    sync()
    return time.perf_counter() - s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="1.5b,0.5b")
    ap.add_argument("--batches", default="1,2,4,8,16,32,48,64")
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--attn", default="sdpa")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    for name in a.shapes.split(","):
        model, cfg = build(name, a.attn)
        g = torch.Generator(device=dev).manual_seed(5)
        for b in [int(x) for x in a.batches.split(",")]:
            try:
                ids = torch.randint(0, cfg.vocab_size - 1, (b, a.prompt), device=dev, generator=g)
                timed_generate(model, ids, 2)  # warm-up
                prefill = timed_generate(model, ids, 1)
                full = timed_generate(model, ids, a.tokens)
                decode = max(full - prefill, 1e-9)
                row = dict(shape=name, batch=b, decodeTokensPerS=b * (a.tokens - 1) / decode, msPerStep=1e3 * decode / (a.tokens - 1), prefillS=prefill)
            except torch.OutOfMemoryError as e:
                row = dict(shape=name, batch=b, error=f"OOM: {e}")
                torch.cuda.empty_cache()
            rows.append(row)
            print(json.dumps(row), flush=True)
        del model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    info = dict(torch=torch.__version__, device=torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu", attn=a.attn, prompt=a.prompt, tokens=a.tokens)
    with open(a.out, "w") as f:
        json.dump(dict(info=info, rows=rows), f, indent=2)


if __name__ == "__main__":
    main()

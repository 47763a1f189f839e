"""PyTorch anchor for bench:gpu-learner: the same learner step in eager PyTorch bf16 with PEFT LoRA.

Same shapes (random weights of DeepSeek-R1-Distill-Qwen-1.5B / Qwen2.5-0.5B), same batch
(sequences x (prompt + completion) tokens, micro-batches of --micro-batch sequences), same work:
reference log-probs with the adapter disabled, policy forward + backward into LoRA only
(r 32 / alpha 128 / dropout 0.05 on all seven projections), AdamW. Gradient checkpointing on/off
mirrors loractor's per-layer recomputation. Writes JSON with seconds per phase, tokens/s and peak
memory (torch.cuda.max_memory_allocated).
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


def token_logprobs(model, ids, prompt, temperature):
    logits = model(input_ids=ids).logits[:, prompt - 1:-1, :].float() / temperature
    return torch.gather(torch.log_softmax(logits, dim=-1), 2, ids[:, prompt:].unsqueeze(-1)).squeeze(-1)


def bench(name, a, checkpointing):
    torch.manual_seed(0)
    cfg = Qwen2Config(**SHAPES[name], rms_norm_eps=1e-6, max_position_embeddings=131072, attn_implementation=a.attn)
    with torch.device("cuda"):
        base = Qwen2ForCausalLM(cfg).to(torch.bfloat16)
    base.requires_grad_(False)
    if checkpointing:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        base.enable_input_require_grads()
    model = get_peft_model(base, LoraConfig(r=32, lora_alpha=128, lora_dropout=0.05, target_modules=MODULES, task_type="CAUSAL_LM"))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-6)
    T = a.prompt + a.completion
    g = torch.Generator(device="cuda").manual_seed(3)
    micro = [torch.randint(0, cfg.vocab_size, (min(a.micro_batch, a.sequences - i), T), device="cuda", generator=g) for i in range(0, a.sequences, a.micro_batch)]

    def step():
        t = dict(reference=0.0, policy_and_backward=0.0, optimizer=0.0)
        opt.zero_grad(set_to_none=True)
        for ids in micro:
            torch.cuda.synchronize(); s = time.perf_counter()
            with torch.no_grad(), model.disable_adapter():
                token_logprobs(model, ids, a.prompt, 0.7)
            torch.cuda.synchronize(); t["reference"] += time.perf_counter() - s; s = time.perf_counter()
            lp = token_logprobs(model, ids, a.prompt, 0.7)
            (lp * 1e-4).sum().backward()
            torch.cuda.synchronize(); t["policy_and_backward"] += time.perf_counter() - s
        s = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        torch.cuda.synchronize(); t["optimizer"] = time.perf_counter() - s
        return t

    step()
    torch.cuda.reset_peak_memory_stats()
    best = min((step() for _ in range(a.reps)), key=lambda t: sum(t.values()))
    step_s = sum(best.values())
    row = dict(shape=name, framework="pytorch-eager-bf16+peft", recompute=checkpointing, stepS=step_s, referenceS=best["reference"],
               policyAndBackwardS=best["policy_and_backward"], optimizerS=best["optimizer"], tokensPerS=a.sequences * T / step_s,
               peakGiB=torch.cuda.max_memory_allocated() / 2**30)
    del model, base, opt
    torch.cuda.empty_cache()
    return row


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shapes", default="1.5b,0.5b")
    p.add_argument("--sequences", type=int, default=8)
    p.add_argument("--prompt", type=int, default=512)
    p.add_argument("--completion", type=int, default=3584)
    p.add_argument("--micro-batch", type=int, default=1)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--recompute", default="both")
    p.add_argument("--attn", default="sdpa")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    modes = [True, False] if a.recompute == "both" else [a.recompute != "off"]
    rows = []
    for name in a.shapes.split(","):
        for ck in modes:
            try:
                rows.append(bench(name, a, ck))
            except torch.OutOfMemoryError as e:
                rows.append(dict(shape=name, framework="pytorch-eager-bf16+peft", recompute=ck, error=f"out of memory: {e}"))
                torch.cuda.empty_cache()
            print(json.dumps(rows[-1]), flush=True)
    json.dump(dict(device=torch.cuda.get_device_name(), torch=torch.__version__, sequences=a.sequences, prompt=a.prompt, completion=a.completion, microBatch=a.micro_batch, rows=rows), open(a.out, "w"), indent=2)


if __name__ == "__main__":
    main()

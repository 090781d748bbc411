"""Decode speed of arvid's LM against `transformers`' `LlamaForCausalLM.generate`, same weights.

    python benchmarks/lm_decode.py [--config tiny] [--tokens 256] [--repeats 3]

Both models get the same configuration and weights (copied through `arvid.lm.hf.to_hf`), the
same prompt (one full text prefix), and generate the same number of tokens greedily with a KV
cache, at batch 1 and at batch 2 (the conditional and unconditional rows of guidance). Each is
timed at 1 thread and at the machine's default thread count, and its best is compared.
The table also gives the share of arvid's eager decode time spent outside matrix
multiplications (from `torch.profiler`), and checks on the prompt that both compute the same logits (randomly
initialised weights give near-uniform logits, so greedy tokens may differ by float rounding).
A preset with `grid_positions` is timed without them (Llama has no such embeddings; they cost
three table lookups and an add per step). Per-digit code embeddings (`code_levels`) stay: the export
folds them into Llama's embedding table. Prints a table; a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import time

import torch

from arvid.configs import load_config, resolve_preset
from arvid.kernels import CAUSAL
from arvid.lm.hf import to_hf
from arvid.lm.model import Transformer
from arvid.lm.train import LMRunConfig

MATRIX_OPS = ("mm", "addmm", "bmm", "baddbmm", "linear", "matmul", "_mkl", "mkldnn", "scaled_dot_product")


def arvid_generate(model: Transformer, prompt: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """Greedy decoding with the static cache: prompt (b n) -> new tokens (b new_tokens)."""
    batch, length = prompt.shape
    model.setup_cache(batch, length + new_tokens)
    token = model.prefill(prompt, torch.arange(length))[:, -1:].argmax(-1)
    generated = [token]
    for index in range(new_tokens - 1):
        token = model.decode(token, torch.tensor([length + index])).argmax(-1)
        generated.append(token)
    return torch.cat(generated, dim=1)


def hf_generate(hf_model, prompt: torch.Tensor, new_tokens: int) -> torch.Tensor:
    with torch.no_grad():
        out = hf_model.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                                use_cache=True, pad_token_id=0, attention_mask=torch.ones_like(prompt))
    return out[:, prompt.shape[1]:]


def best_tokens_per_second(run, tokens: int, repeats: int) -> float:
    run()  # warm-up (and compilation)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return tokens / best


def share_outside_matrix_work(run) -> float:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        start = time.perf_counter()
        run()
        total_us = (time.perf_counter() - start) * 1e6
    matrix_us = sum(event.self_cpu_time_total for event in profile.key_averages()
                    if any(name in event.key.lower() for name in MATRIX_OPS))
    return max(0.0, 1 - matrix_us / total_us)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="tiny", help="LM preset or YAML (default tiny)")
    parser.add_argument("--tokens", type=int, default=256, help="new tokens per run (default 256)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    config = load_config(LMRunConfig, resolve_preset(args.config, "lm")).model
    if config.grid_positions:
        print("timing the preset without its grid-position embeddings, which transformers' Llama lacks")
        config = dataclasses.replace(config, grid_positions=False)
    torch.manual_seed(0)
    model = Transformer(config).eval()
    hf_model = to_hf(model)
    default_threads = torch.get_num_threads()
    prompt = torch.randint(0, config.vocab_size, (1, config.prefix_len))
    print(f"LM {args.config}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, "
          f"{args.tokens} new tokens after a {config.prefix_len}-token prompt, best of {args.repeats}")
    compiled = copy.deepcopy(model)
    compiled.compile_decode()
    paths = {"transformers": lambda p, n: hf_generate(hf_model, p, n),
             "arvid eager": lambda p, n: arvid_generate(model, p, n),
             "arvid compiled": lambda p, n: arvid_generate(compiled, p, n)}
    print(f"{'batch':>5} {'path':>16} {'threads':>7} {'tokens/s':>9}")
    summary = []
    for batch in (1, 2):
        prompts = prompt.expand(batch, -1).contiguous()
        best = {}
        for threads in sorted({1, default_threads}):
            torch.set_num_threads(threads)
            for name, generate in paths.items():
                value = best_tokens_per_second(lambda g=generate, p=prompts: g(p, args.tokens), batch * args.tokens,
                                               args.repeats)
                print(f"{batch:>5} {name:>16} {threads:>7} {value:>9.1f}")
                if value > best.get(name, (0, 0))[1]:
                    best[name] = (threads, value)
        arvid_name = max(("arvid eager", "arvid compiled"), key=lambda name: best[name][1])
        # Profiled on the eager path: the compiled one calls its matrix kernels from generated C++,
        # out of the profiler's sight.
        torch.set_num_threads(best["arvid eager"][0])
        outside = share_outside_matrix_work(lambda p=prompts: paths["arvid eager"](p, args.tokens))
        with torch.no_grad():
            # transformers' Llama is causal throughout, so compare under a causal mask.
            causal_logits = model.lm_head(model.backbone(model.input_embedding()[prompts], CAUSAL))
            logit_diff = (causal_logits - hf_model(prompts).logits).abs().max().item()
        summary.append(f"batch {batch}: {arvid_name} ({best[arvid_name][0]} thread(s)) / transformers "
                       f"({best['transformers'][0]} thread(s)) = {best[arvid_name][1] / best['transformers'][1]:.2f}x; "
                       f"arvid eager's time outside matrix work {100 * outside:.0f}%; max |logit difference| on the prompt "
                       f"{logit_diff:.1e}")
    torch.set_num_threads(default_threads)
    print("\n".join(summary))


if __name__ == "__main__":
    main()

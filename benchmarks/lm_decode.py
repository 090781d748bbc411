"""Decode speed of arvid's LM against `transformers`' `LlamaForCausalLM.generate`, same weights.

    python benchmarks/lm_decode.py [--config tiny] [--tokens 256] [--repeats 3]
    python benchmarks/lm_decode.py --config base --device cuda --dtype bf16 --json decode.json

Both models get the same configuration and weights (copied through `arvid.lm.hf.to_hf`), the
same prompt (one full text prefix), and generate the same number of tokens greedily with a KV
cache, at batch 1 and at batch 2 (the conditional and unconditional rows of guidance). Each is
timed at 1 thread and at the machine's default thread count, and its best is compared.
The table also gives the share of arvid's eager decode time spent outside matrix
multiplications (from `torch.profiler`), and checks on the prompt that both compute the same logits (randomly
initialised weights give near-uniform logits, so greedy tokens may differ by float rounding).
A preset with `grid_positions` is timed without them (Llama has no such embeddings; they cost
three table lookups and an add per step), and with a causal text prefix (`bidirectional_prefix`
false: Llama's causal mask would otherwise read the prompt differently; the mask costs the same).
Per-digit code embeddings (`code_levels`) stay: the export folds them into Llama's embedding table.
Prints a table; a benchmark, not a test.

On `--device cuda` both models run there in `--dtype` (bf16 or fp32), every run ends by waiting for
the GPU, the thread count is left alone and the profile (a CPU measure) is skipped. `--paths`
picks which of transformers, eager, compiled and fused run (each one that fails is reported and
skipped); fused is the compiled step in runs of `FUSED_STEPS` greedy tokens per call, one graph a
run (`arvid.sampling.fused`, the `--fused` lever of streaming).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time

import torch

from arvid.configs import load_config, resolve_preset
from arvid.kernels import CAUSAL
from arvid.lm.hf import to_hf
from arvid.lm.model import Transformer
from arvid.lm.train import LMRunConfig
from device_info import device_name, synchronize, write_json  # benchmarks/device_info.py, beside this script

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
PATHS = {"transformers": "transformers", "eager": "arvid eager", "compiled": "arvid compiled",
         "fused": "arvid fused"}
FUSED_STEPS = 8  # tokens per call of the "fused" path (a divisor of the default 256 new tokens)
MATRIX_OPS = ("mm", "addmm", "bmm", "baddbmm", "linear", "matmul", "_mkl", "mkldnn", "scaled_dot_product")


def arvid_generate(model: Transformer, prompt: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """Greedy decoding with the static cache: prompt (b n) -> new tokens (b new_tokens)."""
    batch, length = prompt.shape
    model.setup_cache(batch, length + new_tokens)  # positions stay on the CPU: the model moves them
    token = model.prefill(prompt, torch.arange(length))[:, -1:].argmax(-1)
    generated = [token]
    for index in range(new_tokens - 1):
        token = model.decode(token, torch.tensor([length + index])).argmax(-1)
        generated.append(token)
    return torch.cat(generated, dim=1)


def arvid_generate_fused(model: Transformer, prompt: torch.Tensor, new_tokens: int, steps: int) -> torch.Tensor:
    """Greedy decoding by runs of `steps` tokens per call (`arvid.sampling.fused.FusedDraws`, each run
    one compiled graph with the decode step compiled): prompt (b n) -> new tokens (b new_tokens). Every
    run feeds its tokens, so a count that `steps` does not divide costs up to steps - 1 more."""
    from arvid.sampling.fused import FusedDraws
    from arvid.sampling.logits import SamplerConfig

    batch, length = prompt.shape
    runs = -(-new_tokens // steps)
    model.setup_cache(batch, length + runs * steps)
    logits = model.prefill(prompt, torch.arange(length))[:, -1]
    greedy = FusedDraws(model, SamplerConfig(temperature=0), slice(None), 0, steps)
    no_uniforms = torch.zeros(steps, batch, device=prompt.device)  # greedy: they only set the run's length
    generated = []
    for run in range(runs):
        tokens, logits = greedy.run(logits, torch.tensor([length + run * steps], device=prompt.device), no_uniforms, 1)
        generated.append(tokens.T)
    return torch.cat(generated, dim=1)[:, :new_tokens]


def hf_generate(hf_model, prompt: torch.Tensor, new_tokens: int) -> torch.Tensor:
    with torch.no_grad():
        out = hf_model.generate(prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                                use_cache=True, pad_token_id=0, attention_mask=torch.ones_like(prompt))
    return out[:, prompt.shape[1]:]


def best_tokens_per_second(run, tokens: int, repeats: int, device: torch.device) -> float:
    run()  # warm-up (and compilation)
    synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        synchronize(device)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="tiny", help="LM preset or YAML (default tiny)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a preset override, e.g. model.n_layers=2 (repeatable)")
    parser.add_argument("--tokens", type=int, default=256, help="new tokens per run (default 256)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    parser.add_argument("--dtype", choices=DTYPES, default="fp32", help="weights and cache of both models")
    parser.add_argument("--batches", default="1,2", help="batch sizes (default 1,2: guidance's two rows)")
    parser.add_argument("--paths", default="transformers,eager,compiled,fused",
                        help=f"which of {', '.join(PATHS)} to run (default all)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    wanted = [PATHS[name] for name in args.paths.split(",") if name]

    config = load_config(LMRunConfig, resolve_preset(args.config, "lm"), args.set).model
    if config.grid_positions or config.bidirectional_prefix:
        print("timing the preset without grid-position embeddings and with a causal prefix, as transformers' "
              "Llama computes it")
        config = dataclasses.replace(config, grid_positions=False, bidirectional_prefix=False)
    torch.manual_seed(0)
    with device:  # built where it runs: drawing a large model's initial weights on one CPU core takes a while
        model = Transformer(config).eval()
    hf_model = to_hf(model) if "transformers" in wanted else None
    model.to(dtype=dtype)
    if hf_model is not None:
        hf_model.to(device=device, dtype=dtype)
    default_threads = torch.get_num_threads()
    prompt = torch.randint(0, config.vocab_size, (1, config.prefix_len)).to(device)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"LM {args.config}: {parameters / 1e6:.1f}M parameters, {args.tokens} new tokens after a "
          f"{config.prefix_len}-token prompt, best of {args.repeats}, {device_name(device)}, {args.dtype}")
    paths = {"transformers": lambda p, n: hf_generate(hf_model, p, n),
             "arvid eager": lambda p, n: arvid_generate(model, p, n)}
    if "arvid compiled" in wanted or "arvid fused" in wanted:
        compiled = copy.deepcopy(model)
        compiled.compile_decode()
        paths["arvid compiled"] = lambda p, n: arvid_generate(compiled, p, n)
        paths["arvid fused"] = lambda p, n: arvid_generate_fused(compiled, p, n, FUSED_STEPS)
    paths = {name: run for name, run in paths.items() if name in wanted}
    results = {"config": args.config, "overrides": args.set, "device": device_name(device), "dtype": args.dtype,
               "parameters": parameters, "tokens": args.tokens, "prompt_tokens": config.prefix_len, "batches": []}
    print(f"{'batch':>5} {'path':>16} {'threads':>7} {'tokens/s':>9}")
    summary = []
    thread_counts = sorted({1, default_threads}) if device.type == "cpu" else [default_threads]
    for batch in (int(b) for b in args.batches.split(",")):
        prompts = prompt.expand(batch, -1).contiguous()
        best: dict[str, tuple[int, float]] = {}
        errors: dict[str, str] = {}
        for threads in thread_counts:
            torch.set_num_threads(threads)
            for name, generate in paths.items():
                if name in errors:
                    continue
                try:
                    value = best_tokens_per_second(lambda g=generate, p=prompts: g(p, args.tokens), batch * args.tokens,
                                                   args.repeats, device)
                except Exception as err:  # noqa: BLE001 - e.g. compilation failing on this machine: report, go on
                    errors[name] = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
                    print(f"{batch:>5} {name:>16} {threads:>7} failed: {errors[name]}", flush=True)
                    continue
                print(f"{batch:>5} {name:>16} {threads:>7} {value:>9.1f}", flush=True)
                if value > best.get(name, (0, 0))[1]:
                    best[name] = (threads, value)
        row = {"batch": batch, "tokens_per_s": {name: value for name, (_, value) in best.items()}, "errors": errors}
        arvid_names = [name for name in ("arvid eager", "arvid compiled", "arvid fused") if name in best]
        outside = logit_diff = None
        if device.type == "cpu" and "arvid eager" in best:
            # Profiled on the eager path: the compiled one calls its matrix kernels from generated C++,
            # out of the profiler's sight.
            torch.set_num_threads(best["arvid eager"][0])
            outside = share_outside_matrix_work(lambda p=prompts: paths["arvid eager"](p, args.tokens))
        if hf_model is not None and "arvid eager" in paths:
            try:
                with torch.no_grad():
                    # transformers' Llama is causal throughout, so compare under a causal mask.
                    causal_logits = model.lm_head(model.backbone(model.input_embedding()[prompts], CAUSAL))
                    logit_diff = (causal_logits.float() - hf_model(prompts).logits.float()).abs().max().item()
            except Exception as err:  # noqa: BLE001 - the speed figures stand without the check: report it
                errors["logit check"] = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
        fused_agreement = None
        if "arvid fused" in best and "arvid compiled" in best:  # the same greedy tokens, one call a token or a run
            fused_agreement = (paths["arvid fused"](prompts, args.tokens) ==
                               paths["arvid compiled"](prompts, args.tokens)).float().mean().item()
            summary.append(f"batch {batch}: fused greedy tokens equal to the compiled path's: {100 * fused_agreement:.1f}%")
        row.update(outside_matrix_share=outside, max_logit_diff=logit_diff, fused_token_agreement=fused_agreement)
        results["batches"].append(row)
        if arvid_names and "transformers" in best:
            arvid_name = max(arvid_names, key=lambda name: best[name][1])
            line = (f"batch {batch}: {arvid_name} ({best[arvid_name][0]} thread(s)) / transformers "
                    f"({best['transformers'][0]} thread(s)) = {best[arvid_name][1] / best['transformers'][1]:.2f}x")
            if outside is not None:
                line += f"; arvid eager's time outside matrix work {100 * outside:.0f}%"
            if logit_diff is not None:
                line += f"; max |logit difference| on the prompt {logit_diff:.1e}"
            summary.append(line)
    torch.set_num_threads(default_threads)
    print("\n".join(summary))
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
